// The relay server (DESIGN §4, issue 6): node:http + ws on path /relay with subprotocol
// corridor-relay.v1, plus /healthz and /metrics. It forwards ciphertext between clients by
// node key and never decrypts anything. Newest wins: a second connection with the same node
// key closes the older one with code 4409 "replaced".

import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import type { X25519Provider } from "../../worker/crypto/x25519.ts";
import { WELCOME_FEATURE_BATCH } from "../../worker/relay/batch.ts";
import {
  encodeText,
  HEALTH,
  KEY_LENGTH,
  MAX_PACKET,
  RELAY_SUBPROTOCOL,
  type RelayEndpoint,
  WELCOME,
} from "../../worker/relay/frames.ts";
import { expectedProof } from "../../worker/relay/proof.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { nodeX25519 } from "../crypto/x25519-node.ts";
import { createLogger, type EventLevel, type Logger } from "../log.ts";
import { DEFAULT_LOG_LIMIT, RateLimitedLog } from "../log-limit.ts";
import { RelayAuthorizer } from "./auth.ts";
import type { ConnectionSlot } from "./connection-slots.ts";
import { answerRequest, type RelayEndpoints, refuseUpgrade } from "./http-plain.ts";
import { RelayMetrics } from "./metrics.ts";
import { checkOptions, RELAY_DEFAULTS, type RelayOptions, welcomeJson } from "./options.ts";
import type { RelayRate } from "./rate-limit.ts";
import { RELAY_PATH, RelayGate } from "./relay-gate.ts";
import { closeSessions } from "./relay-shutdown.ts";
import { Router } from "./router.ts";
import { type HelloCheck, type QueueTotal, RelaySession, type SessionHost } from "./session.ts";

export { RELAY_PATH } from "./relay-gate.ts";
/** The largest message: type byte, key, packet. Bigger ones close with 1009. */
export const MAX_MESSAGE = 1 + KEY_LENGTH + MAX_PACKET;

/** What close() may announce. */
export interface RelayCloseOptions {
  /** Send RESTARTING (reconnect in, try for) to every client, then close them with 1012. */
  restarting?: { reconnectInMs: number; tryForMs: number };
}

/** A running relay. Start one with startRelay(). */
export class RelayServer implements SessionHost {
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  readonly clock: () => number;
  readonly rate: RelayRate;
  readonly queueLimit: number;
  readonly queueBytes: number;
  readonly queueTotal: QueueTotal;
  readonly helloTimeoutMs: number;
  readonly readBudget: number;
  readonly welcome: Uint8Array;
  readonly relayId: string;

  private readonly router: Router;
  private readonly authorizer: RelayAuthorizer;
  private readonly sessions = new Set<RelaySession>();
  private readonly wss: WebSocketServer;
  private readonly http: Server;
  private readonly gate: RelayGate;
  private readonly limitedLog: RateLimitedLog;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private nextId = 1;
  /** Each session's connection slot (given back when its socket closes). */
  private readonly slotOf = new WeakMap<RelaySession, ConnectionSlot>();
  private closing: Promise<void> | undefined;
  private restartingNow = false;
  private health = "";

  private constructor(
    private readonly options: RelayOptions,
    private readonly privateKey: Uint8Array,
    /** The relay's static X25519 public key (sent in SERVER_HELLO). */
    readonly relayPublicKey: Uint8Array,
    private readonly core: CryptoCore,
    private readonly x25519: X25519Provider,
  ) {
    this.clock = options.clock ?? Date.now;
    this.log = (options.logger ?? createLogger({ sink: options.log, clock: this.clock })).child({
      component: "relay",
    });
    this.rate = options.rate ?? RELAY_DEFAULTS.rate;
    this.queueLimit = options.queueLimit ?? RELAY_DEFAULTS.queueLimit;
    this.queueBytes = options.queueBytes ?? RELAY_DEFAULTS.queueBytes;
    this.queueTotal = {
      bytes: 0,
      maxBytes: options.maxQueuedBytes ?? RELAY_DEFAULTS.maxQueuedBytes,
    };
    const bridge = options.udpBridge;
    this.metrics = new RelayMetrics(
      {
        udpSockets: () => bridge?.sockets?.(),
        queuedBytes: () => this.queueTotal.bytes,
        udpRefused: () => bridge?.refusals?.(),
      },
      options.metrics,
    );
    this.gate = new RelayGate(options, this.metrics);
    this.limitedLog = new RateLimitedLog(
      this.log,
      options.logLimit ?? DEFAULT_LOG_LIMIT,
      this.clock,
      (lines) => this.metrics.suppressLog(lines),
    );
    this.helloTimeoutMs = options.helloTimeoutMs ?? RELAY_DEFAULTS.helloTimeoutMs;
    this.readBudget = options.readBudget ?? RELAY_DEFAULTS.readBudget;
    this.relayId = options.relayId;
    this.authorizer = new RelayAuthorizer(options.auth, options.relayId);
    this.router = new Router(this.metrics, this.clock);
    // `features`: what this relay accepts beyond v1 (batch.ts: FEATURES and BATCH).
    this.welcome = encodeText(WELCOME, welcomeJson(options, [WELCOME_FEATURE_BATCH]));
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) =>
        protocols.has(RELAY_SUBPROTOCOL) ? RELAY_SUBPROTOCOL : false,
    });
    const endpoints: RelayEndpoints = {
      hostAllowed: (host) => this.gate.hostAllowed(host),
      hostRefused: (req) => {
        this.metrics.refuseHost();
        this.limitedLog.log("info", "host_refused", "", {
          remote: req.socket.remoteAddress,
          host: String(req.headers.host ?? "").slice(0, 100),
        });
      },
      healthy: () => !this.restartingNow && this.closing === undefined,
      metrics: this.metrics.registry,
      fallback: options.httpFallback,
    };
    this.http = createServer((req, res) => answerRequest(req, res, RELAY_PATH, endpoints));
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    const clientError = options.clientErrorFallback;
    if (clientError !== undefined) {
      // A listener replaces Node's default answer: given back to it when the fallback passes.
      this.http.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
        if (!clientError(error, socket)) defaultClientError(error, socket);
      });
    }
  }

  /** Starts a relay: loads crypto, derives or generates the key, listens. */
  static async start(options: RelayOptions): Promise<RelayServer> {
    checkOptions(options);
    const x25519 = options.x25519 ?? nodeX25519;
    const core = options.crypto ?? (await initCrypto());
    const privateKey = options.privateKey
      ? new Uint8Array(options.privateKey)
      : generatePrivateKey();
    const publicKey = await x25519.publicKey(privateKey);
    const relay = new RelayServer(options, privateKey, publicKey, core, x25519);
    await relay.listen();
    return relay;
  }

  /** The bound port. */
  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** The WebSocket URL clients connect to. */
  get url(): string {
    const { address, family } = this.http.address() as AddressInfo;
    const host = family === "IPv6" ? `[${address}]` : address;
    return `ws://${host}:${this.port}${RELAY_PATH}`;
  }

  /** Browser origins the relay accepts (Origin header values), sorted. */
  get allowedOrigins(): string[] {
    return this.gate.allowedOrigins;
  }

  /** Open sockets from an address group (an IPv4 address or IPv6 /64, see addressGroup). */
  connectionsFrom(group: string): number {
    return this.gate.connectionsFrom(group);
  }

  /** Authenticated clients. */
  get clientCount(): number {
    return this.router.size;
  }

  /** True from the start of close({ restarting }) on (/healthz answers 503). */
  get restarting(): boolean {
    return this.restartingNow;
  }

  /** Broadcasts HEALTH(text) to every client, and to later ones; "" means healthy again. */
  setHealth(text: string): void {
    this.health = text;
    const frame = encodeText(HEALTH, text);
    for (const session of this.router.sessions()) session.sendRaw(frame);
  }

  /**
   * Stops the relay: refuses new connections, sends RESTARTING first when asked, closes every
   * client (1012 when restarting, else 1001), waits up to closeGraceMs for them, then closes
   * the HTTP server and the UDP bridge.
   */
  close(options: RelayCloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  // ---- SessionHost ----

  logLimited(
    level: EventLevel,
    event: string,
    kind: string,
    fields: Record<string, unknown>,
  ): void {
    this.limitedLog.log(level, event, kind, fields);
  }

  async verifyHello(
    nodeKey: Uint8Array,
    proof: Uint8Array,
    token: string,
    challenge: Uint8Array,
  ): Promise<HelloCheck> {
    let expected: Uint8Array;
    try {
      expected = await expectedProof(this.core, this.x25519, this.privateKey, nodeKey, challenge);
    } catch {
      return { ok: false, reason: "bad proof", result: "bad_proof" }; // e.g. a low-order key
    }
    if (!timingSafeEqual(expected, proof)) {
      return { ok: false, reason: "bad proof", result: "bad_proof" };
    }
    return this.authorizer.check(nodeKey, token, this.clock());
  }

  admit(session: RelaySession): void {
    this.metrics.client(1);
    this.slotOf.get(session)?.authenticated();
    const older = this.router.register(session);
    if (older !== undefined && older !== session) {
      this.log.info({ id: older.id, by: session.id }, "replaced");
    }
    if (this.health !== "") session.sendRaw(encodeText(HEALTH, this.health));
  }

  forward(from: RelaySession, message: Buffer, destination: Uint8Array): void {
    this.router.forward(from, message, destination);
  }

  sendUdp(from: RelaySession, endpoint: RelayEndpoint, packet: Uint8Array): void {
    const bridge = this.options.udpBridge;
    if (bridge === undefined) {
      this.metrics.drop("no_udp_bridge");
      return;
    }
    let accepted = false;
    try {
      accepted = bridge.send(from.udpClient, endpoint, packet, from.deliverUdp, from.udpError);
    } catch (error) {
      this.log.error({ id: from.id, error: String(error) }, "udp_bridge_error");
    }
    if (!accepted) this.metrics.drop("udp_refused");
  }

  release(session: RelaySession): void {
    if (!this.sessions.delete(session)) return;
    if (session.keyId !== "") {
      this.metrics.client(-1);
      this.router.unregister(session);
      try {
        this.options.udpBridge?.closeClient(session.id);
      } catch (error) {
        this.log.error({ id: session.id, error: String(error) }, "udp_bridge_error");
      }
    }
  }

  // ---- HTTP and upgrades ----

  private listen(): Promise<void> {
    const host = this.options.host ?? RELAY_DEFAULTS.host;
    const port = this.options.port ?? RELAY_DEFAULTS.port;
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, host, () => {
        this.http.off("error", reject);
        // Only now is the port known, and with it the page's own origins.
        this.gate.listening(host, this.port);
        this.http.on("error", (error) => this.log.error({ error: error.message }, "http_error"));
        const interval = this.options.pingIntervalMs ?? RELAY_DEFAULTS.pingIntervalMs;
        this.sweepTimer = setInterval(() => this.sweep(), interval);
        this.sweepTimer.unref();
        this.limitedLog.start();
        this.log.info(
          {
            url: this.url,
            relay: this.relayId,
            auth: this.options.auth.mode,
            origins: this.allowedOrigins,
            key: Buffer.from(this.relayPublicKey).toString("base64"),
          },
          "listening",
        );
        resolve();
      });
    });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    // Another part on this port (the control server's /control) takes its own upgrades.
    const fallback = this.options.upgradeFallback;
    if (fallback !== undefined && (req.url ?? "").split("?")[0] !== RELAY_PATH) {
      if (fallback(req, socket, head)) return;
    }
    const refused = this.gate.check(req, this.closing !== undefined);
    if (Array.isArray(refused)) {
      const [status, statusText, text, reason] = refused;
      this.metrics.reject(reason);
      this.limitedLog.log("info", "upgrade_refused", reason, {
        remote: req.socket.remoteAddress,
        reason,
      });
      refuseUpgrade(socket, status, statusText, text);
      return;
    }
    const slot = refused;
    // The slot is given back when the TCP socket is gone, however the connection ends.
    socket.once("close", () => slot.release());
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closing !== undefined) {
        ws.terminate();
        return;
      }
      const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
      (req.socket as Socket).setNoDelay(true);
      this.metrics.connection(1);
      ws.once("close", () => this.metrics.connection(-1));
      const session = new RelaySession(this.nextId++, ws, remote, slot.group, this);
      this.slotOf.set(session, slot);
      this.sessions.add(session);
    });
  }

  /** Keepalive: drop clients silent since the last sweep, ping the rest; prune bookkeeping. */
  private sweep(): void {
    for (const session of this.sessions) {
      if (!session.alive && !session.paused) {
        this.metrics.deadClient();
        this.limitedLog.log("info", "dead_client", "", { id: session.id, remote: session.remote });
        session.terminate();
        continue;
      }
      session.alive = false;
      try {
        session.ws.ping();
      } catch {
        // closing already
      }
    }
    this.router.prune();
  }

  private async shutdown(options: RelayCloseOptions): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    const restarting = options.restarting;
    this.restartingNow = restarting !== undefined;
    this.log.info({ clients: this.router.size }, restarting ? "restarting" : "closing");
    const grace = this.options.closeGraceMs ?? RELAY_DEFAULTS.closeGraceMs;
    await closeSessions([...this.sessions], restarting, grace);
    try {
      this.options.udpBridge?.close();
    } catch (error) {
      this.log.error({ error: String(error) }, "udp_bridge_error");
    }
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    this.wss.close();
    this.privateKey.fill(0);
    this.limitedLog.stop();
    this.log.info("closed_relay");
  }
}

/** Starts a relay; see RelayOptions. Resolves once it listens. */
export function startRelay(options: RelayOptions): Promise<RelayServer> {
  return RelayServer.start(options);
}

/** Node's own answer to a request its parser refused (as without a "clientError" listener). */
function defaultClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || error.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const status =
    error.code === "HPE_HEADER_OVERFLOW"
      ? "431 Request Header Fields Too Large"
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : "400 Bad Request";
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
}
