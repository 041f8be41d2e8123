// One client connection: the hello (SERVER_HELLO, CLIENT_HELLO, WELCOME), then frame dispatch,
// the per-client rate limit (reads paused while the token bucket is in debt), and the bounded
// send queue. Routing between clients is the server's (router.ts); this file never looks at
// other clients.

import type { RawData, WebSocket } from "ws";
import {
  decodeFrame,
  encodeServerHello,
  encodeUdp,
  PONG,
  RECV_UDP,
  type RelayEndpoint,
} from "../../worker/relay/frames.ts";
import type { AuthResult } from "./auth.ts";
import type { RelayLogger } from "./log.ts";
import type { HelloResult, RelayMetrics } from "./metrics.ts";
import { type RelayRate, TokenBucket } from "./rate-limit.ts";
import type { UdpBridgeClient } from "./udp-bridge-hook.ts";

/** Close codes of relay protocol v1. */
export const CLOSE_PROTOCOL_ERROR = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
/** A newer connection with the same node key replaced this one (newest wins). */
export const CLOSE_REPLACED = 4409;
export const CLOSE_RESTARTING = 1012;
export const CLOSE_GOING_AWAY = 1001;

/** Frames a client may send after CLIENT_HELLO, before its WELCOME; more is an error. */
const MAX_PENDING = 256;
/** Extra queue slots for control frames beyond the data queue limit. */
const CONTROL_HEADROOM = 64;

/** The result of checking a CLIENT_HELLO: proof, then authorization. */
export type HelloCheck = AuthResult | { ok: false; reason: string; result: HelloResult };

/** What a session needs from the relay server. */
export interface SessionHost {
  readonly metrics: RelayMetrics;
  readonly log: RelayLogger;
  readonly clock: () => number;
  readonly rate: RelayRate;
  readonly queueLimit: number;
  readonly helloTimeoutMs: number;
  readonly relayPublicKey: Uint8Array;
  /** The WELCOME frame every client gets. */
  readonly welcome: Uint8Array;
  /** Checks the proof over `challenge`, then authorization. */
  verifyHello(
    nodeKey: Uint8Array,
    proof: Uint8Array,
    token: string,
    challenge: Uint8Array,
  ): Promise<HelloCheck>;
  /**
   * The session is authenticated and has its WELCOME: register it (closing an older one with
   * the same key) and send it any current HEALTH.
   */
  admit(session: RelaySession): void;
  /** A SEND frame (the whole message, which the host may rewrite in place as RECV). */
  forward(from: RelaySession, message: Buffer, destination: Uint8Array): void;
  /** A SEND_UDP frame. */
  sendUdp(from: RelaySession, endpoint: RelayEndpoint, packet: Uint8Array): void;
  /** The session is over (called once, as soon as the relay closes it or the socket ends). */
  release(session: RelaySession): void;
}

type State = "hello" | "verifying" | "ready" | "closed";

/** Latin-1 string of a key's bytes: a cheap Map key. */
export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** A client connection. */
export class RelaySession {
  /** The proven node key (empty until WELCOME). */
  key: Uint8Array = new Uint8Array(0);
  /** keyId(key). */
  keyId = "";
  /** What the UDP bridge is told about this client. */
  udpClient: UdpBridgeClient;
  /** Frames handed to the socket and not yet written. */
  queued = 0;
  /** Answered a keepalive (or sent anything) since the last sweep. */
  alive = true;
  /** Reads paused by the rate limit. */
  paused = false;
  /** Clients that sent to this one, and when last (for PEER_GONE on disconnect). */
  readonly recentSenders = new Map<RelaySession, number>();
  /** Destinations this client was told "not here", and when (PEER_GONE rate limit). */
  readonly notHere = new Map<string, number>();
  /** The remote address, for logs. */
  readonly remote: string;

  private state: State = "hello";
  private released = false;
  private readonly challenge = new Uint8Array(32);
  private readonly bucket: TokenBucket;
  private readonly pending: Buffer[] = [];
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    remote: string,
    private readonly host: SessionHost,
  ) {
    this.remote = remote;
    this.udpClient = { id, key: this.key, allowed: [] };
    this.bucket = new TokenBucket(host.rate, host.clock());
    globalThis.crypto.getRandomValues(this.challenge);
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (error) => {
      host.log("debug", "socket_error", { id, remote, error: error.message });
    });
    ws.on("close", (code, reason) => {
      this.state = "closed";
      this.clearTimers();
      host.log("info", "closed", { id, remote, code, reason: reason.toString() });
      this.doRelease();
    });
    this.helloTimer = setTimeout(() => {
      this.host.metrics.hello("timeout");
      this.close(CLOSE_UNAUTHORIZED, "hello timeout");
    }, host.helloTimeoutMs);
    this.sendRaw(encodeServerHello(host.relayPublicKey, this.challenge));
  }

  /** Authenticated and not closed. */
  get ready(): boolean {
    return this.state === "ready";
  }

  /**
   * Queues a frame for this client unless its queue is full; false when dropped. Control
   * frames (PONG, PEER_GONE) get CONTROL_HEADROOM extra slots, so a full data queue does not
   * starve keepalives.
   */
  send(frame: Uint8Array, control = false): boolean {
    if (this.state !== "ready") return false;
    if (this.queued >= this.host.queueLimit + (control ? CONTROL_HEADROOM : 0)) return false;
    this.sendRaw(frame);
    return true;
  }

  /** Sends a frame regardless of the queue limit (hello, WELCOME, HEALTH, RESTARTING). */
  sendRaw(frame: Uint8Array): void {
    if (this.state === "closed") return;
    this.queued++;
    this.host.metrics.framesOut++;
    this.host.metrics.bytesOut += frame.length;
    this.ws.send(frame, this.onSent);
  }

  /** Delivers a UDP reply from the bridge as RECV_UDP. */
  readonly deliverUdp = (endpoint: RelayEndpoint, packet: Uint8Array): void => {
    let frame: Uint8Array;
    try {
      frame = encodeUdp(RECV_UDP, endpoint, packet);
    } catch {
      this.host.metrics.drop("udp_bad_packet");
      return;
    }
    if (!this.send(frame)) this.host.metrics.drop(this.ready ? "queue_full" : "closed");
  };

  /** Closes with a WebSocket close code; the session is released at once. */
  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.clearTimers();
    // A rate-paused socket could not read the peer's close reply; what it reads now is ignored.
    if (this.paused) this.ws.resume();
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
    this.doRelease();
  }

  /** Drops the connection without a close handshake (dead peer). */
  terminate(): void {
    this.state = "closed";
    this.clearTimers();
    this.ws.terminate();
    this.doRelease();
  }

  private readonly onSent = (): void => {
    this.queued--;
  };

  private doRelease(): void {
    if (this.released) return;
    this.released = true;
    this.pending.length = 0;
    this.host.release(this);
  }

  private clearTimers(): void {
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.helloTimer = undefined;
    this.resumeTimer = undefined;
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === "closed") return;
    this.alive = true;
    const length = Buffer.isBuffer(data) ? data.length : 0;
    this.host.metrics.framesIn++;
    this.host.metrics.bytesIn += length;
    this.charge(length);
    if (!isBinary || !Buffer.isBuffer(data)) {
      this.protocolError("text message");
      return;
    }
    switch (this.state) {
      case "hello":
        this.onHello(data);
        return;
      case "verifying":
        if (this.pending.length >= MAX_PENDING)
          this.protocolError("too many frames before WELCOME");
        else this.pending.push(data);
        return;
      case "ready":
        this.dispatch(data);
        return;
    }
  }

  private protocolError(reason: string): void {
    if (this.state === "hello" || this.state === "verifying") this.host.metrics.hello("protocol");
    this.host.log("info", "protocol_error", { id: this.id, remote: this.remote, reason });
    this.close(CLOSE_PROTOCOL_ERROR, reason);
  }

  private onHello(data: Buffer): void {
    const frame = decodeFrame(data);
    if (frame.type !== "client-hello") {
      this.protocolError(
        frame.type === "invalid" ? frame.error : `expected CLIENT_HELLO, got ${frame.type}`,
      );
      return;
    }
    this.state = "verifying";
    const nodeKey = new Uint8Array(frame.nodeKey);
    const proof = new Uint8Array(frame.proof);
    this.host.verifyHello(nodeKey, proof, frame.token, this.challenge).then(
      (result) => this.onVerified(nodeKey, result),
      (error: unknown) => {
        this.host.log("error", "hello_error", { id: this.id, error: String(error) });
        this.close(1011, "internal error");
      },
    );
  }

  private onVerified(nodeKey: Uint8Array, result: HelloCheck): void {
    if (this.state !== "verifying") return;
    const keyText = Buffer.from(nodeKey).toString("base64");
    if (!result.ok) {
      this.host.metrics.hello("result" in result ? result.result : "denied");
      this.host.log("info", "hello_refused", {
        id: this.id,
        remote: this.remote,
        key: keyText,
        reason: result.reason,
      });
      this.close(CLOSE_UNAUTHORIZED, result.reason);
      return;
    }
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
    this.key = nodeKey;
    this.keyId = keyId(nodeKey);
    this.udpClient = { id: this.id, key: nodeKey, allowed: result.udp };
    this.state = "ready";
    this.host.metrics.hello("ok");
    this.host.log("info", "hello", { id: this.id, remote: this.remote, key: keyText });
    this.sendRaw(this.host.welcome);
    this.host.admit(this);
    const pending = this.pending.splice(0);
    for (const message of pending) {
      if (this.state !== "ready") break;
      this.dispatch(message);
    }
  }

  private dispatch(data: Buffer): void {
    const frame = decodeFrame(data);
    switch (frame.type) {
      case "send":
        this.host.forward(this, data, frame.key);
        return;
      case "send-udp":
        this.host.sendUdp(this, frame.endpoint, frame.packet);
        return;
      case "ping":
        data[0] = PONG; // echo the same 8 bytes, in place
        if (!this.send(data, true)) this.host.metrics.drop("queue_full");
        return;
      case "pong":
      case "unknown":
        return; // v1 ignores unknown types; PONG answers nothing we track
      case "invalid":
        this.protocolError(frame.error);
        return;
      default:
        this.protocolError(`unexpected ${frame.type} frame from a client`);
    }
  }

  /** Charges received bytes; pauses reading while the bucket is in debt. */
  private charge(bytes: number): void {
    const wait = this.bucket.take(bytes, this.host.clock());
    if (wait === 0 || this.paused) return;
    this.paused = true;
    this.host.metrics.rateLimited++;
    this.ws.pause();
    this.resumeTimer = setTimeout(this.tryResume, wait);
  }

  private readonly tryResume = (): void => {
    this.resumeTimer = undefined;
    if (this.state === "closed") return;
    const wait = this.bucket.take(0, this.host.clock());
    if (wait > 0) {
      this.resumeTimer = setTimeout(this.tryResume, wait);
      return;
    }
    this.paused = false;
    this.ws.resume();
  };
}
