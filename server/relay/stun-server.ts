// The relay's STUN listener (RFC 5389 Binding only): a node sends a Binding request from the UDP
// socket its WireGuard packets use and learns the address and port the relay saw it from (its
// NAT's mapping), which it then reports to the control server as an endpoint (docs/paths.md).
// Any STUN client works against it (coturn's turnutils_stunclient in the tests).
//
// It is an open UDP service, so it must not be a reflector: it answers only well-formed Binding
// requests carrying the magic cookie, its answers are the smallest the RFC allows (just
// XOR-MAPPED-ADDRESS, plus FINGERPRINT when the request had one), and each source address has
// a token bucket of requests (a spoofed flood costs the victim at most that rate). Everything
// else (indications, responses, other methods, RFC 3489 requests, garbage) is dropped unread.

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import {
  encodeBindingError,
  encodeBindingSuccess,
  looksLikeStun,
  parseStun,
  STUN_BINDING,
  StunAttr,
  unknownRequired,
} from "../../worker/path/stun.ts";
import type { Logger } from "../log.ts";

/** Options of startStunServer(). */
export interface StunServerOptions {
  /** Address to listen on ("0.0.0.0", "::" for both families, "127.0.0.1"). */
  host: string;
  /** UDP port; 0 picks a free one (read it from the result). */
  port: number;
  /** Logs start, stop and rate-limit episodes (never per packet). Default: none. */
  log?: Logger;
  /** Requests per second one source address may make. Default 20. */
  perSourceRate?: number;
  /** Requests one source may make at once above the rate. Default 40. */
  perSourceBurst?: number;
  /** How many source addresses the limiter remembers. Default 65536. */
  maxSources?: number;
  /** Monotonic milliseconds (tests). Default performance.now. */
  now?: () => number;
}

/** Counters of a STUN server; they only grow. */
export interface StunServerStats {
  /** Binding success responses sent. */
  answered: number;
  /** 420 responses (unknown comprehension-required attributes). */
  unknownAttributes: number;
  /** Datagrams dropped as not a Binding request (malformed, other class or method). */
  ignored: number;
  /** Requests dropped by the per-source limit. */
  rateLimited: number;
  /** Socket and send errors (counted, never thrown). */
  errors: number;
}

/** A running STUN server. */
export interface StunServer {
  /** The bound port. */
  readonly port: number;
  /** The bound address. */
  readonly address: string;
  readonly stats: StunServerStats;
  /** Stops listening. Safe to call more than once. */
  close(): Promise<void>;
}

// Attributes a Binding request may carry that we understand well enough to ignore: credentials
// (this server asks for none, RFC 5389 §10: it then just does not check them) and the answers'
// own attributes. Anything else below 0x8000 gets a 420, as §7.3.1 requires.
const KNOWN_REQUEST_ATTRIBUTES: ReadonlySet<number> = new Set([
  StunAttr.USERNAME,
  StunAttr.MESSAGE_INTEGRITY,
  StunAttr.REALM,
  StunAttr.NONCE,
]);
// A 420 lists at most this many types, so its size stays below the request's.
const MAX_UNKNOWN_LISTED = 4;

interface Bucket {
  tokens: number;
  last: number;
}

/** Starts a STUN server on `host:port`; resolves once it is bound. */
export async function startStunServer(options: StunServerOptions): Promise<StunServer> {
  const rate = options.perSourceRate ?? 20;
  const burst = options.perSourceBurst ?? 40;
  const maxSources = options.maxSources ?? 65536;
  const now = options.now ?? (() => performance.now());
  const log = options.log?.child({ component: "stun" });
  const stats: StunServerStats = {
    answered: 0,
    unknownAttributes: 0,
    ignored: 0,
    rateLimited: 0,
    errors: 0,
  };
  const buckets = new Map<string, Bucket>();
  let limitedSinceLog = 0;
  let lastLimitLog = Number.NEGATIVE_INFINITY;

  const socket: Socket = createSocket({ type: isIPv6(options.host) ? "udp6" : "udp4" });

  /** Takes one request from `source`'s bucket; false when it is empty. */
  function allow(source: string): boolean {
    const t = now();
    let bucket = buckets.get(source);
    if (bucket === undefined) {
      // A full table is forgotten at once rather than scanned: a flood from many sources then
      // starts every source again with a full bucket, which is still bounded by `burst`.
      if (buckets.size >= maxSources) buckets.clear();
      bucket = { tokens: burst, last: t };
      buckets.set(source, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.last) * rate) / 1000);
    bucket.last = t;
    if (bucket.tokens < 1) {
      stats.rateLimited++;
      limitedSinceLog++;
      // One line per 10 s at most, however hard the flood.
      if (t - lastLimitLog >= 10_000) {
        log?.warn({ source, dropped: limitedSinceLog }, "stun_rate_limited");
        lastLimitLog = t;
        limitedSinceLog = 0;
      }
      return false;
    }
    bucket.tokens -= 1;
    return true;
  }

  function reply(packet: Uint8Array, from: RemoteInfo): void {
    socket.send(packet, from.port, from.address, (error) => {
      if (error) stats.errors++;
    });
  }

  socket.on("message", (data: Buffer, from: RemoteInfo) => {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (!looksLikeStun(bytes)) {
      stats.ignored++;
      return;
    }
    const parsed = parseStun(bytes);
    if (!parsed.ok || parsed.message.cls !== "request" || parsed.message.method !== STUN_BINDING) {
      stats.ignored++;
      return;
    }
    if (!allow(from.address)) return;
    const message = parsed.message;
    const transactionId = message.transactionId.slice();
    const unknown = unknownRequired(message, KNOWN_REQUEST_ATTRIBUTES);
    if (unknown.length > 0) {
      stats.unknownAttributes++;
      const listed = unknown.slice(0, MAX_UNKNOWN_LISTED);
      reply(
        encodeBindingError(transactionId, 420, "Unknown Attribute", listed, message.fingerprint),
        from,
      );
      return;
    }
    let response: Uint8Array;
    try {
      response = encodeBindingSuccess(
        transactionId,
        { family: from.family === "IPv6" ? 6 : 4, address: from.address, port: from.port },
        message.fingerprint,
      );
    } catch {
      // The kernel named a source we cannot encode (a scoped link-local address): no answer.
      stats.errors++;
      return;
    }
    stats.answered++;
    reply(response, from);
  });
  socket.on("error", (error) => {
    stats.errors++;
    log?.warn({ err: error.message }, "stun_socket_error");
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => {
      socket.close();
      reject(
        new Error(`STUN server: cannot bind ${options.host}:${options.port}: ${error.message}`),
      );
    };
    socket.once("error", failed);
    socket.bind({ port: options.port, address: options.host, exclusive: true }, () => {
      socket.off("error", failed);
      resolve();
    });
  });
  const bound = socket.address();
  log?.info({ address: bound.address, port: bound.port }, "stun_listening");

  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    address: bound.address,
    stats,
    close() {
      closing ??= new Promise<void>((resolve) => {
        socket.close(() => {
          log?.info({ port: bound.port }, "stun_closed");
          resolve();
        });
      });
      return closing;
    },
  };
}
