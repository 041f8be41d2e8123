// PathBind (docs/paths.md): the device's Bind when a node can reach its peers both through the
// relay and by direct UDP. The device always addresses a peer by its relay endpoint
// ("peer:<key>"); PathBind picks the path per packet: the direct UDP endpoint whose last
// authenticated pong is recent enough, else the relay. Datagrams from a peer's known UDP
// endpoint are delivered with that same "peer:<key>" endpoint, so the device's roaming (it
// adopts the endpoint a packet came from) never pins a peer to a UDP address that may die;
// WireGuard sessions never notice a switch, and TCP over them keeps going.
//
// Probes (probe.ts) go to every candidate endpoint of each peer (from the map, and sources a
// verified ping came from) and through the relay, on a schedule with backoff and a bounded
// number of peers per tick; they never reach the device. A peer's open WebRTC data channel
// (channel-bind.ts) is one more candidate, added and removed as the channel opens and closes,
// with a shorter trust window. No Node built-ins here: the page uses it with channels only.

import type { PeerView } from "../control/types.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { PEER_PREFIX } from "../relay/endpoint.ts";
import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import type { Clock, TimerHandle } from "../wireguard/clock.ts";
import { keyToBase64 } from "../wireguard/keys.ts";
import { CHANNEL_PREFIX, channelEndpoint, isChannelEndpoint } from "./channel-bind.ts";
import {
  chooseDirect,
  DEFAULT_TIMINGS,
  nextProbeDelay,
  type PathTimings,
  smoothRtt,
  trusted,
} from "./path-choice.ts";
import { type Candidate, type PeerPath, PeerTable } from "./peer-table.ts";
import { encodeProbe, isProbe, parseProbe, probeKey, verifyProbe } from "./probe.ts";
import { looksLikeStun } from "./stun.ts";

/** Options of a PathBind. */
export interface PathBindOptions {
  /** The relay path: endpoints "peer:<key>" (a SwitchBind around a RelayBind). */
  relay: Bind;
  /** Direct UDP (a UdpBind); absent means relay only. */
  direct?: Bind;
  /** Relay only even with `direct` (the disable setting): no probes, no direct sends. */
  disabled?: boolean;
  /** This node's WireGuard keys: probes carry the public key and are keyed by the private one. */
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  x25519: X25519Provider;
  clock: Clock;
  randomBytes: (n: number) => Uint8Array;
  timings?: Partial<PathTimings>;
  /** Peers probed per tick at most (bounded work). Default 32. */
  peersPerTick?: number;
  /** Tick interval (ms). Default 250. */
  tickMs?: number;
  /**
   * A datagram for the peer "peer:<key>" went through the relay (the page starts a WebRTC
   * attempt for peers it talks to; the datagram tells who started talking). Called per packet:
   * keep it cheap.
   */
  onRelaySend?: (peerId: string, packet: Uint8Array) => void;
}

/** Counters of a PathBind; they only grow. */
export interface PathBindStats {
  directSent: number;
  relaySent: number;
  pingsSent: number;
  pongsSent: number;
  pongsReceived: number;
  /** Probes dropped: malformed, unknown sender, bad MAC, stale or unknown transaction. */
  probesDropped: number;
  /** Direct datagrams from a source that is no peer's endpoint (dropped). */
  unknownSource: number;
  /** Changes of a peer's path or direct endpoint. */
  switches: number;
  /** Packets also sent through the relay while their data channel was in doubt. */
  doubtCopies: number;
}

/** The path in use to one peer. */
export interface PathState {
  path: "direct" | "relay";
  /** The direct endpoint ("ip:port") when direct. */
  endpoint: string | null;
  /** Round trip on the path in use (ms), null before an answer on it. */
  rttMs: number | null;
  /** Some probe (relay or direct) was answered. */
  answered: boolean;
}

interface Pending {
  peer: PeerPath;
  /** The candidate pinged, or undefined for the relay. */
  candidate: Candidate | undefined;
  sentAt: number;
}

const MAX_PENDING = 4096;
// Pongs one peer can draw per second: enough for its probe rounds, too few to make us a
// reflector for pings replayed from spoofed sources.
const PONGS_PER_SECOND = 32;

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** A Bind over the relay and direct UDP, choosing the path per peer by probes. */
export class PathBind implements Bind {
  readonly stats: PathBindStats = {
    directSent: 0,
    relaySent: 0,
    pingsSent: 0,
    pongsSent: 0,
    pongsReceived: 0,
    probesDropped: 0,
    unknownSource: 0,
    switches: 0,
    doubtCopies: 0,
  };
  private readonly timings: PathTimings;
  private readonly table: PeerTable;
  private readonly pending = new Map<string, Pending>();
  private onReceive: ReceiveFn | undefined;
  private timer: TimerHandle | undefined;
  private closed = false;
  private disabled: boolean;

  constructor(private readonly options: PathBindOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.disabled = options.disabled === true || options.direct === undefined;
    const direct = options.direct;
    this.table = new PeerTable(
      direct === undefined
        ? undefined
        : (text) => {
            // A map never names a data channel: those come from channelOpened alone.
            if (text.startsWith(CHANNEL_PREFIX)) throw new TypeError("not a UDP endpoint");
            return direct.parseEndpoint(text);
          },
    );
  }

  /** Whether direct paths are in use (false: relay only). */
  get directEnabled(): boolean {
    return !this.disabled;
  }

  async open(onReceive: ReceiveFn): Promise<void> {
    this.onReceive = onReceive;
    await this.options.relay.open(this.fromRelay);
    if (this.options.direct !== undefined) await this.options.direct.open(this.fromDirect);
    this.schedule();
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    const direct = this.options.direct;
    if (!this.disabled && direct !== undefined && to.key.startsWith(PEER_PREFIX)) {
      const best = this.table.get(to.key)?.best;
      // The clock is read only for a peer with a direct endpoint (this runs per packet).
      const now = best === undefined ? 0 : this.options.clock.now();
      if (best !== undefined && trusted(best, now, this.timings)) {
        if (direct.send(packet, best.endpoint)) {
          this.stats.directSent++;
          if (best.channel === true && now - best.lastPong > this.timings.channelDoubtMs) {
            // A pong is overdue: the relay carries a copy until the channel answers again.
            this.stats.doubtCopies++;
            this.options.relay.send(packet, to);
          }
          return true;
        }
      }
    }
    this.stats.relaySent++;
    this.options.onRelaySend?.(to.key, packet);
    return this.options.relay.send(packet, to);
  }

  /** The relay's syntax; a "peer:<key>" endpoint is the one object delivered for that peer. */
  parseEndpoint(text: string): Endpoint {
    const parsed = this.options.relay.parseEndpoint(text);
    if (!parsed.key.startsWith(PEER_PREFIX)) return parsed;
    return this.table.relayEndpointOf(parsed.key);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.onReceive = undefined;
    await Promise.all([this.options.relay.close(), this.options.direct?.close()]);
  }

  /**
   * The peers of the latest map and their reported UDP endpoints. New peers and peers whose
   * endpoints changed are probed at once; peers gone are forgotten.
   */
  setPeers(views: readonly PeerView[]): void {
    const now = this.options.clock.now();
    this.table.sync(views, keyToBase64(this.options.publicKey), now, (id, peer) => {
      probeKey(this.options.x25519, this.options.privateKey, peer.publicKey).then(
        (key) => {
          peer.macKey = key;
          // Probe as soon as the key exists rather than at the next scheduled round.
          peer.nextProbeAt = Math.min(peer.nextProbeAt, this.options.clock.now());
        },
        () => this.table.remove(id), // a low-order key: nobody can probe with it
      );
    });
  }

  /**
   * The data channel to the peer with base64 key `key` opened (attached to the direct Bind as
   * channelEndpoint(key)): it becomes a candidate, probed at once. False when the peer is not in
   * the map or has no room.
   */
  channelOpened(key: string): boolean {
    const peer = this.table.get(PEER_PREFIX + key);
    if (peer === undefined || this.disabled) return false;
    if (this.table.addChannel(peer, channelEndpoint(key)) === undefined) return false;
    peer.nextProbeAt = this.options.clock.now();
    peer.unanswered = 0;
    return true;
  }

  /** The data channel to `key` closed: packets take another path from now on. */
  channelClosed(key: string): void {
    const peer = this.table.get(PEER_PREFIX + key);
    if (peer === undefined) return;
    const wasBest = peer.best?.key === CHANNEL_PREFIX + key;
    if (this.table.removeCandidate(peer, CHANNEL_PREFIX + key) && wasBest) {
      this.stats.switches++;
      peer.nextProbeAt = this.options.clock.now();
    }
  }

  /** The path in use to the peer with base64 key `key`, or undefined for no such peer. */
  pathOf(key: string): PathState | undefined {
    const peer = this.table.get(PEER_PREFIX + key);
    if (peer === undefined) return undefined;
    const best = peer.best;
    const now = this.options.clock.now();
    const answered =
      peer.relayRtt !== null || [...peer.candidates.values()].some((c) => c.rttMs !== null);
    if (!this.disabled && best !== undefined && trusted(best, now, this.timings)) {
      return { path: "direct", endpoint: best.endpoint.key, rttMs: best.rttMs, answered };
    }
    return { path: "relay", endpoint: null, rttMs: peer.relayRtt, answered };
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.options.clock.setTimer(this.options.tickMs ?? 250, () => {
      this.tick();
      this.schedule();
    });
  }

  /** One round of due probes (bounded), expiry of unanswered ones, and path re-evaluation. */
  private tick(): void {
    const now = this.options.clock.now();
    for (const [id, p] of this.pending) {
      if (now - p.sentAt > this.timings.trustMs) this.pending.delete(id);
    }
    let budget = this.options.peersPerTick ?? 32;
    for (const peer of this.table.values()) {
      this.reconsider(peer, now);
      if (budget === 0 || peer.macKey === undefined || peer.nextProbeAt > now) continue;
      budget--;
      this.probeRound(peer, now);
    }
  }

  private probeRound(peer: PeerPath, now: number): void {
    this.ping(peer, undefined, now);
    if (!this.disabled) {
      for (const c of peer.candidates.values()) this.ping(peer, c, now);
      // Rounds without a working direct endpoint back the schedule off (a peer behind a NAT
      // we cannot cross should not cost a probe every 2 s forever).
      peer.unanswered = peer.best === undefined ? peer.unanswered + 1 : 0;
    }
    const best = peer.best;
    peer.nextProbeAt =
      now +
      nextProbeDelay(best !== undefined, peer.unanswered, this.timings, best?.channel === true);
  }

  private ping(peer: PeerPath, candidate: Candidate | undefined, now: number): void {
    const macKey = peer.macKey;
    if (macKey === undefined || this.pending.size >= MAX_PENDING) return;
    const transactionId = this.options.randomBytes(12);
    const ping = encodeProbe(
      { kind: "ping", sender: this.options.publicKey, transactionId, observed: null },
      macKey,
    );
    const sent =
      candidate === undefined
        ? this.options.relay.send(ping, peer.relayEndpoint)
        : (this.options.direct?.send(ping, candidate.endpoint) ?? false);
    if (!sent) return;
    this.stats.pingsSent++;
    this.pending.set(hex(transactionId), { peer, candidate, sentAt: now });
  }

  /** Re-chooses the direct endpoint; counts a switch when it changes. */
  private reconsider(peer: PeerPath, now: number): void {
    if (this.disabled) return;
    const before = peer.best;
    const next = chooseDirect(peer.candidates.values(), before, now, this.timings);
    if (next !== before) this.stats.switches++;
    // Lost the direct path: probe again now rather than at the next 5 s round, so a single
    // late pong costs a moment on the relay, not seconds.
    if (next === undefined && before !== undefined) peer.nextProbeAt = now;
    peer.best = next;
  }

  private readonly fromRelay = (packet: Uint8Array, from: Endpoint): void => {
    if (isProbe(packet)) {
      this.onProbe(packet, from, true);
      return;
    }
    const own = from.key.startsWith(PEER_PREFIX)
      ? this.table.get(from.key)?.relayEndpoint
      : undefined;
    this.onReceive?.(packet, own ?? from);
  };

  private readonly fromDirect = (packet: Uint8Array, from: Endpoint): void => {
    if (isProbe(packet)) {
      if (!this.disabled) this.onProbe(packet, from, false);
      return;
    }
    const peer = this.disabled ? undefined : this.table.byUdp(from.key);
    if (peer === undefined || looksLikeStun(packet)) {
      this.stats.unknownSource++;
      return;
    }
    this.onReceive?.(packet, peer.relayEndpoint);
  };

  private onProbe(packet: Uint8Array, from: Endpoint, viaRelay: boolean): void {
    const parsed = parseProbe(packet);
    if (!parsed.ok) {
      this.dropProbe();
      return;
    }
    const probe = parsed.probe;
    const id = PEER_PREFIX + keyToBase64(probe.sender);
    const peer = this.table.get(id);
    // Through the relay, the source key is authenticated by the relay and must be the sender;
    // a data channel is its peer's own (a probe from another peer on it proves nothing).
    const channelOf = isChannelEndpoint(from)
      ? PEER_PREFIX + from.key.slice(CHANNEL_PREFIX.length)
      : id;
    if (
      peer === undefined ||
      peer.macKey === undefined ||
      (viaRelay && from.key !== id) ||
      channelOf !== id
    ) {
      this.dropProbe();
      return;
    }
    if (!verifyProbe(packet, peer.macKey)) {
      this.dropProbe();
      return;
    }
    const now = this.options.clock.now();
    if (probe.kind === "ping") {
      this.answer(peer, probe.transactionId, from, viaRelay, now);
      return;
    }
    const key = hex(probe.transactionId);
    const pending = this.pending.get(key);
    if (pending === undefined || pending.peer !== peer) {
      this.dropProbe();
      return;
    }
    if (viaRelay !== (pending.candidate === undefined)) {
      this.dropProbe();
      return;
    }
    if (pending.candidate !== undefined && pending.candidate.endpoint.key !== from.key) {
      this.dropProbe();
      return;
    }
    this.pending.delete(key);
    this.stats.pongsReceived++;
    const rtt = Math.max(0, now - pending.sentAt);
    if (pending.candidate === undefined) {
      peer.relayRtt = smoothRtt(peer.relayRtt, rtt);
      return;
    }
    pending.candidate.lastPong = now;
    this.table.confirm(peer, pending.candidate);
    pending.candidate.rttMs = smoothRtt(pending.candidate.rttMs, rtt);
    peer.unanswered = 0;
    this.reconsider(peer, now);
    // The round was scheduled before this answer, at the no-direct interval: a channel just
    // taken (trusted only 2.2 s) must be probed again within its own, shorter interval.
    const best = peer.best;
    if (best !== undefined) {
      const due = now + nextProbeDelay(true, 0, this.timings, best.channel === true);
      peer.nextProbeAt = Math.min(peer.nextProbeAt, due);
    }
  }

  private answer(
    peer: PeerPath,
    transactionId: Uint8Array,
    from: Endpoint,
    viaRelay: boolean,
    now: number,
  ): void {
    if (now - peer.pongWindowStart >= 1000) {
      peer.pongWindowStart = now;
      peer.pongsInWindow = 0;
    }
    if (peer.pongsInWindow >= PONGS_PER_SECOND || peer.macKey === undefined) return;
    const channel = isChannelEndpoint(from);
    // A channel this side did not take as a path (no room) answers nothing: the peer would
    // trust it and send data that this side drops as from an unknown source.
    if (channel && !peer.candidates.has(from.key)) return;
    peer.pongsInWindow++;
    const observed = viaRelay || channel ? null : { address: from.host, port: from.port };
    const pong = encodeProbe(
      { kind: "pong", sender: this.options.publicKey, transactionId, observed },
      peer.macKey,
    );
    const sent = viaRelay
      ? this.options.relay.send(pong, from)
      : (this.options.direct?.send(pong, from) ?? false);
    if (sent) this.stats.pongsSent++;
    if (viaRelay) return;
    // A verified ping from a UDP source is the peer's own proof that the source reaches it
    // (its NAT's mapping may differ from what it reported): learn it, and ping it back now so
    // both NATs open (hole punching) instead of waiting for the next round.
    const candidate = channel
      ? peer.candidates.get(from.key)
      : (peer.candidates.get(from.key) ?? this.table.addCandidate(peer, from, false));
    if (candidate === undefined) return;
    this.table.confirm(peer, candidate);
    if (!trusted(candidate, now, this.timings)) this.ping(peer, candidate, now);
  }

  private dropProbe(): void {
    this.stats.probesDropped++;
  }
}
