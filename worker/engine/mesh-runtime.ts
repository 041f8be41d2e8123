// This browser's node on the mesh, as the engine runs it (docs/page.md, "The mesh in the
// engine"): one ephemeral node per engine, with a key made here at every start (never stored,
// never returned), registered by the signed-in session cookie its map stream's WebSocket
// carries. The runtime keeps the node's phase (starting, ready, reconnecting, refused, ...),
// pushes the status and hosts to the page's listeners at every change (at most PUSH_GAP_MS
// apart, never polled by the page), resolves mesh names, and closes the node's sessions when
// the node goes. While a page watches, it measures the round trip to each online peer every
// RTT_PROBE_MS (an ICMP echo through the tunnel) so the hosts list shows RTT without a Ping.

import type { MeshHost, MeshListener, MeshStatus } from "../api.ts";
import type { ControlClientState, ControlRefusal } from "../control/client.ts";
import type { ControlConnect } from "../control/socket.ts";
import type { PeerView } from "../control/types.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { MeshCore } from "../mesh/mesh-core.ts";
import type { NetInterface } from "../net/interface.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { formatIp, parseIp } from "../wireguard/ip-address.ts";
import { generatePrivateKey } from "../wireguard/keys.ts";
import {
  type MeshPhase,
  meshHostsOf,
  meshSignature,
  meshStatusOf,
  roundTrip,
} from "./mesh-view.ts";
import type { PageRtcFactory } from "./rtc-port.ts";

/** Pushes to the page are at least this far apart (at most ~4 per second). */
export const PUSH_GAP_MS = 250;
/** How often, while someone watches, the device's paths and handshakes are looked at. */
export const STATS_CHECK_MS = 1000;
/**
 * Pushes a listener may leave unanswered before it is dropped: the listener of a page that went
 * away (a closed tab of a SharedWorker) never answers, and each call would wait forever.
 */
export const MAX_UNANSWERED = 32;
/** How often, while someone watches, the round trip to each online peer is measured. */
export const RTT_PROBE_MS = 10_000;
/** At most this many peers are pinged per round (the first by name; the rest wait). */
export const RTT_PROBE_MAX = 32;
/** A probe's ping gives up after this long (the peer then shows no round trip). */
export const RTT_PROBE_TIMEOUT_MS = 3000;
/** WebRTC data channels one node keeps at most (each page hosts 8: rtc-port.ts). */
export const MAX_DIRECT_CHANNELS = 32;

/** What the mesh needs from the platform. */
export interface MeshDeps {
  loadCore: () => Promise<CryptoCore>;
  x25519: X25519Provider;
  /** The map stream ("wss://host/control"). */
  controlUrl: string;
  controlConnect: ControlConnect;
  relayConnect: RelayConnect;
  /** The host name the node reports ("browser", "chrome-linux"). */
  hostname: string;
  /** Map stream reconnect backoff (tests shorten it). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** MAX_UNANSWERED unless given (tests shorten it). */
  maxUnanswered?: number;
  /**
   * The node's private key when it was registered beforehand (a share's node: the accept call
   * registered its public half). Absent: a new key at every start, registered by the session.
   */
  privateKey?: Uint8Array;
  /** The engine's WebRTC, run by its pages, and the direct-paths setting; absent: relay only. */
  rtc?: PageRtcFactory;
}

/** A session on the mesh, closed when the node goes. */
interface Closable {
  close(): Promise<void>;
}

/** The sentence for a refusal, by its code. */
function refusalDetail(refusal: ControlRefusal): string {
  if (refusal.code === "unauthenticated") {
    return "sign in first: the control server has no signed-in session for this page";
  }
  if (refusal.code === "node_removed") return "this browser's node was removed from the mesh";
  if (refusal.code === "share_revoked") return "access was revoked: the owner ended this share";
  if (refusal.code === "share_expired") return "access ended: this share expired";
  return `the control server refused this browser's node: ${refusal.message}`;
}

/** The control server's web origin ("https://host") from its map stream URL. */
export function controlOrigin(controlUrl: string): string {
  const url = new URL(controlUrl);
  return `${url.protocol === "wss:" ? "https:" : "http:"}//${url.host}`;
}

/** The mesh node of one engine. */
export class MeshRuntime {
  private node: MeshCore | undefined;
  private phase: MeshPhase = { state: "stopped" };
  private starting: Promise<MeshStatus> | undefined;
  /** Counts stop() calls: a start that sees it change gives up (stopped while joining). */
  private stops = 0;
  private readonly listeners = new Map<string, { listener: MeshListener; unanswered: number }>();
  private readonly sessions = new Map<string, Closable>();
  /** Last ping round trip per peer key (a person's Ping, or the probe every RTT_PROBE_MS). */
  private readonly rtts = new Map<string, number>();
  private lastProbe = 0;
  private probing = false;
  private lastSignature = "";
  private lastPush = 0;
  private pushTimer: ReturnType<typeof setTimeout> | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  /** Stops following the direct-paths setting (the node's). */
  private untoggle: (() => void) | undefined;

  constructor(private readonly deps: MeshDeps) {}

  /** Joins (one node per engine): resolves at the first map, or with the refusal or error. */
  start(): Promise<MeshStatus> {
    const state = this.phase.state;
    if (this.starting !== undefined) return this.starting;
    if (state === "ready" || state === "reconnecting") return Promise.resolve(this.status());
    this.starting = this.join().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async join(): Promise<MeshStatus> {
    this.rtts.clear();
    this.setPhase({ state: "starting", detail: "joining the mesh" });
    const stops = this.stops;
    let node: MeshCore;
    try {
      const core = await this.deps.loadCore();
      if (this.stops !== stops) return { state: "stopped" };
      const rtc = this.deps.rtc;
      node = new MeshCore({
        privateKey: this.deps.privateKey ?? generatePrivateKey(),
        core,
        x25519: this.deps.x25519,
        controlUrl: this.deps.controlUrl,
        controlConnect: this.deps.controlConnect,
        relayConnect: this.deps.relayConnect,
        hostinfo: { hostname: this.deps.hostname, os: "browser" },
        ephemeral: true,
        backoffBaseMs: this.deps.backoffBaseMs,
        backoffMaxMs: this.deps.backoffMaxMs,
        onChange: () => this.changed(),
        onControlState: (s) => this.onControlState(node, s),
        onRefused: (refusal) => this.onRefused(node, refusal),
        direct:
          rtc === undefined
            ? undefined
            : {
                factory: rtc,
                capacity: () => rtc.capacity,
                maxChannels: MAX_DIRECT_CHANNELS,
                enabled: rtc.enabled,
              },
      });
      this.untoggle?.();
      this.untoggle = rtc?.onToggle((enabled) => {
        node.direct?.setEnabled(enabled);
        this.changed();
      });
    } catch (error) {
      this.setPhase({ state: "error", detail: (error as Error).message });
      return this.status();
    }
    this.node = node;
    try {
      await node.start();
    } catch (error) {
      if (this.node !== node) return { state: "stopped" };
      this.node = undefined;
      this.untoggle?.();
      this.untoggle = undefined;
      await node.close(false).catch(() => false);
      // A refusal has set its own phase; anything else is an error.
      if (this.phase.state !== "refused") {
        this.setPhase({ state: "error", detail: (error as Error).message });
      }
      return this.status();
    }
    if (this.node === node) this.setPhase({ state: "ready" });
    return this.status();
  }

  private onControlState(node: MeshCore, state: ControlClientState): void {
    if (this.node !== node) return;
    if (state === "waiting") {
      // A page never waits for a person's approval: without a session it is not signed in.
      this.onRefused(node, { code: "unauthenticated", message: "not signed in", closeCode: 0 });
      node.control.close();
      return;
    }
    if (this.phase.state === "ready" && (state === "backoff" || state === "connecting")) {
      this.setPhase({ state: "reconnecting", detail: "the map stream dropped: reconnecting" });
    } else if (this.phase.state === "reconnecting" && state === "ready") {
      this.setPhase({ state: "ready" });
    }
  }

  private onRefused(node: MeshCore, refusal: ControlRefusal): void {
    if (this.node !== node) return;
    this.setPhase({ state: "refused", code: refusal.code, detail: refusalDetail(refusal) });
    // Started already: the node is gone for the server; take it down here too.
    if (node.net !== undefined) void this.takeDown(node, false);
  }

  /** The node's status now. */
  status(): MeshStatus {
    return meshStatusOf(this.phase, this.node, this.deps.rtc);
  }

  /** The node's peers with their live state. */
  hosts(): MeshHost[] {
    return meshHostsOf(this.node, this.rtts);
  }

  /** Adds a listener, told now and at every change. */
  watch(listener: MeshListener): string {
    const id = crypto.randomUUID();
    this.listeners.set(id, { listener, unanswered: 0 });
    this.tell(id, this.status(), this.hosts());
    this.statsTimer ??= setInterval(() => this.tick(), STATS_CHECK_MS);
    return id;
  }

  /** Whether the listener `id` is still told (a dropped one's page should watch again). */
  watching(id: string): boolean {
    return this.listeners.has(id);
  }

  unwatch(id: string): void {
    this.listeners.delete(id);
    if (this.listeners.size === 0) this.stopTimers();
  }

  /**
   * Leaves the mesh: logs the node out (the server removes it at once), closes its sessions
   * and the device. Listeners stay (they see "stopped").
   */
  async stop(): Promise<void> {
    const node = this.node;
    this.stops++;
    if (this.starting !== undefined) {
      // Still joining: the start gives up once its node is closed (or before it makes one).
      this.node = undefined;
      await node?.close(true).catch(() => false);
      await this.starting.catch(() => undefined);
    } else if (node !== undefined) {
      await this.takeDown(node, true);
    }
    this.setPhase({ state: "stopped" });
  }

  /** The peer `host` names (a mesh name, NAME.<domain>, or one of its addresses). */
  peer(host: string): PeerView {
    const map = this.node?.map;
    if (map === undefined || !map.ready) throw new Error(this.notJoined());
    const wanted = host.trim();
    let canonical: string | undefined;
    try {
      canonical = formatIp(parseIp(wanted, "host"));
    } catch {
      canonical = undefined;
    }
    if (canonical !== undefined) {
      for (const peer of map.peers.values()) {
        if (peer.addresses.some((a) => formatIp(parseIp(a, "peer address")) === canonical))
          return peer;
      }
    } else {
      const peer = map.nodeByName(wanted);
      if (peer !== undefined && peer.id !== map.self.id) return peer;
    }
    throw new Error(
      `no mesh host ${JSON.stringify(host)}: it is not in this browser's map (unknown, or the policy does not let this browser reach it)`,
    );
  }

  /** The node's IP interface; throws a sentence when the node is not on the mesh. */
  net(): NetInterface {
    const net = this.node?.net;
    if (net === undefined || this.phase.state === "refused") throw new Error(this.notJoined());
    return net;
  }

  /** Pings a mesh host by name or address; the round trip (ms) or null without an answer. */
  async ping(host: string, timeoutMs: number): Promise<number | null> {
    const peer = this.peer(host);
    const address = peer.addresses[0];
    if (address === undefined) return null;
    let rtt: number | null;
    try {
      rtt = await this.net().ping(address, { timeoutMs });
    } catch {
      rtt = null;
    }
    if (rtt === null) this.rtts.delete(peer.key);
    else this.rtts.set(peer.key, roundTrip(rtt));
    this.changed();
    return rtt;
  }

  /** The control server's fresh sign-in page, for `check` rules. */
  checkUrl(): string {
    return `${controlOrigin(this.deps.controlUrl)}/login/check`;
  }

  /** Tracks a session on the mesh so leaving closes it. */
  adopt(id: string, session: Closable & { ended: Promise<void> }): void {
    this.sessions.set(id, session);
    void session.ended.finally(() => this.sessions.delete(id));
  }

  private notJoined(): string {
    const { state, detail } = this.phase;
    if (state === "refused" || state === "error") return `not on the mesh: ${detail ?? state}`;
    if (state === "starting") return "not on the mesh yet: still joining";
    return "not on the mesh: sign in to join it";
  }

  private async takeDown(node: MeshCore, logout: boolean): Promise<void> {
    if (this.node === node) {
      this.node = undefined;
      this.untoggle?.();
      this.untoggle = undefined;
    }
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    await node.close(logout).catch(() => false);
    this.changed();
  }

  /** Every STATS_CHECK_MS while someone watches: counters, and the round trips when due. */
  private tick(): void {
    this.changed();
    if (this.probing || Date.now() - this.lastProbe < RTT_PROBE_MS) return;
    const node = this.node;
    if (node?.net === undefined || this.phase.state !== "ready") return;
    this.lastProbe = Date.now();
    this.probing = true;
    void this.probe(node).finally(() => {
      this.probing = false;
    });
  }

  /**
   * One round: an ICMP echo through the tunnel to each online peer (up to RTT_PROBE_MAX, at
   * once); a peer without an answer, or offline, shows no round trip.
   */
  private async probe(node: MeshCore): Promise<void> {
    const net = node.net;
    if (net === undefined) return;
    const online = new Set<string>();
    const targets: { key: string; address: string }[] = [];
    for (const peer of [...node.map.peers.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      if (!peer.online) continue;
      online.add(peer.key);
      const address = peer.addresses[0];
      if (address !== undefined && targets.length < RTT_PROBE_MAX) {
        targets.push({ key: peer.key, address });
      }
    }
    for (const key of [...this.rtts.keys()]) if (!online.has(key)) this.rtts.delete(key);
    await Promise.all(
      targets.map(async ({ key, address }) => {
        const rtt = await net.ping(address, { timeoutMs: RTT_PROBE_TIMEOUT_MS }).catch(() => null);
        if (this.node !== node) return;
        if (rtt === null) this.rtts.delete(key);
        else this.rtts.set(key, roundTrip(rtt));
      }),
    );
    if (this.node === node) this.changed();
  }

  private setPhase(phase: MeshPhase): void {
    this.phase = phase;
    this.changed();
  }

  /** Something may have changed: push, at most once per PUSH_GAP_MS, if anything did. */
  private changed(): void {
    if (this.listeners.size === 0 || this.pushTimer !== undefined) return;
    const wait = this.lastPush + PUSH_GAP_MS - Date.now();
    if (wait > 0) {
      this.pushTimer = setTimeout(() => {
        this.pushTimer = undefined;
        this.push();
      }, wait);
      return;
    }
    this.push();
  }

  private push(): void {
    const status = this.status();
    const hosts = this.hosts();
    const signature = meshSignature(status, hosts);
    if (signature === this.lastSignature) return;
    this.lastSignature = signature;
    this.lastPush = Date.now();
    for (const id of [...this.listeners.keys()]) this.tell(id, status, hosts);
  }

  private tell(id: string, status: MeshStatus, hosts: MeshHost[]): void {
    const entry = this.listeners.get(id);
    if (entry === undefined) return;
    if (entry.unanswered >= (this.deps.maxUnanswered ?? MAX_UNANSWERED)) {
      this.unwatch(id);
      return;
    }
    // A listener of a closed page may fail or never answer: neither holds the others up.
    entry.unanswered++;
    const answered = () => {
      entry.unanswered--;
    };
    try {
      void Promise.resolve(entry.listener.onMesh(status, hosts)).then(answered, answered);
    } catch {
      answered();
    }
  }

  private stopTimers(): void {
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    if (this.pushTimer !== undefined) clearTimeout(this.pushTimer);
    this.statsTimer = undefined;
    this.pushTimer = undefined;
    this.lastSignature = "";
    // Nobody watches: no round trips are measured; the next watcher gets a round at once.
    this.lastProbe = 0;
  }
}
