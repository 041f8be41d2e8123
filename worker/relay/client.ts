// The relay client as a WireGuard Bind (DESIGN §4): datagrams to peers addressed by key
// ("peer:<base64>") go as SEND, to stock WireGuard hosts ("ip:port") as SEND_UDP through the
// relay's UDP bridge. It connects (RelaySocket: browser WebSocket or `ws`), proves its key in
// the hello, reconnects with exponential backoff and jitter, honours RESTARTING, keeps the
// connection alive with PING (measuring the round trip), and queues a bounded number of
// frames while disconnected. A permanent refusal is final, never retried in silence: a 4401
// close (authentication refused), an upgrade answered 404, 401 or 403 (a wrong path, a foreign
// origin): the bind goes to "failed" with the reason in lastError, open() rejects with it.

import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";
import { type Clock, systemClock, type TimerHandle } from "../wireguard/clock.ts";
import { platformRandom, type RandomBytes } from "../wireguard/cookie.ts";
import { keyToBase64 } from "../wireguard/keys.ts";
import { type BackoffState, reconnectDelay, uniformFraction } from "./backoff.ts";
import { EndpointCache, parseRelayEndpoint, udpEndpoint } from "./endpoint.ts";

export { parseRelayEndpoint };

import { encodeFeatures, FEATURE_BATCH, WELCOME_FEATURE_BATCH } from "./batch.ts";
import {
  newRelayBindStats,
  type RelayBindOptions,
  type RelayBindState,
  type RelayBindStats,
} from "./client-options.ts";
import * as F from "./frames.ts";
import { clientHello, parseWelcome, relayKeyRefusal } from "./handshake.ts";
import { RelayKeepalive } from "./keepalive.ts";
import { isPermanentRefusal } from "./message-socket.ts";
import { outboundFrame, RelayWriter, SendQueue } from "./outbound.ts";
import { parseRelayTarget, type RelayTarget } from "./relay-url.ts";
import type { RelaySocket } from "./socket.ts";

export type { RelayBindOptions, RelayBindState, RelayBindStats } from "./client-options.ts";

/** The 4401 close code: bad proof or token. */
export const CLOSE_AUTH = 4401;
/** The close code this client sends when SERVER_HELLO carries a key other than the pinned one. */
export const CLOSE_RELAY_KEY_MISMATCH = 4403;
/** A WireGuard Bind over a relay connection. */
export class RelayBind implements Bind {
  /** Counters. */
  readonly stats: RelayBindStats = newRelayBindStats();
  /** The last error (socket, fatal refusal), for diagnostics. */
  lastError: Error | undefined;
  /** The last WELCOME's JSON, parsed (relay id, limits). */
  welcome: Record<string, unknown> | undefined;
  /** The last HEALTH text ("" = healthy). */
  health = "";
  /** Set when the relay is reached unencrypted over a network (ws:// to a non-loopback host). */
  readonly transportWarning: string | undefined;
  /** The relay key SERVER_HELLO last carried (base64), once a relay said hello. */
  presentedRelayKey: string | undefined;

  private readonly options: RelayBindOptions;
  private readonly target: RelayTarget;
  private readonly clock: Clock;
  private readonly random: RandomBytes;
  private publicKey: Uint8Array | undefined;
  private readonly endpoints = new EndpointCache();
  private readonly queue: SendQueue;
  private socket: RelaySocket | undefined;
  private generation = 0;
  private stateValue: RelayBindState = "new";
  private onReceive: ReceiveFn | undefined;
  private opened: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly backoff: BackoffState = { attempt: 0, restart: undefined };
  private timer: TimerHandle | undefined;
  private helloTimer: TimerHandle | undefined;
  private readonly keepalive: RelayKeepalive;
  private token: string | undefined;
  /** ping() calls waiting for the next PONG. */
  private pingWaiters: { resolve: (rttMs: number) => void; reject: (e: Error) => void }[] = [];
  private readonly writer = new RelayWriter(
    this.stats,
    () => (this.stateValue === "ready" ? this.socket : undefined),
    (error) => {
      this.lastError = error;
    },
  );

  /** Throws when the URL is not ws(s):// or its `#key=` pin is malformed or contradicted. */
  constructor(options: RelayBindOptions) {
    this.options = options;
    this.target = parseRelayTarget(options.url, options.relayKey);
    this.transportWarning = this.target.warning;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? platformRandom;
    this.token = options.token;
    this.queue = new SendQueue(options.maxQueue ?? 256, this.stats);
    this.keepalive = new RelayKeepalive({
      clock: this.clock,
      random: this.random,
      stats: this.stats,
      intervalMs: options.pingIntervalMs,
      timeoutMs: options.pingTimeoutMs,
      generation: () => this.generation,
      socket: () => this.socket,
      write: (socket, frame) => this.write(socket, frame),
      onTimeout: () => this.lost(4408, "keepalive timeout"),
    });
  }

  /**
   * Replaces the relay token (the control server refreshes it at 3/4 of its life); the relay
   * checks it at the hello, so it is sent from the next (re)connection on.
   */
  setToken(token: string): void {
    this.token = token;
  }

  /** Where the connection is. */
  get state(): RelayBindState {
    return this.stateValue;
  }

  /** The last keepalive round trip in milliseconds, undefined before the first PONG. */
  get rttMs(): number | undefined {
    return this.keepalive.rttMs;
  }

  /**
   * Sends a PING now (the keepalive's, so its schedule restarts) and resolves with the round
   * trip of its PONG: RelaySet measures its relays with it. Rejects when the bind is not
   * connected, or the connection ends first (the keepalive's timeout ends it).
   */
  ping(): Promise<number> {
    if (this.stateValue !== "ready") {
      return Promise.reject(new Error(`RelayBind: ping() while ${this.stateValue}`));
    }
    return new Promise<number>((resolve, reject) => {
      this.pingWaiters.push({ resolve, reject });
      this.keepalive.schedule(0);
    });
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
    const warning = this.transportWarning;
    if (warning !== undefined) {
      // Loud on purpose: the page shows it in the network's status too (NetworkStatus.relay).
      const warn = this.options.onWarning ?? ((text: string) => console.warn(`corridor: ${text}`));
      this.callback(() => warn(warning));
    }
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
    const frame = outboundFrame(this.endpoints, packet, to);
    if (frame === undefined) return this.drop();
    const socket = this.socket;
    if (this.stateValue === "ready" && socket !== undefined) {
      if (socket.bufferedAmount > (this.options.maxBufferedBytes ?? 4 * 1024 * 1024)) {
        return this.drop();
      }
      this.writer.data(socket, frame);
      return true;
    }
    this.queue.push(frame);
    return true;
  }

  /** parseRelayEndpoint, returning a shared Endpoint object per canonical key. */
  parseEndpoint(text: string): Endpoint {
    return this.endpoints.parse(text);
  }

  /** Closes the connection and stops reconnecting. Safe to call more than once. */
  close(): Promise<void> {
    if (this.stateValue === "closed") return Promise.resolve();
    this.stateValue = "closed";
    this.teardown(1000, "closing");
    this.queue.take();
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
    this.writer.write(socket, frame);
  }

  private connect(): void {
    if (this.stateValue === "closed" || this.stateValue === "failed") return;
    this.stateValue = "connecting";
    this.stats.connectAttempts++;
    const generation = ++this.generation;
    let socket: RelaySocket;
    try {
      socket = this.options.connect(this.target.url, F.RELAY_SUBPROTOCOL);
    } catch (error) {
      this.fail(new Error(`relay ${this.target.url}: ${(error as Error).message}`));
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
        if (!live()) return;
        this.lastError = error;
        if (isPermanentRefusal(error)) {
          this.teardown(1000, "refused");
          this.fail(
            new Error(`relay ${this.target.url} refused this node for good: ${error.message}`),
          );
        }
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
        if (!this.acceptRelayKey(frame.relayKey)) return;
        void this.hello(socket, frame.relayKey.slice(), frame.challenge.slice(), live);
        return;
      case "welcome":
        this.onWelcome(socket, frame.json);
        return;
      case "batch":
        // Only data frames are inside (decodeBatch checked): each as if it came alone.
        for (const inner of frame.frames) {
          if (!live()) return; // a delivery tore this connection down
          this.onMessage(socket, inner, live);
        }
        return;
      case "recv":
        this.deliver(frame.packet, this.endpoints.peerSource(frame.key));
        return;
      case "recv-udp":
        this.deliver(frame.packet, udpEndpoint(frame.endpoint.address, frame.endpoint.port));
        return;
      case "ping":
        this.write(socket, F.encodePing(F.PONG, frame.data));
        return;
      case "pong": {
        const before = this.stats.pongs;
        this.keepalive.pong(frame.data);
        const rtt = this.keepalive.rttMs;
        if (this.stats.pongs !== before && rtt !== undefined) {
          for (const waiter of this.pingWaiters.splice(0)) waiter.resolve(rtt);
        }
        return;
      }
      case "peer-gone": {
        this.stats.peerGone++;
        const key = keyToBase64(frame.key);
        this.callback(() => this.options.onPeerGone?.(key, frame.reason));
        return;
      }
      case "udp-error": {
        this.stats.udpErrors++;
        const endpoint = udpEndpoint(frame.endpoint.address, frame.endpoint.port);
        this.callback(() => this.options.onUdpError?.(endpoint, frame.reason));
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
        this.backoff.restart = { at, until: at + frame.tryForMs };
        return;
      }
      case "unknown":
        return;
      default: // "invalid", and frames only a client sends (CLIENT_HELLO, FEATURES, SEND...)
        this.stats.invalidFrames++;
    }
  }

  /**
   * Records the relay key of SERVER_HELLO; with a pin, any other key ends the bind for good
   * (close 4403, no proof sent): it is another relay or a machine in the middle.
   */
  private acceptRelayKey(relayKey: Uint8Array): boolean {
    this.presentedRelayKey = keyToBase64(relayKey);
    const message = relayKeyRefusal(this.target, relayKey);
    if (message === undefined) return true;
    this.teardown(CLOSE_RELAY_KEY_MISMATCH, "relay key mismatch");
    this.fail(new Error(message));
    return false;
  }

  private async hello(
    socket: RelaySocket,
    relayKey: Uint8Array,
    challenge: Uint8Array,
    live: () => boolean,
  ): Promise<void> {
    try {
      const { x25519, privateKey } = this.options;
      const publicKey = async () => {
        this.publicKey ??= await x25519.publicKey(privateKey);
        return this.publicKey;
      };
      const hello = await clientHello(this.options, publicKey, relayKey, challenge, this.token);
      if (live()) this.write(socket, hello);
    } catch (error) {
      this.lastError = error as Error;
      if (live()) this.lost(4400, "hello failed");
    }
  }

  private onWelcome(socket: RelaySocket, json: string): void {
    this.welcome = parseWelcome(json);
    this.helloTimer?.cancel();
    this.stateValue = "ready";
    this.stats.welcomes++;
    this.backoff.attempt = 0;
    this.backoff.restart = undefined;
    const features = this.welcome.features;
    if (
      (this.options.batching ?? true) &&
      Array.isArray(features) &&
      features.includes(WELCOME_FEATURE_BATCH)
    ) {
      this.write(socket, encodeFeatures(FEATURE_BATCH));
      this.writer.batching = true;
    }
    for (const frame of this.queue.take()) this.write(socket, frame);
    // The first PING goes out at once, so the round trip is known from the start.
    this.keepalive.schedule(0);
    const opened = this.opened;
    this.opened = undefined;
    opened?.resolve();
    const onReady = this.options.onReady;
    if (onReady !== undefined) this.callback(onReady);
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
    // What was collected for this connection waits for the next one, like any send.
    for (const frame of this.writer.reset()) this.queue.push(frame);
    this.timer?.cancel();
    this.helloTimer?.cancel();
    this.keepalive.stop();
    for (const waiter of this.pingWaiters.splice(0)) {
      waiter.reject(new Error(`RelayBind: connection ended before the PONG (${reason})`));
    }
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
    this.queue.take();
    const opened = this.opened;
    this.opened = undefined;
    if (opened !== undefined) opened.reject(error);
    else this.callback(() => this.options.onFatal?.(error));
  }

  /** The next delay: RESTARTING's schedule if one is announced, else backoff with jitter. */
  private reconnectLater(): void {
    if (this.stateValue === "closed" || this.stateValue === "failed") return;
    this.stateValue = "waiting";
    const limits = {
      baseMs: this.options.backoffBaseMs ?? 250,
      maxMs: this.options.backoffMaxMs ?? 30_000,
    };
    const delay = reconnectDelay(this.backoff, this.clock.now(), limits, () =>
      uniformFraction(this.random),
    );
    this.timer = this.clock.setTimer(delay, () => this.connect());
  }
}
