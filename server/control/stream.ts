// The `/control` WebSocket (docs/control.md, "Map stream (server side)"): the upgrade's checks
// (path, Origin, subprotocol), the hello with the server's X25519 key and a fresh challenge,
// the login within 5 s, the proof (the relay hello's construction), then registration
// (registration.ts) and the map (hub.ts). After that, the node sends only `update`s. Anything
// malformed closes the stream with the codec's code (4400, or 1009 for an oversized message);
// a binary message with 1003.

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { decodeClientMessage } from "../../worker/control/codec.ts";
import { ControlProtocolError } from "../../worker/control/errors.ts";
import {
  CONTROL_CLOSE,
  CONTROL_PATH,
  CONTROL_PROTOCOL,
  type LoginMessage,
  MAX_CONTROL_MESSAGE,
  type ServerMessage,
} from "../../worker/control/messages.ts";
import { expectedControlProof } from "../../worker/control/proof.ts";
import { CLOSE_UNSUPPORTED_DATA } from "../../worker/control/socket.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import type { X25519Provider } from "../../worker/crypto/x25519.ts";
import { keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { refuseUpgrade } from "../relay/http-plain.ts";
import type { ApprovalDesk } from "./approvals.ts";
import { RateLimiter, type RateLimitOptions } from "./auth/rate-limit.ts";
import { HomeRelayCheck } from "./home-relay.ts";
import type { Hub, NodeLink } from "./hub.ts";
import type { ControlMetrics } from "./metrics.ts";
import type { Registrar } from "./registration.ts";
import type { SignalRouter } from "./signals.ts";
import type { Clock } from "./state/clock.ts";
import { type NodeRecord, StoreUnavailableError } from "./store/types.ts";

/** A node must log in within this long after the hello. */
export const LOGIN_TIMEOUT_MS = 5000;

/** The close reason (with 4429) of a login the database could not serve: the client retries. */
export const DATABASE_AWAY_REASON = "the database cannot be reached: try again shortly";

/** Registrations (logins of unknown keys) per source address: 20 at once, then one a second. */
export const REGISTRATION_RATE: RateLimitOptions = { burst: 20, perSecond: 1 };

/** What the stream needs. */
export interface ControlStreamOptions {
  hub: Hub;
  registrar: Registrar;
  /** Where attached nodes' `signal` messages go (signals.ts). */
  signals: Pick<SignalRouter, "route">;
  approvals: ApprovalDesk;
  /** The hello's X25519 private key (MeshSettings.helloKey, 32 bytes). */
  helloKey: Uint8Array;
  crypto: CryptoCore;
  x25519: X25519Provider;
  /** Browser origins allowed to open the stream (a browser always sends Origin). */
  origins: readonly string[];
  clock: Clock;
  /** A node record was created or changed by a login: the mapper must have it first. */
  nodeChanged: (node: NodeRecord) => void;
  loginTimeoutMs?: number;
  registrationRate?: RateLimitOptions;
  log?: Logger;
  metrics?: ControlMetrics;
  /** The map's relay ids: a reported home relay must be one of them (home-relay.ts). */
  relayIds?: readonly string[];
}

type Phase = "hello" | "login" | "waiting" | "attached" | "closed";

interface Conn {
  ws: WebSocket;
  req: IncomingMessage;
  challenge: Uint8Array;
  phase: Phase;
  nodeId?: number;
  link?: NodeLink;
  approvalId?: string;
  cancelTimeout?: () => void;
  /** The upgraded socket (corked while a turn's frames gather: corkedSend). */
  socket: Duplex;
  corked?: boolean;
  /** Reported home relays ignored on this stream (home-relay.ts). */
  badHomeRelays?: number;
}

/** The map stream endpoint. */
export class ControlStream {
  private readonly wss: WebSocketServer;
  private readonly origins: Set<string>;
  private readonly registrations: RateLimiter;
  private readonly conns = new Set<Conn>();
  /** Unset without `relayIds`: any reported id is taken. */
  readonly homeRelays: HomeRelayCheck | undefined;
  private closing = false;

  private constructor(
    private readonly options: ControlStreamOptions,
    private readonly helloPublic: string,
  ) {
    this.origins = new Set(options.origins);
    this.homeRelays =
      options.relayIds === undefined
        ? undefined
        : new HomeRelayCheck(options.relayIds, options.log);
    this.registrations = new RateLimiter(options.registrationRate ?? REGISTRATION_RATE);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_CONTROL_MESSAGE,
      handleProtocols: (offered) => (offered.has(CONTROL_PROTOCOL) ? CONTROL_PROTOCOL : false),
    });
  }

  /** Derives the hello's public key; throws when the private key is not 32 bytes. */
  static async create(options: ControlStreamOptions): Promise<ControlStream> {
    const publicKey = await options.x25519.publicKey(options.helloKey);
    return new ControlStream(options, keyToBase64(publicKey));
  }

  /** The hello's public key (base64): what nodes compute their proof against. */
  get serverKey(): string {
    return this.helloPublic;
  }

  /** Open streams (any phase). */
  get connections(): number {
    return this.conns.size;
  }

  /** For the HTTP server's "upgrade" event on path /control. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refusal = this.refusal(req);
    if (refusal !== null) {
      refuseUpgrade(socket, ...refusal);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, req, socket));
  };

  /** Why an upgrade is refused (status, status text, a line for people), or null. */
  private refusal(req: IncomingMessage): [number, string, string] | null {
    const path = (req.url ?? "").split("?")[0];
    if (path !== CONTROL_PATH) return [404, "Not Found", "no map stream here"];
    if (this.closing) return [503, "Service Unavailable", "the control server is closing"];
    // Browsers always send Origin: only the listed pages may open the stream (with the user's
    // session cookie). Agents send none and prove themselves like everyone else.
    const origin = req.headers.origin;
    if (origin !== undefined && !this.origins.has(origin)) {
      return [403, "Forbidden", "pages of that origin may not join the mesh"];
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(CONTROL_PROTOCOL)) {
      return [400, "Bad Request", `subprotocol ${CONTROL_PROTOCOL} required`];
    }
    return null;
  }

  /** Refuses new streams and closes the open ones (1012: restarting, come back). */
  async close(): Promise<void> {
    this.closing = true;
    for (const conn of this.conns) {
      if (conn.phase !== "attached") conn.ws.close(1012, "server restarting");
    }
    this.wss.close();
    await this.options.hub.close();
  }

  private open(ws: WebSocket, req: IncomingMessage, socket: Duplex): void {
    const conn: Conn = { ws, req, socket, challenge: randomBytes(32), phase: "hello" };
    this.conns.add(conn);
    this.send(conn, {
      type: "hello",
      version: 1,
      serverKey: this.helloPublic,
      challenge: keyToBase64(conn.challenge),
    });
    conn.cancelTimeout = this.options.clock.setTimer(
      () => this.fail(conn, CONTROL_CLOSE.UNAUTHENTICATED, "no login in time"),
      this.options.loginTimeoutMs ?? LOGIN_TIMEOUT_MS,
    );
    socket.on("drain", () => {
      if (conn.phase === "attached") this.options.hub.drain(conn.nodeId!);
    });
    ws.on("message", (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on("error", () => {}); // the close event follows; oversized frames close with 1009
    ws.on("close", () => this.onClose(conn));
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.phase === "closed") return;
    if (isBinary) {
      this.fail(conn, CLOSE_UNSUPPORTED_DATA, "binary message: JSON text only");
      return;
    }
    let message: ReturnType<typeof decodeClientMessage>;
    try {
      message = decodeClientMessage(rawText(data));
    } catch (error) {
      if (!(error instanceof ControlProtocolError)) throw error;
      this.fail(conn, error.closeCode, error.message);
      return;
    }
    if (conn.phase === "hello" && message.type === "login") {
      conn.phase = "login";
      conn.cancelTimeout?.(); // the login came in time; registration may take longer
      this.login(conn, message).catch((error: unknown) => {
        if (error instanceof StoreUnavailableError) {
          // Not a refusal (`refused` would stop the client for good): 4429, come back later.
          this.options.log?.warn({ err: String(error) }, "login: database away");
          this.fail(conn, CONTROL_CLOSE.TOO_SLOW, DATABASE_AWAY_REASON);
          return;
        }
        this.options.log?.error({ err: String(error) }, "login failed");
        this.fail(conn, 1011, "internal error");
      });
      return;
    }
    if (conn.phase === "attached" && message.type === "update") {
      const { endpoints, hostinfo } = message;
      const homeRelay =
        this.homeRelays === undefined
          ? message.homeRelay
          : this.homeRelays.check(conn, message.homeRelay);
      this.options.hub.update(conn.nodeId!, { endpoints, homeRelay });
      if (hostinfo !== undefined) this.hostinfo(conn.nodeId!, hostinfo);
      return;
    }
    if (conn.phase === "attached" && message.type === "signal") {
      const { bye } = this.options.signals.route(conn.nodeId!, message);
      // Nothing new to a client that did not list the capability (it would not decode it).
      if (bye !== undefined && conn.link?.signals === true) this.send(conn, bye);
      return;
    }
    if (conn.phase === "attached" && message.type === "logout") {
      const nodeId = conn.nodeId!;
      this.options.hub.removeNode(nodeId, "logged out").catch((error: unknown) => {
        this.options.log?.warn({ node: nodeId, err: String(error) }, "logout: node not removed");
        this.fail(conn, 1011, "internal error");
      });
      return;
    }
    this.fail(conn, CONTROL_CLOSE.PROTOCOL, `${message.type} is not expected now`);
  }

  private async login(conn: Conn, login: LoginMessage): Promise<void> {
    const proven =
      (await this.proven(login.nodeKey, login.proof, conn.challenge)) &&
      (login.rotateFrom === undefined ||
        (await this.proven(login.rotateFrom.nodeKey, login.rotateFrom.proof, conn.challenge)));
    if (!proven) {
      this.options.metrics?.login("bad_proof");
      this.fail(conn, CONTROL_CLOSE.UNAUTHENTICATED, "bad proof");
      return;
    }
    if (isClosed(conn)) return;
    const known = this.options.hub.knows(login.nodeKey);
    if (!known && login.rotateFrom === undefined) {
      const address = conn.req.socket.remoteAddress ?? "";
      const decision = this.registrations.take(address, this.options.clock.now());
      if (!decision.ok) {
        // Not a refusal for good (`refused` would stop the client): 4429, come back later.
        this.options.metrics?.login("rate_limited");
        this.fail(
          conn,
          CONTROL_CLOSE.TOO_SLOW,
          `too many registrations: retry in ${decision.retryAfterSeconds} s`,
        );
        return;
      }
    }
    const outcome = await this.options.registrar.login(login, conn.req, { unknown: !known });
    this.options.metrics?.login(
      outcome.kind === "refused" ? outcome.code : outcome.kind === "node" ? outcome.via : "waiting",
    );
    if (outcome.kind === "refused") return this.refuse(conn, outcome.code, outcome.message);
    if (outcome.kind === "node") {
      if (outcome.changed) this.options.nodeChanged(outcome.node);
      return this.attach(conn, outcome.node.id, login);
    }
    if (isClosed(conn)) return;
    conn.cancelTimeout?.();
    conn.phase = "waiting";
    const { pending, url } = this.options.approvals.open(
      {
        nodeKey: login.nodeKey,
        hostname: login.hostinfo.hostname,
        os: login.hostinfo.os,
        requestedTags: login.tags ?? [],
      },
      {
        approve: async (userId, tags) => {
          const node = await this.options.registrar.approve(login, userId, tags);
          this.options.metrics?.login("registered");
          this.options.nodeChanged(node);
          await this.attach(conn, node.id, login);
        },
        deny: () => this.refuse(conn, "approval_denied", "a person denied this node's request"),
      },
    );
    conn.approvalId = pending.id;
    conn.cancelTimeout = this.options.clock.setTimer(
      () =>
        this.refuse(conn, "approval_expired", "nobody approved this node in time: connect again"),
      pending.expiresAt - this.options.clock.now(),
    );
    this.send(conn, { type: "waiting", approvalUrl: url });
  }

  private async attach(conn: Conn, nodeId: number, login: LoginMessage): Promise<void> {
    // Only then an await: a registration's upsert and its online patch stay in one delta.
    if (login.resume?.cursor !== undefined) {
      await this.options.hub.prepareResume(login.resume);
      // Removed while it waited (an admin, a revoked share): refused, as it would be at login.
      if (!this.options.hub.knows(login.nodeKey)) {
        return this.refuse(conn, "node_removed", "this node was removed from the mesh");
      }
    }
    conn.cancelTimeout?.();
    if (conn.phase === "closed") {
      // It left while registering: an ephemeral node still goes after the grace period.
      this.options.hub.streamEnded(nodeId);
      return;
    }
    conn.phase = "attached";
    conn.nodeId = nodeId;
    const ws = conn.ws;
    const signals = login.caps?.includes("signal") === true;
    conn.link = {
      signals,
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      send: (text) => corkedSend(conn, text),
      close: (code, reason) => this.fail(conn, code, reason),
    };
    this.options.hub.attach(nodeId, conn.link, login.resume);
  }

  private hostinfo(nodeId: number, hostinfo: NonNullable<LoginMessage["hostinfo"]>): void {
    this.options.hub
      .hostinfo(nodeId, hostinfo)
      .then((node) => {
        if (node !== null) this.options.nodeChanged(node);
      })
      .catch((error: unknown) =>
        this.options.log?.warn({ err: String(error) }, "hostinfo not stored"),
      );
  }

  private async proven(nodeKey: string, proof: string, challenge: Uint8Array): Promise<boolean> {
    let expected: Uint8Array;
    let given: Uint8Array;
    try {
      given = keyFromBase64(proof, "proof");
      expected = await expectedControlProof(
        this.options.crypto,
        this.options.x25519,
        this.options.helloKey,
        nodeKey,
        challenge,
      );
    } catch {
      return false; // not a key, or a low-order one
    }
    return timingSafeEqual(expected, given);
  }

  /** `refused` then 4403: the client stops for good. */
  private refuse(conn: Conn, code: string, message: string): void {
    if (conn.phase === "closed") return;
    this.send(conn, { type: "refused", code, message });
    this.fail(conn, CONTROL_CLOSE.REFUSED, code);
  }

  private fail(conn: Conn, code: number, reason: string): void {
    conn.cancelTimeout?.();
    if (conn.phase !== "closed") this.onClose(conn);
    conn.ws.close(code, closeReason(reason));
  }

  private onClose(conn: Conn): void {
    if (conn.phase === "closed") return;
    const phase = conn.phase;
    conn.phase = "closed";
    conn.cancelTimeout?.();
    this.conns.delete(conn);
    if (phase === "attached") this.options.hub.detach(conn.nodeId!, conn.link!);
    if (conn.approvalId !== undefined) this.options.approvals.cancel(conn.approvalId);
  }

  private send(conn: Conn, message: ServerMessage): void {
    if (conn.phase !== "closed") conn.ws.send(JSON.stringify(message));
  }
}

/**
 * Sends a frame with the socket corked until the end of this turn of the event loop
 * (setImmediate), so every delta and map a node gets in one turn leaves in one write. Each
 * registration sends a small delta to every peer that sees the new node, and several
 * registrations finish per turn under load: one writev system call per frame was the control
 * server's largest cost per join (docs/control.md, Benchmark). ws corks around each frame
 * itself; corks nest, so its uncork leaves ours in place and the data waits for ours.
 */
function corkedSend(conn: Conn, text: string): void {
  if (!conn.corked && !conn.socket.destroyed) {
    conn.corked = true;
    conn.socket.cork();
    setImmediate(() => {
      conn.corked = false;
      conn.socket.uncork();
    });
  }
  conn.ws.send(text);
}

/** Reads the phase afresh after an await (the stream may have closed meanwhile). */
function isClosed(conn: Conn): boolean {
  return conn.phase === "closed";
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data as ArrayBuffer).toString("utf8");
}

/** A close reason fits in 123 bytes of UTF-8. */
function closeReason(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  return bytes.length <= 123
    ? text
    : bytes
        .subarray(0, 120)
        .toString("utf8")
        .replace(/\uFFFD$/, "");
}
