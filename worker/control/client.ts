// The map client that the browser engine and the agent share (docs/control.md, "Map stream"):
// it connects to `/control`, answers `hello` with `login` (the proof of its WireGuard key),
// applies `map` and `delta` to a MapState and hands each diff to the engine, and watches the
// server's keepalives. A lost stream (network, 1012 restart, 4429 too slow, silence for 2.5
// keepalive intervals) reconnects with exponential backoff and jitter and resumes with
// {session, seq}, so the server sends only what was missed. A refusal (`refused`, 4401, 4403,
// and 4409 unless told otherwise, or an upgrade answered 404, 401 or 403: a wrong URL, a
// refused login) is final: no retry, surfaced with its code and message.

import type { BackoffState } from "../relay/backoff.ts";
import { isPermanentRefusal } from "../relay/message-socket.ts";
import { type Clock, systemClock, type TimerHandle } from "../wireguard/clock.ts";
import { platformRandom, type RandomBytes } from "../wireguard/cookie.ts";
import {
  CLOSE_TIMEOUT,
  type ControlClientOptions,
  type ControlClientState,
  type ControlClientStats,
  type ControlRefusal,
  newControlClientStats,
} from "./client-options.ts";
import { decodeServerMessage, encodeClientMessage } from "./codec.ts";
import type { ControlProtocolError } from "./errors.ts";
import { buildLogin, checkLoginOptions } from "./login.ts";
import { MapState } from "./map-state.ts";
import {
  CONTROL_CLOSE,
  CONTROL_PROTOCOL,
  type HelloMessage,
  type Hostinfo,
  type ServerMessage,
  type SignalMessage,
} from "./messages.ts";
import { signalContentReason } from "./signal-values.ts";
import type { ControlSocket } from "./socket.ts";
import type { ControlUpdate } from "./stream-end.ts";
import {
  closeAsksFullMap,
  closeReason,
  closeRefusal,
  controlRetryDelay,
  factsToResend,
  ownCloseCode,
  upgradeRefusal,
} from "./stream-end.ts";
import { admits, outOfOrder, type Phase } from "./stream-phase.ts";

export type {
  ControlClientOptions,
  ControlClientState,
  ControlClientStats,
  ControlRefusal,
} from "./client-options.ts";

/** The volatile facts a node reports with `update`. */
export type { ControlUpdate } from "./stream-end.ts";

/** A node's map stream. */
export class ControlClient {
  /** Counters. */
  readonly stats: ControlClientStats = newControlClientStats();
  /** The map as last applied (kept across reconnects, to resume and to diff a resync). */
  readonly map = new MapState();
  /** The last error (socket, protocol), for diagnostics. */
  lastError: Error | undefined;
  /** Why the client stopped for good, once it has. */
  refusal: ControlRefusal | undefined;
  /** The delay chosen before the latest reconnect attempt (ms), for status displays. */
  lastRetryDelayMs: number | undefined;

  private readonly options: ControlClientOptions;
  private readonly clock: Clock;
  private readonly random: RandomBytes;
  private hostinfo: Hostinfo;
  private facts: ControlUpdate = {};
  private rotated = false;
  private stateValue: ControlClientState = "new";
  private socket: ControlSocket | undefined;
  private phase: Phase = "hello";
  private generation = 0;
  private readonly backoff: BackoffState = { attempt: 0, restart: undefined };
  private retryTimer: TimerHandle | undefined;
  private handshakeTimer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private started: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** A logout() waiting for the server's confirmation. */
  private leaving: ((confirmed: boolean) => void) | undefined;

  /** Throws ControlProtocolError naming the field when hostinfo, authKey or tags are invalid. */
  constructor(options: ControlClientOptions) {
    // Checked now: a login the server would refuse must fail here, not retry forever.
    checkLoginOptions(options, options.hostinfo);
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? platformRandom;
    this.hostinfo = options.hostinfo;
  }

  /** Where the client is. */
  get state(): ControlClientState {
    return this.stateValue;
  }

  /**
   * Connects; resolves once the first map is applied (reconnecting with backoff until then),
   * rejects when the server refuses the node or close() comes first. Handle the rejection even
   * when onRefused is set: an unhandled one ends a Node process.
   */
  start(): Promise<void> {
    if (this.stateValue !== "new") {
      return Promise.reject(
        new Error(`ControlClient: start() on a client that is ${this.stateValue}`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.started = { resolve, reject };
      this.connect();
    });
  }

  /**
   * Reports endpoints, home relay or host info. Checked first (throws ControlProtocolError
   * naming the field); sent at once when streaming, else after the next map. The latest
   * facts are sent again after every reconnect (the server keeps them in memory only).
   */
  update(facts: ControlUpdate): void {
    encodeClientMessage({ type: "update", ...facts });
    this.facts = { ...this.facts, ...facts };
    if (facts.hostinfo !== undefined) this.hostinfo = facts.hostinfo;
    if (this.phase === "streaming" && this.socket !== undefined)
      this.sendUpdate(this.socket, facts);
  }

  /**
   * Sends a WebRTC signal to the peer with node key `signal.to`. Checked first (throws
   * ControlProtocolError naming the field, or an Error saying what is wrong with the SDP or
   * candidate); returns false when there is no stream to send it on (signals are live: an
   * attempt that loses its stream starts again).
   */
  signal(signal: Omit<SignalMessage, "type">): boolean {
    const message: SignalMessage = { type: "signal", ...signal };
    const text = encodeClientMessage(message);
    const reason = signalContentReason(message);
    if (reason !== null) throw new Error(reason);
    if (this.phase !== "streaming" || this.socket === undefined) return false;
    try {
      this.socket.send(text);
      this.stats.signalsSent++;
      return true;
    } catch (error) {
      this.lastError = error as Error;
      return false;
    }
  }

  /**
   * Leaves the mesh: asks the server to remove this node now, then stops. Resolves true once
   * the server confirmed (its `refused` "node_removed"), false when there was no stream to ask
   * on or no answer within `timeoutMs` (an ephemeral node is then removed after the server's
   * grace period). Never reconnects.
   */
  logout(timeoutMs = 3000): Promise<boolean> {
    const socket = this.socket;
    if (this.phase !== "streaming" || socket === undefined) {
      this.close();
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimer(timeoutMs, () => this.close());
      this.leaving = (confirmed) => {
        timer.cancel();
        resolve(confirmed);
      };
      try {
        socket.send(encodeClientMessage({ type: "logout" }));
      } catch (error) {
        this.lastError = error as Error;
        this.close();
      }
    });
  }

  /** Closes the stream and stops reconnecting. Safe to call more than once. */
  close(): void {
    this.settleLogout(false);
    if (this.stateValue === "closed" || this.stateValue === "refused") return;
    this.teardown(1000, "closing");
    this.setState("closed");
    this.started?.reject(new Error("ControlClient: closed before the first map"));
    this.started = undefined;
  }

  private setState(state: ControlClientState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.callback(() => this.options.onState?.(state));
  }

  /** Runs a caller's callback; what it throws is counted, never let into the socket's events. */
  private callback(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.stats.callbackErrors++;
      this.lastError = error as Error;
    }
  }

  private connect(): void {
    if (this.stateValue === "closed" || this.stateValue === "refused") return;
    this.setState("connecting");
    this.stats.connectAttempts++;
    const generation = ++this.generation;
    this.phase = "hello";
    let socket: ControlSocket;
    try {
      socket = this.options.connect(this.options.url, CONTROL_PROTOCOL);
    } catch (error) {
      // A malformed URL never gets better: final.
      this.finish({ code: "bad_url", message: (error as Error).message, closeCode: 0 });
      return;
    }
    this.socket = socket;
    const live = () => generation === this.generation;
    this.handshakeTimer = this.clock.setTimer(this.options.handshakeTimeoutMs ?? 30_000, () => {
      if (!live()) return;
      this.stats.handshakeTimeouts++;
      this.lost(CLOSE_TIMEOUT, "handshake timeout", false);
    });
    this.armWatchdog(live);
    socket.listen({
      onOpen: () => {
        if (live()) this.stats.opened++;
      },
      onMessage: (text) => {
        if (live()) this.onMessage(socket, text, live);
      },
      onError: (error) => {
        if (!live()) return;
        this.lastError = error;
        if (isPermanentRefusal(error)) this.finish(upgradeRefusal(error, this.options.url));
      },
      onClose: (code, reason) => {
        if (live()) this.onClose(code, reason);
      },
    });
  }

  /** Silence for 2.5 keepalive intervals means the stream is dead (a half-open TCP path). */
  private armWatchdog(live: () => boolean): void {
    this.watchdog?.cancel();
    // While a person decides, the server's approval expiry (a `refused`) ends the wait.
    if (this.phase === "waiting") return;
    const silence = 2.5 * (this.options.keepaliveIntervalMs ?? 50_000);
    this.watchdog = this.clock.setTimer(silence, () => {
      if (!live()) return;
      this.stats.keepaliveTimeouts++;
      this.lost(CLOSE_TIMEOUT, "keepalive timeout", false);
    });
  }

  private onMessage(socket: ControlSocket, text: string, live: () => boolean): void {
    this.armWatchdog(live);
    let message: ServerMessage;
    try {
      message = decodeServerMessage(text, this.options.maxMessageBytes);
    } catch (error) {
      this.protocolError(error as ControlProtocolError);
      return;
    }
    if (!admits(this.phase, message.type)) {
      this.protocolError(outOfOrder(this.phase, message.type));
      return;
    }
    switch (message.type) {
      case "hello":
        this.phase = "login";
        void this.login(socket, message, live);
        return;
      case "waiting":
        this.phase = "waiting";
        // A person may take minutes to approve: no handshake timeout, no keepalive watchdog.
        this.handshakeTimer?.cancel();
        this.watchdog?.cancel();
        this.setState("waiting");
        this.callback(() => this.options.onWaiting?.(message.approvalUrl));
        return;
      case "map":
      case "delta":
        this.onMap(socket, message);
        return;
      case "keepalive":
        this.stats.keepalives++;
        if (message.cursor !== undefined) this.map.noteCursor(message.cursor);
        return;
      case "refused":
        this.finish({ code: message.code, message: message.message, closeCode: 0 });
        return;
      case "signal":
        this.callback(() => this.options.onSignal?.(message));
        return;
    }
  }

  private async login(socket: ControlSocket, hello: HelloMessage, live: () => boolean) {
    try {
      const resume = this.map.resumePoint();
      const rotateFrom = this.rotated ? undefined : this.options.rotateFrom;
      const login = await buildLogin(this.options, this.hostinfo, hello, rotateFrom, resume);
      if (resume !== undefined) this.stats.resumeRequests++;
      if (!live()) return;
      socket.send(encodeClientMessage(login));
    } catch (error) {
      // A hello key that admits no proof (low order), or options the codec refuses.
      this.lastError = error as Error;
      if (live()) this.lost(CONTROL_CLOSE.PROTOCOL, "login failed", false);
    }
  }

  private onMap(socket: ControlSocket, message: ServerMessage & { type: "map" | "delta" }): void {
    const first = this.phase !== "streaming";
    let diff: ReturnType<MapState["apply"]>;
    try {
      diff = this.map.apply(message);
    } catch (error) {
      // A gap or a contradiction: the map can no longer be trusted; ask for a full one.
      this.stats.sequenceErrors++;
      this.lastError = error as Error;
      this.lost(CONTROL_CLOSE.PROTOCOL, (error as Error).message, true);
      return;
    }
    if (message.type === "map") this.stats.fullMaps++;
    else this.stats.deltas++;
    if (first) {
      this.phase = "streaming";
      this.handshakeTimer?.cancel();
      this.backoff.attempt = 0;
      this.rotated = true;
      if (message.type === "delta") this.stats.resumedWithDelta++;
      this.setState("ready");
      const resend = factsToResend(this.facts);
      if (resend !== undefined) this.sendUpdate(socket, resend);
    }
    this.callback(() => this.options.onMap(diff, this.map));
    if (first) {
      const started = this.started;
      this.started = undefined;
      started?.resolve();
    }
  }

  private sendUpdate(socket: ControlSocket, facts: ControlUpdate): void {
    try {
      socket.send(encodeClientMessage({ type: "update", ...facts }));
      this.stats.updatesSent++;
    } catch (error) {
      this.lastError = error as Error;
    }
  }

  private protocolError(error: ControlProtocolError): void {
    this.stats.protocolErrors++;
    this.lastError = error;
    // What was lost cannot be known: resume is off, the next map is a full one.
    this.lost(error.closeCode, error.message, true);
  }

  private onClose(code: number, reason: string): void {
    this.socket = undefined;
    const refusal = closeRefusal(code, reason, this.options.reconnectWhenReplaced);
    if (refusal !== undefined) this.finish(refusal);
    else this.lost(code, reason, closeAsksFullMap(code));
  }

  /** Drops the connection and schedules a reconnect; `fresh` asks for a full map next time. */
  private lost(code: number, reason: string, fresh: boolean): void {
    if (this.leaving !== undefined) {
      // Leaving: the stream ended before the confirmation; do not come back.
      this.close();
      return;
    }
    if (fresh) this.map.forgetSession();
    this.teardown(code, reason);
    if (this.stateValue === "closed" || this.stateValue === "refused") return;
    const delay = controlRetryDelay(this.backoff, this.clock, this.options, this.random);
    this.lastRetryDelayMs = delay;
    this.setState("backoff");
    this.retryTimer = this.clock.setTimer(delay, () => this.connect());
  }

  private settleLogout(confirmed: boolean): void {
    const leaving = this.leaving;
    this.leaving = undefined;
    leaving?.(confirmed);
  }

  /** Stops for good: the server refused this node (or its URL is malformed). */
  private finish(refusal: ControlRefusal): void {
    this.settleLogout(refusal.code === "node_removed");
    if (this.stateValue === "refused" || this.stateValue === "closed") return;
    this.refusal = refusal;
    this.teardown(1000, "refused");
    this.setState("refused");
    this.callback(() => this.options.onRefused?.(refusal));
    const started = this.started;
    this.started = undefined;
    started?.reject(
      new Error(`control server refused this node: ${refusal.code}: ${refusal.message}`),
    );
  }

  private teardown(code: number, reason: string): void {
    this.generation++;
    this.retryTimer?.cancel();
    this.handshakeTimer?.cancel();
    this.watchdog?.cancel();
    if (this.phase === "streaming") this.stats.disconnects++;
    this.phase = "hello";
    const socket = this.socket;
    this.socket = undefined;
    try {
      socket?.close(ownCloseCode(code), closeReason(reason));
    } catch {
      // already closed
    }
  }
}
