// Options of the relay server, and their defaults. There is no default auth mode: the caller
// must choose one (closed by default).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import type { X25519Provider } from "../../worker/crypto/x25519.ts";
import { MAX_PACKET } from "../../worker/relay/frames.ts";
import type { Logger, LogSink } from "../log.ts";
import type { LogLimit } from "../log-limit.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import type { RelayAuth } from "./auth.ts";
import type { RelayRate } from "./rate-limit.ts";
import type { UdpBridgeHook } from "./udp-bridge-hook.ts";

/** Options of startRelay(). */
export interface RelayOptions {
  /** Listen address. Default "127.0.0.1". */
  host?: string;
  /** Listen port; 0 (the default) picks an ephemeral one (see RelayServer.port). */
  port?: number;
  /** The relay's static X25519 private key; a fresh one is generated when absent. */
  privateKey?: Uint8Array;
  /** Who may connect. Required. */
  auth: RelayAuth;
  /** This relay's id, as tokens name it and WELCOME reports it. */
  relayId: string;
  /**
   * The region WELCOME reports (`"region"`, left out when empty or unset): 1-64 of A-Z a-z
   * 0-9 _ . -, as the control server's relay map names it.
   */
  region?: string;
  /** Per-client receive rate. Default 12.5 MB/s (100 Mbit/s) with a 1 MiB burst. */
  rate?: RelayRate;
  /** Frames queued per destination before packets are dropped. Default 1024. */
  queueLimit?: number;
  /**
   * Bytes queued per destination before packets are dropped: what one client that does not
   * read can make the relay hold. Default 1 MiB.
   */
  queueBytes?: number;
  /** Bytes queued for all clients together before packets are dropped. Default 128 MiB. */
  maxQueuedBytes?: number;
  /**
   * Bytes of one client's frames the relay forwards before it reads the other clients, so that
   * one client's backlog does not delay the others' frames (read-share.ts). Default 64 KiB.
   */
  readBudget?: number;
  /** Open WebSocket connections (authenticated or not) before upgrades get 503. Default 10000. */
  maxConnections?: number;
  /** Open connections that have not finished the hello, in total. Default 1000. */
  maxUnauthenticated?: number;
  /**
   * Open connections from one source address (an IPv4 address, or an IPv6 /64). Default 64;
   * of them, at most `maxUnauthenticatedPerAddress` (default 16) before their hello.
   */
  maxConnectionsPerAddress?: number;
  maxUnauthenticatedPerAddress?: number;
  /** Time a client has to complete the hello. Default 5000 ms. */
  helloTimeoutMs?: number;
  /**
   * Browser origins that may use the relay ("https://example.com", as in `Origin`). An upgrade
   * with any other Origin gets 403; requests without one (non-browser clients) are accepted.
   * Default: none, so no web page can use the relay unless named here or by `pageOrigins`.
   */
  origins?: string[];
  /**
   * Also accept the origins of a page served at the relay's own address and port (`corridor
   * serve`): http://HOST:PORT, and on loopback http://localhost:PORT,
   * http://corridor.localhost:PORT, http://127.0.0.1:PORT and http://[::1]:PORT.
   */
  pageOrigins?: boolean;
  /**
   * Host names /healthz and /metrics answer to, besides IP literals, the listen host,
   * localhost, corridor.localhost and the hosts of `origins`. Other names get 421 (a DNS
   * rebinding defence).
   */
  allowedHosts?: string[];
  /** Per-connection log lines (refusals, closes) per kind and window. Default 20 a minute. */
  logLimit?: LogLimit;
  /** The UDP bridge; without one, SEND_UDP frames are dropped and counted. */
  udpBridge?: UdpBridgeHook;
  /** Wall clock in milliseconds (token expiry, rate limits, PEER_GONE). Default Date.now. */
  clock?: () => number;
  /**
   * Where the relay's JSON log lines go (a logger made for it with createLogger(), at
   * $CORRIDOR_LOG_LEVEL or info). Default: standard error. Not with `logger`.
   */
  log?: LogSink;
  /**
   * A logger to log through instead (as its child `{ component: "relay" }`), so that the parts
   * of one process (relay, control server) write one stream. Not with `log`.
   */
  logger?: Logger;
  /**
   * The registry to put the relay's metrics on, so that one /metrics shows the relay's and
   * other parts' (the control server's) metrics. Default: one of the relay's own, with the
   * process metrics. One relay per registry.
   */
  metrics?: MetricsRegistry;
  /** Interval of WebSocket pings; a client silent for a whole interval is dropped. 30 s. */
  pingIntervalMs?: number;
  /** How long close() waits for clients to finish their close handshake. Default 2000 ms. */
  closeGraceMs?: number;
  /** X25519 for the hello proof. Default node:crypto. */
  x25519?: X25519Provider;
  /** The crypto core (BLAKE2s) for the hello proof. Default: initCrypto()'s. */
  crypto?: CryptoCore;
  /**
   * Answers the plain HTTP requests the relay does not (every path but /healthz, /metrics and
   * /relay), so one port can serve the page beside the relay (`corridor serve`). Default: 404.
   */
  httpFallback?: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Takes WebSocket upgrades on paths other than /relay (the control server's /control, with
   * `corridor serve`); returns false for one it does not want (then 404). Default: none.
   */
  upgradeFallback?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
  /**
   * Answers a request the HTTP parser refused (Node's "clientError": headers over the limit, a
   * malformed request line); returns false to leave it to Node's default answer (400, 408, 431).
   */
  clientErrorFallback?: (error: Error & { code?: string }, socket: Duplex) => boolean;
}

/** Defaults applied by startRelay(). */
export const RELAY_DEFAULTS = {
  host: "127.0.0.1",
  port: 0,
  rate: { bytesPerSecond: 12_500_000, burstBytes: 1 << 20 },
  queueLimit: 1024,
  queueBytes: 1 << 20,
  maxQueuedBytes: 128 << 20,
  readBudget: 64 * 1024,
  maxConnections: 10_000,
  maxUnauthenticated: 1000,
  maxConnectionsPerAddress: 64,
  maxUnauthenticatedPerAddress: 16,
  helloTimeoutMs: 5_000,
  pingIntervalMs: 30_000,
  closeGraceMs: 2_000,
} as const;

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new RangeError(`relay: ${name} must be positive, got ${value}`);
  return value;
}

/** Checks the numeric options; throws a RangeError naming the bad one. */
export function checkOptions(options: RelayOptions): void {
  if (typeof options.relayId !== "string" || options.relayId === "")
    throw new TypeError("relay: relayId is required");
  if (options.region !== undefined && !/^[A-Za-z0-9_.-]{0,64}$/.test(options.region))
    throw new TypeError("relay: region is at most 64 of A-Z a-z 0-9 _ . -");
  if (options.rate) {
    positive("rate.bytesPerSecond", options.rate.bytesPerSecond);
    positive("rate.burstBytes", options.rate.burstBytes);
  }
  if (options.queueLimit !== undefined) positive("queueLimit", options.queueLimit);
  for (const name of [
    "queueBytes",
    "maxQueuedBytes",
    "readBudget",
    "maxConnections",
    "maxUnauthenticated",
    "maxConnectionsPerAddress",
    "maxUnauthenticatedPerAddress",
  ] as const) {
    const value = options[name];
    if (value !== undefined) positive(name, value);
  }
  if (options.log !== undefined && options.logger !== undefined)
    throw new TypeError("relay: give log (a sink) or logger, not both");
  if (options.logLimit !== undefined) {
    positive("logLimit.lines", options.logLimit.lines);
    positive("logLimit.windowMs", options.logLimit.windowMs);
  }
  if (options.helloTimeoutMs !== undefined) positive("helloTimeoutMs", options.helloTimeoutMs);
  if (options.pingIntervalMs !== undefined) positive("pingIntervalMs", options.pingIntervalMs);
  if (options.privateKey !== undefined && options.privateKey.length !== 32)
    throw new RangeError("relay: privateKey must be 32 bytes");
}

/**
 * The JSON WELCOME carries (DESIGN §4): the relay's id, its region when it has one (a field
 * clients that predate it ignore), the limits and `features` (what the relay accepts beyond v1).
 */
export function welcomeJson(options: RelayOptions, features: readonly string[]): string {
  const region = options.region ? { region: options.region } : {};
  return JSON.stringify({
    relay: options.relayId,
    ...region,
    limits: welcomeLimits(options),
    features,
  });
}

/** The limits WELCOME reports (DESIGN §4): largest packet, rate, and the queue caps. */
export function welcomeLimits(options: RelayOptions): Record<string, number> {
  return {
    maxPacket: MAX_PACKET,
    rate: (options.rate ?? RELAY_DEFAULTS.rate).bytesPerSecond,
    queue: options.queueLimit ?? RELAY_DEFAULTS.queueLimit,
    queueBytes: options.queueBytes ?? RELAY_DEFAULTS.queueBytes,
  };
}
