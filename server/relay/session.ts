// One client connection: the hello (SERVER_HELLO, CLIENT_HELLO, WELCOME), then frame dispatch,
// the per-client rate limit (reads paused while the token bucket is in debt), fair turns at the
// event loop (read-share.ts: reads paused for a turn after each 64 KiB), and the bounded send
// queue. Routing between clients is the server's (router.ts); this file never looks at
// other clients.

import type { RawData, WebSocket } from "ws";
import { FEATURE_BATCH } from "../../worker/relay/batch.ts";
import { udpEndpoint } from "../../worker/relay/endpoint.ts";
import {
  decodeFrame,
  encodeServerHello,
  encodeUdp,
  encodeUdpError,
  PONG,
  RECV_UDP,
  type RelayEndpoint,
} from "../../worker/relay/frames.ts";
import { TokenBucket } from "./rate-limit.ts";
import { ReadShare } from "./read-share.ts";
import type { HelloCheck, SessionHost } from "./session-host.ts";
import { SessionOutbox } from "./session-outbox.ts";
import type { UdpBridgeClient } from "./udp-bridge-hook.ts";

export type { HelloCheck, QueueTotal, SessionHost } from "./session-host.ts";

/** Close codes of relay protocol v1. */
export const CLOSE_PROTOCOL_ERROR = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
/** A newer connection with the same node key replaced this one (newest wins). */
export const CLOSE_REPLACED = 4409;
export const CLOSE_RESTARTING = 1012;
export const CLOSE_GOING_AWAY = 1001;

/** Log names of UDP_ERROR reasons (frames.ts UDP_REFUSED_*, UDP_UNREACHABLE). */
const UDP_ERROR_NAMES: Record<number, string> = {
  0: "not_allowed",
  1: "special_address",
  2: "socket_limit",
  3: "unreachable",
};

/** Frames a client may send after CLIENT_HELLO, before its WELCOME; more is an error. */
const MAX_PENDING = 256;

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
  /** The queue and the batches of what goes to the client. */
  private readonly outbox: SessionOutbox;
  /** This client's turns at the event loop, so its backlog does not hold up the others. */
  private readonly share: ReadShare;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    remote: string,
    /** The source address group (an IPv4 address or IPv6 /64) the client counts against. */
    readonly source: string,
    private readonly host: SessionHost,
  ) {
    this.remote = remote;
    this.udpClient = { id, key: this.key, allowed: [], source };
    this.bucket = new TokenBucket(host.rate, host.clock());
    this.outbox = new SessionOutbox(ws, host, () => this.state === "closed");
    this.share = new ReadShare(
      host.readBudget,
      (message) => this.dispatch(message),
      (held) => {
        if (held) ws.pause();
        else if (!this.paused) ws.resume();
      },
      () => this.state === "ready",
    );
    globalThis.crypto.getRandomValues(this.challenge);
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (error) => {
      host.logLimited("debug", "socket_error", "", { id, remote, error: error.message });
    });
    ws.on("close", (code, reason) => {
      this.state = "closed";
      this.clearTimers();
      this.outbox.socketClosed();
      const event = this.keyId === "" ? "closed_unauthenticated" : "closed";
      host.logLimited("info", event, "", { id, remote, code, reason: reason.toString() });
      this.doRelease();
    });
    this.helloTimer = setTimeout(() => {
      this.host.metrics.hello("timeout");
      this.host.logLimited("info", "hello_refused", "timeout", { id, remote });
      this.close(CLOSE_UNAUTHORIZED, "hello timeout");
    }, host.helloTimeoutMs);
    this.sendRaw(encodeServerHello(host.relayPublicKey, this.challenge));
  }

  /** Authenticated and not closed. */
  get ready(): boolean {
    return this.state === "ready";
  }

  /**
   * Queues a frame for this client unless a queue cap is reached (SessionOutbox.send); false
   * when dropped. `control`: PONG, PEER_GONE, UDP_ERROR (headroom past the data caps, never
   * batched).
   */
  send(frame: Uint8Array, control = false): boolean {
    if (this.state !== "ready") {
      this.host.metrics.drop("closed");
      return false;
    }
    return this.outbox.send(frame, control);
  }

  /** Sends a frame regardless of the queue caps (hello, WELCOME, HEALTH, RESTARTING). */
  sendRaw(frame: Uint8Array): void {
    this.outbox.sendRaw(frame);
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
    this.send(frame);
  };

  /**
   * Tells the client the bridge refused or bounced a datagram for `endpoint` (UDP_ERROR; the
   * bridge already rate-limits these per endpoint), and logs it within the relay's log budget.
   */
  readonly udpError = (endpoint: RelayEndpoint, reason: number): void => {
    this.host.logLimited("info", "udp_refused", UDP_ERROR_NAMES[reason] ?? "other", {
      id: this.id,
      remote: this.remote,
      endpoint: udpEndpoint(endpoint.address, endpoint.port).key,
      reason: UDP_ERROR_NAMES[reason] ?? reason,
    });
    this.send(encodeUdpError(endpoint, reason), true);
  };

  /** Closes with a WebSocket close code; the session is released at once. */
  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    // What this turn collected goes before the close frame, as v1's frames did.
    this.outbox.flush();
    this.state = "closed";
    this.clearTimers();
    // A paused socket could not read the peer's close reply; what it reads now is ignored.
    if (this.paused || this.share.holding) this.ws.resume();
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

  private doRelease(): void {
    if (this.released) return;
    this.released = true;
    this.pending.length = 0;
    this.share.clear();
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
    this.host.metrics.frameIn(length);
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
        this.share.take(data);
        return;
    }
  }

  private protocolError(reason: string): void {
    if (this.state === "hello" || this.state === "verifying") this.host.metrics.hello("protocol");
    this.host.logLimited("info", "protocol_error", "", {
      id: this.id,
      remote: this.remote,
      reason,
    });
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
        this.host.log.error({ id: this.id, error: String(error) }, "hello_error");
        this.close(1011, "internal error");
      },
    );
  }

  private onVerified(nodeKey: Uint8Array, result: HelloCheck): void {
    if (this.state !== "verifying") return;
    const keyText = Buffer.from(nodeKey).toString("base64");
    if (!result.ok) {
      const outcome = "result" in result ? result.result : "denied";
      this.host.metrics.hello(outcome);
      this.host.logLimited("info", "hello_refused", outcome, {
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
    this.udpClient = { id: this.id, key: nodeKey, allowed: result.udp, source: this.source };
    this.state = "ready";
    this.host.metrics.hello("ok");
    this.host.logLimited("info", "hello", "", { id: this.id, remote: this.remote, key: keyText });
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
      case "batch":
        // decodeBatch let only data frames in; each is handled as if it came alone.
        for (const inner of frame.frames) {
          if (this.state !== "ready") return;
          // A copy: a lone frame queued for a slow client would otherwise keep the whole
          // 64 KiB message alive while the queue caps count only the frame.
          this.dispatch(Buffer.from(inner));
        }
        return;
      case "features":
        this.outbox.batching = (frame.flags & FEATURE_BATCH) !== 0;
        return;
      case "send":
        this.host.forward(this, data, frame.key);
        return;
      case "send-udp":
        this.host.sendUdp(this, frame.endpoint, frame.packet);
        return;
      case "ping":
        data[0] = PONG; // echo the same 8 bytes, in place
        this.send(data, true);
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
    this.host.metrics.rateLimit();
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
    if (!this.share.holding) this.ws.resume();
  };
}
