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
import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import { type Clock, systemClock, type TimerHandle } from "../wireguard/clock.ts";
import { keyFromBase64 } from "../wireguard/keys.ts";
import { RelayBind } from "./client.ts";
import type { RelayBindOptions } from "./client-options.ts";
import { EndpointCache, PEER_PREFIX } from "./endpoint.ts";
import { chooseHome, firstHome, type HomeReason } from "./home-choice.ts";
import type { RelaySetOptions } from "./relay-set-options.ts";
import { RelayProber } from "./relay-set-probe.ts";

export type { RelaySetOptions } from "./relay-set-options.ts";

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
  /** When the pending home's connection was asked for (it gets failoverMs to be welcomed). */
  private pendingSince: number | undefined;
  private provisional = false;
  private readonly rtt = new Map<string, number | null>();
  private readonly down = new Set<string>();
  /** Relays that refused this node for good (cleared by a new token). */
  private readonly refused = new Map<string, Error>();
  private readonly prober: RelayProber;
  private onReceive: ReceiveFn | undefined;
  private state: "new" | "open" | "closed" = "new";
  private notReadySince: number | undefined;
  private tick: TimerHandle | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly options: RelaySetOptions) {
    this.clock = options.clock ?? systemClock;
    this.prober = new RelayProber({
      clock: this.clock,
      intervalMs: options.probeIntervalMs ?? 60_000,
      timeoutMs: options.probeTimeoutMs ?? 5_000,
      probe: options.probe,
      connectionOf: (id) => this.conns.get(id),
      bindOptions: (relay) => this.bindOptions(relay),
      onResult: (relay, rtt) => this.measured(relay, rtt),
    });
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
    for (const id of this.rtt.keys()) if (!listed.has(id)) this.rtt.delete(id);
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
      // The timer stopped when every relay refused; a new token or relay gets its chance.
      if (this.tick === undefined) this.scheduleTick();
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

  /**
   * The relay a datagram to `peerKey` (base64) goes through now: the peer's home relay when the
   * map lists it and it has not refused this node, else this node's home (for status).
   */
  relayFor(peerKey: string): RelayInfo | undefined {
    return this.relayOf(this.routeOf(PEER_PREFIX + peerKey)) ?? this.home;
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

  /**
   * Resolves once the home (whichever it is by then) is connected, also when its connection
   * comes back by itself after a drop (each WELCOME is reported: RelayBind's onReady). Rejects
   * once closed, or when every listed relay refused this node.
   */
  whenReady(): Promise<void> {
    if (this.homeBind?.state === "ready") return Promise.resolve();
    if (this.state === "closed") return Promise.reject(new Error("RelaySet: closed"));
    const refusal = this.allRefused() ? [...this.refused.values()][0] : undefined;
    if (this.state === "open" && refusal !== undefined) return Promise.reject(refusal);
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    if (this.state !== "open") return false;
    const id = this.routeOf(to.key);
    if (id !== undefined && id !== this.homeId) {
      const conn = this.connection(id);
      if (conn !== undefined) {
        conn.lastSend = this.clock.now();
        return conn.bind.send(packet, to);
      }
    }
    // Through homeConnection(): a home that refused this node is not dialled again per packet.
    return this.homeConnection()?.bind.send(packet, to) ?? false;
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
    this.conns.clear();
    await Promise.all([this.prober.close(), ...binds.map((bind) => bind.close())]);
  }

  /** The relay id a datagram to endpoint key `key` goes to (the peer's home, else ours). */
  private routeOf(key: string): string | undefined {
    const id = key.startsWith(PEER_PREFIX) ? this.peerHome.get(key) : undefined;
    return id !== undefined && !this.refused.has(id) ? id : this.homeId;
  }

  private relayOf(id: string | undefined): RelayInfo | undefined {
    return id === undefined ? undefined : this.relays.find((relay) => relay.id === id);
  }

  private rankInput() {
    const down = new Set([...this.down, ...this.refused.keys()]);
    return { listed: this.relays.map((relay) => relay.id), rtt: this.rtt, down };
  }

  /** The home's connection, made again if it is missing, unless the home refused the node. */
  private homeConnection(): Connection | undefined {
    const id = this.homeId;
    if (id === undefined) return undefined;
    return this.refused.has(id) ? this.conns.get(id) : this.connection(id);
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
    this.prober.connectionOpened(id);
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
      // Every WELCOME, a reconnect's too: a map waiting for this relay as its home goes on.
      onReady: () => {
        if (this.conns.get(relay.id)?.relay === relay) this.connected(relay.id);
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
    if (this.allRefused()) {
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      // Nothing is left to watch or probe until a map brings a new token (update()).
      this.tick?.cancel();
      this.tick = undefined;
      return;
    }
    if (id === this.homeId || id === this.pendingHome) this.decide();
  }

  /** Every listed relay refused this node for good: nothing to wait for until the next map. */
  private allRefused(): boolean {
    return this.relays.length > 0 && this.relays.every((relay) => this.refused.has(relay.id));
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
    if (choice.id === this.pendingHome) return;
    if (choice.reason !== "latency") {
      this.setHome(choice.id, choice.reason);
      return;
    }
    // Make before break: the new home's connection first, the switch once it is welcomed.
    this.pendingHome = choice.id;
    this.pendingSince = this.clock.now();
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
    if (this.state !== "open" || this.allRefused()) return;
    const failover = this.options.failoverMs ?? 3_000;
    const every = Math.min(1_000, Math.max(MIN_TICK_MS, failover / 4));
    this.tick = this.clock.setTimer(every, () => {
      this.tick = undefined;
      this.watch();
      this.runDue();
      if (this.tick === undefined) this.scheduleTick();
    });
  }

  /** Failover, a latency move that does not connect, and idle connections. */
  private watch(): void {
    const now = this.clock.now();
    const failoverMs = this.options.failoverMs ?? 3_000;
    const home = this.homeConnection();
    if (this.homeId !== undefined && home !== undefined) {
      if (home.bind.state === "ready") this.notReadySince = undefined;
      else {
        this.notReadySince ??= now;
        if (now - this.notReadySince >= failoverMs) {
          this.notReadySince = now;
          this.down.add(this.homeId);
          this.decide();
        }
      }
    }
    const pending = this.pendingHome;
    if (pending !== undefined && now - (this.pendingSince ?? now) >= failoverMs) {
      // The faster relay did not welcome us in time: stay, and count it down until it answers.
      this.pendingHome = undefined;
      this.down.add(pending);
    }
    const idleMs = this.options.idleMs ?? 60_000;
    for (const [id, conn] of this.conns) {
      if (id !== this.homeId && id !== this.pendingHome && now - conn.lastSend >= idleMs) {
        this.drop(id);
      }
    }
  }

  /** Starts the probes that are due; a relay that refused this node waits for a new token. */
  private runDue(): void {
    if (this.state !== "open") return;
    this.prober.runDue(this.relays.filter((relay) => !this.refused.has(relay.id)));
  }

  /** A probe's answer, for a relay still listed as it was: ranks it, and may move the home. */
  private measured(relay: RelayInfo, rtt: number | null): void {
    const now = this.relayOf(relay.id);
    if (this.state !== "open" || now === undefined || !sameRelay(now, relay)) return;
    this.rtt.set(relay.id, rtt);
    if (rtt !== null) this.down.delete(relay.id);
    this.decide();
  }
}

/** The shortest period of the failover and idle timer (a tiny failoverMs in tests). */
const MIN_TICK_MS = 20;

/** Same id, URL and key: only the token may have changed, so the connection is kept. */
function sameRelay(a: RelayInfo, b: RelayInfo): boolean {
  return a.id === b.id && a.url === b.url && a.key === b.key;
}
