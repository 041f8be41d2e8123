// Several relays as one WireGuard Bind (issue 18, DESIGN §3: "a sender connects to the
// receiver's home relay"). The node is always connected to its home relay, where its peers
// send to it; a datagram to a peer goes to that peer's home relay, over a connection opened on
// the first send and closed after `idleMs` without one; a peer with no known home, and stock
// WireGuard hosts ("ip:port", the relay's UDP bridge), go through the home. Every connection
// delivers what it receives. The home is chosen by home-choice.ts from probes of every listed
// relay (one probe in flight per relay, each bounded by a timeout), and moves when another
// relay is clearly faster (the new connection opens first, then the home switches), when the
// home has not been connected for `failoverMs`, when the relay refuses the node for good, or
// when the map drops it. Relays do not forward to one another, so there is nothing else to do.

import type { PeerView, RelayInfo } from "../control/types.ts";
import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import { type Clock, systemClock, type TimerHandle } from "../wireguard/clock.ts";
import { keyFromBase64 } from "../wireguard/keys.ts";
import { RelayBind } from "./client.ts";
import type { RelayBindOptions } from "./client-options.ts";
import { EndpointCache, PEER_PREFIX } from "./endpoint.ts";
import { chooseHome, firstHome, type HomeReason } from "./home-choice.ts";
import { pingFresh, pingOver, withTimeout } from "./relay-set-probe.ts";
import type { RelayConnect } from "./socket.ts";

/** What a RelaySet is made of. */
export interface RelaySetOptions {
  /** The node's X25519 private key (proved to every relay, never sent). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  connect: RelayConnect;
  clock?: Clock;
  /** Reconnect backoff of each connection (RelayBind's defaults when absent). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A connection other than the home's closes after this long without a send (60 s). */
  idleMs?: number;
  /**
   * Measures a relay's round trip in ms (the agent's STUN probe). Undefined, or no probe,
   * lets the set measure it itself: a PING over its connection there, else over a short-lived
   * one (hello with the token, PING, close).
   */
  probe?: (relay: RelayInfo) => Promise<number | undefined>;
  /** How long one probe may take (default 5 s); a relay that never answers costs this. */
  probeTimeoutMs?: number;
  /** Every relay is probed again after this long, jittered by ±25% (default 60 s). */
  probeIntervalMs?: number;
  /** The home not connected for this long: the next best relay becomes home (default 3 s). */
  failoverMs?: number;
  /**
   * The home changed (latency, failover, the map dropped it). Not called for the first
   * choice: read `home` after open() for that one.
   */
  onHome?: (relay: RelayInfo, reason: HomeReason) => void;
}

/** One open relay connection. */
interface Connection {
  relay: RelayInfo;
  bind: RelayBind;
  /** Settles at the first WELCOME (rejects when refused for good or closed first). */
  opened: Promise<void>;
  lastSend: number;
}

/** The relay connections of one node as a single Bind. */
export class RelaySet implements Bind {
  private readonly clock: Clock;
  private readonly endpoints = new EndpointCache();
  private readonly conns = new Map<string, Connection>();
  private relays: readonly RelayInfo[] = [];
  private token = "";
  /** "peer:<key>" -> the peer's home relay id. */
  private peerHome = new Map<string, string>();
  private homeId: string | undefined;
  private pendingHome: string | undefined;
  private provisional = false;
  private readonly rtt = new Map<string, number | null>();
  private readonly down = new Set<string>();
  /** Relays that refused this node for good (cleared by a new token). */
  private readonly refused = new Map<string, Error>();
  private readonly probing = new Set<string>();
  /** Short-lived probe connections in flight (closed with the set). */
  private readonly probeBinds = new Set<RelayBind>();
  private readonly nextProbe = new Map<string, number>();
  private onReceive: ReceiveFn | undefined;
  private state: "new" | "open" | "closed" = "new";
  private notReadySince: number | undefined;
  private tick: TimerHandle | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly options: RelaySetOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * From each map: the listed relays, the token (valid on every relay of the mesh), the peers
   * (their homeRelay), and the home the control server last heard (map.self.homeRelay), which
   * is the first choice when the map lists it.
   */
  update(
    relays: readonly RelayInfo[],
    token: string,
    peers: readonly PeerView[],
    reportedHome?: string,
  ): void {
    if (this.state === "closed") return;
    const listed = new Map(relays.map((relay) => [relay.id, relay]));
    this.relays = relays;
    if (token !== this.token) {
      this.token = token;
      this.refused.clear();
      for (const conn of this.conns.values()) conn.bind.setToken(token);
    }
    for (const [id, conn] of this.conns) {
      const now = listed.get(id);
      if (now === undefined || !sameRelay(now, conn.relay)) this.drop(id);
    }
    for (const map of [this.rtt, this.nextProbe] as Map<string, unknown>[]) {
      for (const id of map.keys()) if (!listed.has(id)) map.delete(id);
    }
    for (const id of [...this.down, ...this.refused.keys()]) {
      if (!listed.has(id)) {
        this.down.delete(id);
        this.refused.delete(id);
      }
    }
    const homes = new Map<string, string>();
    for (const peer of peers) {
      if (peer.homeRelay !== "" && listed.has(peer.homeRelay)) {
        homes.set(PEER_PREFIX + peer.key, peer.homeRelay);
      }
    }
    this.peerHome = homes;
    if (this.homeId === undefined) {
      const first = firstHome(this.rankInput(), reportedHome);
      this.homeId = first?.id;
      this.provisional = first !== undefined && first.id !== reportedHome;
      if (this.state === "open") this.homeConnection();
    } else {
      this.decide();
    }
    if (this.state === "open") {
      this.homeConnection(); // a home whose URL or key changed connects again
      this.runDue();
    }
  }

  /** The home relay (the first choice from the first update on). */
  get home(): RelayInfo | undefined {
    return this.relayOf(this.homeId);
  }

  /** The home connection (its state and counters), once open. */
  get homeBind(): RelayBind | undefined {
    return this.homeId === undefined ? undefined : this.conns.get(this.homeId)?.bind;
  }

  /** Relay id -> open connection (the home's and those to peers' homes). */
  get connections(): ReadonlyMap<string, RelayBind> {
    return new Map([...this.conns].map(([id, conn]) => [id, conn.bind]));
  }

  /** The last round trip measured per relay (null: the probe found it unreachable). */
  get roundTrips(): ReadonlyMap<string, number | null> {
    return this.rtt;
  }

  /**
   * Connects to the home relay and starts probing; resolves once a home is connected.
   * update() must have listed a relay. Rejects when every listed relay refuses this node.
   */
  open(onReceive: ReceiveFn): Promise<void> {
    if (this.state !== "new")
      return Promise.reject(new Error(`RelaySet: open() while ${this.state}`));
    if (this.homeId === undefined) return Promise.reject(new Error("RelaySet: no relay listed"));
    this.onReceive = onReceive;
    this.state = "open";
    const ready = this.whenReady();
    this.homeConnection();
    this.runDue();
    this.scheduleTick();
    return ready;
  }

  /** Resolves once the home (whichever it is by then) is connected. */
  whenReady(): Promise<void> {
    if (this.homeBind?.state === "ready") return Promise.resolve();
    if (this.state === "closed") return Promise.reject(new Error("RelaySet: closed"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    if (this.state !== "open") return false;
    const id = to.key.startsWith(PEER_PREFIX) ? this.peerHome.get(to.key) : undefined;
    if (id !== undefined && id !== this.homeId && !this.refused.has(id)) {
      const conn = this.connection(id);
      if (conn !== undefined) {
        conn.lastSend = this.clock.now();
        return conn.bind.send(packet, to);
      }
    }
    const home = this.homeId === undefined ? undefined : this.connection(this.homeId);
    return home?.bind.send(packet, to) ?? false;
  }

  parseEndpoint(text: string): Endpoint {
    return this.endpoints.parse(text);
  }

  /** Closes every connection, probes' included (their answers are ignored from now on). */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    this.tick?.cancel();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("RelaySet: closed"));
    const binds = [...this.conns.values()].map((conn) => conn.bind);
    binds.push(...this.probeBinds);
    this.conns.clear();
    this.probeBinds.clear();
    await Promise.all(binds.map((bind) => bind.close()));
  }

  private relayOf(id: string | undefined): RelayInfo | undefined {
    return id === undefined ? undefined : this.relays.find((relay) => relay.id === id);
  }

  private rankInput() {
    const down = new Set([...this.down, ...this.refused.keys()]);
    return { listed: this.relays.map((relay) => relay.id), rtt: this.rtt, down };
  }

  private homeConnection(): Connection | undefined {
    return this.homeId === undefined ? undefined : this.connection(this.homeId);
  }

  /** The connection to relay `id`, opened now if there is none (only while open). */
  private connection(id: string): Connection | undefined {
    const known = this.conns.get(id);
    if (known !== undefined || this.state !== "open") return known;
    const relay = this.relayOf(id);
    if (relay === undefined) return undefined;
    const bind = new RelayBind(this.bindOptions(relay));
    const conn: Connection = { relay, bind, opened: Promise.resolve(), lastSend: this.clock.now() };
    conn.opened = bind.open((packet, from) => this.onReceive?.(packet, from));
    conn.opened.then(
      () => {
        if (this.conns.get(id) === conn) this.connected(id);
      },
      (error: Error) => {
        if (this.conns.get(id) === conn && bind.state === "failed") this.refusedBy(id, error);
      },
    );
    this.conns.set(id, conn);
    return conn;
  }

  private bindOptions(relay: RelayInfo): RelayBindOptions {
    const o = this.options;
    return {
      url: relay.url,
      relayKey: keyFromBase64(relay.key, `relay ${relay.id} key`),
      privateKey: o.privateKey,
      core: o.core,
      x25519: o.x25519,
      token: this.token,
      connect: o.connect,
      clock: this.clock,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
      onFatal: (error) => {
        if (this.conns.get(relay.id)?.relay === relay) this.refusedBy(relay.id, error);
      },
    };
  }

  private drop(id: string): void {
    const conn = this.conns.get(id);
    if (conn === undefined) return;
    this.conns.delete(id);
    void conn.bind.close();
  }

  /** A connection reached WELCOME: a pending home switch completes, open() may resolve. */
  private connected(id: string): void {
    if (id === this.pendingHome) this.setHome(id, "latency");
    if (id === this.homeId) this.flushReady();
  }

  private flushReady(): void {
    if (this.homeBind?.state !== "ready") return;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }

  /** Relay `id` refused this node for good: another relay, or open() fails when none is left. */
  private refusedBy(id: string, error: Error): void {
    this.refused.set(id, error);
    this.drop(id);
    if (this.relays.every((relay) => this.refused.has(relay.id))) {
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      return;
    }
    if (id === this.homeId || id === this.pendingHome) this.decide();
  }

  /** Applies home-choice.ts to what is known now. */
  private decide(): void {
    if (this.state === "closed" || this.homeId === undefined) return;
    const input = this.rankInput();
    // The first pick stands until every relay has been measured, so the first answer to come
    // in does not move the home to a relay that is merely first to answer.
    if (this.provisional && this.relays.some((relay) => !this.rtt.has(relay.id))) {
      if (!input.listed.includes(this.homeId) || input.down.has(this.homeId)) {
        this.provisional = false;
      } else return;
    }
    const choice = chooseHome({ ...input, current: this.homeId, provisional: this.provisional });
    this.provisional = false;
    if (choice === undefined) return;
    if (choice.id === this.homeId) {
      this.pendingHome = undefined;
      return;
    }
    if (choice.reason !== "latency") {
      this.setHome(choice.id, choice.reason);
      return;
    }
    // Make before break: the new home's connection first, the switch once it is welcomed.
    this.pendingHome = choice.id;
    const conn = this.connection(choice.id);
    if (conn?.bind.state === "ready") this.setHome(choice.id, "latency");
  }

  private setHome(id: string, reason: HomeReason): void {
    const previous = this.homeId;
    this.homeId = id;
    this.pendingHome = undefined;
    this.notReadySince = undefined;
    const old = previous === undefined ? undefined : this.conns.get(previous);
    if (old !== undefined) {
      // Peers may still send there until their maps move; it idles out like any other.
      old.lastSend = this.clock.now();
      if (this.down.has(previous as string)) this.drop(previous as string);
    }
    this.homeConnection();
    this.flushReady();
    const relay = this.relayOf(id);
    if (relay !== undefined && id !== previous) this.options.onHome?.(relay, reason);
  }

  private scheduleTick(): void {
    if (this.state !== "open") return;
    const failover = this.options.failoverMs ?? 3_000;
    const every = Math.min(1_000, Math.max(20, failover / 4));
    this.tick = this.clock.setTimer(every, () => {
      this.watch();
      this.runDue();
      this.scheduleTick();
    });
  }

  /** Failover and idle connections. */
  private watch(): void {
    const now = this.clock.now();
    const home = this.homeConnection();
    if (this.homeId !== undefined && home !== undefined) {
      if (home.bind.state === "ready") this.notReadySince = undefined;
      else {
        this.notReadySince ??= now;
        if (now - this.notReadySince >= (this.options.failoverMs ?? 3_000)) {
          this.notReadySince = now;
          this.down.add(this.homeId);
          this.decide();
        }
      }
    }
    const idleMs = this.options.idleMs ?? 60_000;
    for (const [id, conn] of this.conns) {
      if (id !== this.homeId && id !== this.pendingHome && now - conn.lastSend >= idleMs) {
        this.drop(id);
      }
    }
  }

  /** Starts the probes that are due (one in flight per relay). */
  private runDue(): void {
    if (this.state !== "open") return;
    const now = this.clock.now();
    const interval = this.options.probeIntervalMs ?? 60_000;
    for (const relay of this.relays) {
      const due = this.nextProbe.get(relay.id) ?? now;
      if (due > now || this.probing.has(relay.id)) continue;
      this.nextProbe.set(relay.id, now + interval * (0.75 + Math.random() * 0.5));
      void this.probe(relay);
    }
  }

  private async probe(relay: RelayInfo): Promise<void> {
    this.probing.add(relay.id);
    const timeoutMs = this.options.probeTimeoutMs ?? 5_000;
    try {
      let rtt: number | null | undefined;
      const custom = this.options.probe;
      if (custom !== undefined) {
        rtt = await withTimeout(this.clock, custom(relay), timeoutMs, undefined);
      }
      if (rtt === undefined && this.state === "open") {
        const conn = this.conns.get(relay.id);
        rtt =
          conn !== undefined
            ? await withTimeout(this.clock, pingOver(conn.bind, conn.opened), timeoutMs, null)
            : await pingFresh(
                { ...this.bindOptions(relay), onFatal: undefined },
                this.clock,
                timeoutMs,
                this.probeBinds,
              );
      }
      const now = this.relayOf(relay.id);
      if (this.state !== "open" || now === undefined || !sameRelay(now, relay)) return;
      this.rtt.set(relay.id, rtt ?? null);
      if (typeof rtt === "number") this.down.delete(relay.id);
      this.decide();
    } finally {
      this.probing.delete(relay.id);
    }
  }
}

/** Same id, URL and key: only the token may have changed, so the connection is kept. */
function sameRelay(a: RelayInfo, b: RelayInfo): boolean {
  return a.id === b.id && a.url === b.url && a.key === b.key;
}
