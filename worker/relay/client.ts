// The relay client as a WireGuard Bind (DESIGN §4): datagrams to peers addressed by key
// ("peer:<base64>") go as SEND, to stock WireGuard hosts ("ip:port") as SEND_UDP through the
// relay's UDP bridge. It connects (RelaySocket: browser WebSocket or `ws`), proves its key in
// the hello, reconnects with exponential backoff and jitter, honours RESTARTING, keeps the
// connection alive with PING (measuring the round trip), and queues a bounded number of
// frames while disconnected. A 4401 close (authentication refused) is final: no retry.

import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import { type Clock, systemClock, type TimerHandle } from "../wireguard/clock.ts";
import { platformRandom, type RandomBytes } from "../wireguard/cookie.ts";
import { parseIp } from "../wireguard/ip-address.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import { bounded, PEER_PREFIX, parseRelayEndpoint, peerEndpoint, udpEndpoint } from "./endpoint.ts";

export { parseRelayEndpoint };

import type { RelayBindOptions, RelayBindState, RelayBindStats } from "./client-options.ts";
import * as F from "./frames.ts";
import { nodeProof } from "./proof.ts";
import type { RelaySocket } from "./socket.ts";

export type { RelayBindOptions, RelayBindState, RelayBindStats } from "./client-options.ts";

/** The 4401 close code: bad proof or token. */
export const CLOSE_AUTH = 4401;
/** A WireGuard Bind over a relay connection. */
export class RelayBind implements Bind {
  /** Counters. */
  readonly stats: RelayBindStats = {
    connectAttempts: 0,
    welcomes: 0,
    disconnects: 0,
    sent: 0,
    sentBytes: 0,
    received: 0,
    receivedBytes: 0,
    queued: 0,
    queueDropped: 0,
    sendDropped: 0,
    peerGone: 0,
    invalidFrames: 0,
    pings: 0,
    pongs: 0,
    keepaliveTimeouts: 0,
    restarting: 0,
    receiveErrors: 0,
  };
  /** The last error (socket, fatal refusal), for diagnostics. */
  lastError: Error | undefined;
  /** The last WELCOME's JSON, parsed (relay id, limits). */
  welcome: Record<string, unknown> | undefined;
  /** The last HEALTH text ("" = healthy). */
  health = "";

  private readonly options: RelayBindOptions;
  private readonly clock: Clock;
  private readonly random: RandomBytes;
  private publicKey: Uint8Array | undefined;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly keys = new Map<string, Uint8Array>();
  private readonly udp = new Map<string, F.RelayEndpoint>();
  private queue: Uint8Array[] = [];
  private socket: RelaySocket | undefined;
  private generation = 0;
  private stateValue: RelayBindState = "new";
  private onReceive: ReceiveFn | undefined;
  private opened: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private attempt = 0;
  private timer: TimerHandle | undefined;
  private helloTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private ping: { data: Uint8Array; at: number } | undefined;
  private rtt: number | undefined;
  private restart: { at: number; until: number } | undefined;

  constructor(options: RelayBindOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? platformRandom;
  }

  /** Where the connection is. */
  get state(): RelayBindState {
    return this.stateValue;
  }

  /** The last keepalive round trip in milliseconds, undefined before the first PONG. */
  get rttMs(): number | undefined {
    return this.rtt;
  }

  /** Frames waiting for a connection. */
  get queueLength(): number {
    return this.queue.length;
  }

  /**
   * Connects; resolves at the first WELCOME (retrying with backoff until then), rejects if the
   * relay refuses us (4401), the URL is malformed, or close() comes first.
   */
  open(onReceive: ReceiveFn): Promise<void> {
    if (this.stateValue !== "new") {
      return Promise.reject(new Error(`RelayBind: open() on a bind that is ${this.stateValue}`));
    }
    this.onReceive = onReceive;
    return new Promise<void>((resolve, reject) => {
      this.opened = { resolve, reject };
      this.connect();
    });
  }

  /**
   * Sends one datagram as SEND ("peer:" endpoints) or SEND_UDP ("ip:port"). The frame is a
   * copy. While disconnected it is queued (bounded; the oldest dropped). False when closed,
   * failed, too big, for an endpoint this bind cannot address, or when the socket is backed up.
   */
  send(packet: Uint8Array, to: Endpoint): boolean {
    if (this.stateValue === "closed" || this.stateValue === "failed") return this.drop();
    if (packet.length > F.MAX_PACKET) return this.drop();
    let frame: Uint8Array;
    if (to.key.startsWith(PEER_PREFIX)) {
      const key = this.keyOf(to.key);
      if (key === undefined) return this.drop();
      frame = F.encodeKeyed(F.SEND, key, packet);
    } else {
      const endpoint = this.udpOf(to);
      if (endpoint === undefined) return this.drop();
      frame = F.encodeUdp(F.SEND_UDP, endpoint, packet);
    }
    const socket = this.socket;
    if (this.stateValue === "ready" && socket !== undefined) {
      if (socket.bufferedAmount > (this.options.maxBufferedBytes ?? 4 * 1024 * 1024)) {
        return this.drop();
      }
      this.write(socket, frame);
      return true;
    }
    this.queue.push(frame);
    this.stats.queued++;
    while (this.queue.length > (this.options.maxQueue ?? 256)) {
      this.queue.shift();
      this.stats.queueDropped++;
    }
    return true;
  }

  /** parseRelayEndpoint, returning a shared Endpoint object per canonical key. */
  parseEndpoint(text: string): Endpoint {
    const parsed = parseRelayEndpoint(text);
    return this.endpoints.get(parsed.key) ?? bounded(this.endpoints, parsed.key, parsed);
  }

  /** Closes the connection and stops reconnecting. Safe to call more than once. */
  close(): Promise<void> {
    if (this.stateValue === "closed") return Promise.resolve();
    this.stateValue = "closed";
    this.teardown(1000, "closing");
    this.queue = [];
    this.onReceive = undefined;
    this.opened?.reject(new Error("RelayBind: closed before the relay welcomed us"));
    this.opened = undefined;
    return Promise.resolve();
  }

  /** Runs a user callback; what it throws is counted, never let into the socket's events. */
  private callback(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.stats.receiveErrors++;
      this.lastError = error as Error;
    }
  }

  private drop(): false {
    this.stats.sendDropped++;
    return false;
  }

  private write(socket: RelaySocket, frame: Uint8Array): void {
    try {
      socket.send(frame);
      if (frame[0] === F.SEND || frame[0] === F.SEND_UDP) {
        this.stats.sent++;
        this.stats.sentBytes += frame.length;
      }
    } catch (error) {
      this.lastError = error as Error;
      this.stats.sendDropped++;
    }
  }

  private keyOf(endpointKey: string): Uint8Array | undefined {
    const known = this.keys.get(endpointKey);
    if (known !== undefined) return known;
    try {
      return bounded(this.keys, endpointKey, keyFromBase64(endpointKey.slice(PEER_PREFIX.length)));
    } catch {
      return undefined;
    }
  }

  private udpOf(to: Endpoint): F.RelayEndpoint | undefined {
    const known = this.udp.get(to.key);
    if (known !== undefined) return known;
    try {
      const address = F.toRelayAddress(parseIp(to.host));
      if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535) return undefined;
      return bounded(this.udp, to.key, { address, port: to.port });
    } catch {
      return undefined;
    }
  }

  private connect(): void {
    if (this.stateValue === "closed" || this.stateValue === "failed") return;
    this.stateValue = "connecting";
    this.stats.connectAttempts++;
    const generation = ++this.generation;
    let socket: RelaySocket;
    try {
      socket = this.options.connect(this.options.url, F.RELAY_SUBPROTOCOL);
    } catch (error) {
      this.fail(new Error(`relay ${this.options.url}: ${(error as Error).message}`));
      return;
    }
    this.socket = socket;
    const live = () => generation === this.generation;
    this.helloTimer = this.clock.setTimer(this.options.helloTimeoutMs ?? 10_000, () => {
      if (live()) this.lost(4408, "hello timeout");
    });
    socket.listen({
      onOpen: () => {},
      onMessage: (data) => {
        if (live()) this.onMessage(socket, data, live);
      },
      onError: (error) => {
        if (live()) this.lastError = error;
      },
      onClose: (code, reason) => {
        if (live()) this.onClose(code, reason);
      },
    });
  }

  private onMessage(socket: RelaySocket, data: Uint8Array, live: () => boolean): void {
    const frame = F.decodeFrame(data);
    switch (frame.type) {
      case "server-hello":
        if (frame.version !== F.RELAY_VERSION) {
          this.lost(4400, `relay version ${frame.version}`);
          return;
        }
        void this.hello(socket, frame.relayKey.slice(), frame.challenge.slice(), live);
        return;
      case "welcome":
        this.onWelcome(socket, frame.json);
        return;
      case "recv":
        this.deliver(frame.packet, this.peerSource(frame.key));
        return;
      case "recv-udp":
        this.deliver(frame.packet, udpEndpoint(frame.endpoint.address, frame.endpoint.port));
        return;
      case "ping":
        this.write(socket, F.encodePing(F.PONG, frame.data));
        return;
      case "pong":
        this.onPong(frame.data);
        return;
      case "peer-gone": {
        this.stats.peerGone++;
        const key = keyToBase64(frame.key);
        this.callback(() => this.options.onPeerGone?.(key, frame.reason));
        return;
      }
      case "health":
        this.health = frame.text;
        this.callback(() => this.options.onHealth?.(frame.text));
        return;
      case "restarting": {
        this.stats.restarting++;
        const now = this.clock.now();
        const at = now + frame.reconnectInMs;
        this.restart = { at, until: at + frame.tryForMs };
        return;
      }
      case "unknown":
        return;
      default:
        this.stats.invalidFrames++;
    }
  }

  private async hello(
    socket: RelaySocket,
    relayKey: Uint8Array,
    challenge: Uint8Array,
    live: () => boolean,
  ): Promise<void> {
    try {
      const { core, x25519, privateKey, token } = this.options;
      const proof = await nodeProof(core, x25519, privateKey, relayKey, challenge);
      this.publicKey ??= await x25519.publicKey(privateKey);
      const nodeKey = this.publicKey;
      if (live()) this.write(socket, F.encodeClientHello(nodeKey, proof, token ?? ""));
    } catch (error) {
      this.lastError = error as Error;
      if (live()) this.lost(4400, "hello failed");
    }
  }

  private onWelcome(socket: RelaySocket, json: string): void {
    try {
      const parsed: unknown = JSON.parse(json);
      this.welcome =
        typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
    } catch {
      this.welcome = {};
    }
    this.helloTimer?.cancel();
    this.stateValue = "ready";
    this.stats.welcomes++;
    this.attempt = 0;
    this.restart = undefined;
    const queue = this.queue;
    this.queue = [];
    for (const frame of queue) this.write(socket, frame);
    // The first PING goes out at once, so the round trip is known from the start.
    this.schedulePing(0);
    const opened = this.opened;
    this.opened = undefined;
    opened?.resolve();
  }

  private peerSource(key: Uint8Array): Endpoint {
    const b64 = keyToBase64(key);
    const known = this.endpoints.get(PEER_PREFIX + b64);
    return known ?? bounded(this.endpoints, PEER_PREFIX + b64, peerEndpoint(b64));
  }

  private deliver(packet: Uint8Array, from: Endpoint): void {
    this.stats.received++;
    this.stats.receivedBytes += packet.length;
    try {
      this.onReceive?.(packet, from);
    } catch (error) {
      this.stats.receiveErrors++;
      this.lastError = error as Error;
    }
  }

  private schedulePing(delayMs = this.options.pingIntervalMs ?? 15_000): void {
    const generation = this.generation;
    this.pingTimer?.cancel();
    this.pingTimer = this.clock.setTimer(delayMs, () => {
      const socket = this.socket;
      if (generation !== this.generation || socket === undefined) return;
      const data = this.random(F.PING_LENGTH).slice(0, F.PING_LENGTH);
      this.ping = { data, at: this.clock.now() };
      this.stats.pings++;
      this.write(socket, F.encodePing(F.PING, data));
      this.pingTimer = this.clock.setTimer(this.options.pingTimeoutMs ?? 10_000, () => {
        if (generation !== this.generation) return;
        this.stats.keepaliveTimeouts++;
        this.lost(4408, "keepalive timeout");
      });
    });
  }

  private onPong(data: Uint8Array): void {
    const ping = this.ping;
    if (ping === undefined || !ping.data.every((b, i) => data[i] === b)) return;
    this.ping = undefined;
    this.stats.pongs++;
    this.rtt = this.clock.now() - ping.at;
    this.schedulePing();
  }

  /** Drops the current socket (closing it with `code`) and schedules a reconnect. */
  private lost(code: number, reason: string): void {
    this.teardown(code, reason);
    this.reconnectLater();
  }

  private onClose(code: number, reason: string): void {
    this.socket = undefined;
    this.teardown(code, reason);
    if (code === CLOSE_AUTH) {
      this.fail(new Error(`relay refused authentication (4401${reason ? `: ${reason}` : ""})`));
      return;
    }
    this.reconnectLater();
  }

  private teardown(code: number, reason: string): void {
    this.generation++;
    this.timer?.cancel();
    this.helloTimer?.cancel();
    this.pingTimer?.cancel();
    this.ping = undefined;
    if (this.stateValue === "ready") this.stats.disconnects++;
    const socket = this.socket;
    this.socket = undefined;
    try {
      socket?.close(code >= 4000 || code === 1000 ? code : 1000, reason);
    } catch {
      // already closed
    }
  }

  private fail(error: Error): void {
    this.stateValue = "failed";
    this.lastError = error;
    this.queue = [];
    const opened = this.opened;
    this.opened = undefined;
    if (opened !== undefined) opened.reject(error);
    else this.callback(() => this.options.onFatal?.(error));
  }

  /** A uniform number in [0, 1) from the random source. */
  private fraction(): number {
    const r = this.random(2);
    return ((r[0]! << 8) | r[1]!) / 65536;
  }

  /** The next delay: RESTARTING's schedule if one is announced, else backoff with jitter. */
  private reconnectLater(): void {
    if (this.stateValue === "closed" || this.stateValue === "failed") return;
    this.stateValue = "waiting";
    const now = this.clock.now();
    const base = this.options.backoffBaseMs ?? 250;
    const max = this.options.backoffMaxMs ?? 30_000;
    let delay: number;
    const restart = this.restart;
    if (restart !== undefined && now < restart.at) {
      // The relay told us when to come back; spread the herd over up to a second of it.
      const spread = Math.min(1000, (restart.until - restart.at) / 2);
      delay = restart.at - now + spread * this.fraction();
      this.attempt = 0;
    } else {
      if (restart !== undefined && now >= restart.until) this.restart = undefined;
      const ceiling = Math.min(max, base * 2 ** Math.min(this.attempt, 30));
      this.attempt++;
      delay = ceiling / 2 + (ceiling / 2) * this.fraction(); // "equal jitter": [ceiling/2, ceiling)
      if (this.restart !== undefined) delay = Math.min(delay, this.restart.until - now);
    }
    this.timer = this.clock.setTimer(Math.max(0, delay), () => this.connect());
  }
}
