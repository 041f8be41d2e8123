// The engine's HTTP/1.1 client API: one request through a pool, the response head as soon as
// it arrives and its body as a stream. Request and response bodies stream with backpressure
// (nothing is read from the socket before the consumer asks). Content-Encoding gzip and deflate
// are decoded with DecompressionStream; "br" is not: neither Node 20 nor Chromium 156 accept a
// brotli DecompressionStream, so we never advertise it (docs/http-client.md). Decoding is
// bounded: at most MAX_CODINGS codings, and decoded output at most max(MAX_DECODED_FLOOR,
// MAX_DECODE_RATIO x encoded bytes received), so a nested "bomb" fails instead of inflating.

import type { DuplexStream } from "./connection.ts";
import { HttpError, HttpExchangeError } from "./errors.ts";
import type { HttpPool } from "./pool.ts";
import { headerList } from "./wire/chars.ts";
import { HttpEncodeError } from "./wire/errors.ts";
import { encodeRequestHead, validateMethod } from "./wire/request-head.ts";

/** One request. Give `url` ("http://host:port/path?q"), or `host`, `port` and `target`. */
export interface HttpRequestInit {
  method: string;
  url?: string;
  host?: string;
  port?: number;
  target?: string;
  /** Sent as given, except hop-by-hop fields (Connection, Keep-Alive, TE, Transfer-Encoding...). */
  headers?: readonly (readonly [string, string])[];
  body?: ReadableStream<Uint8Array> | Uint8Array | null;
  signal?: AbortSignal;
  /** Decode gzip/deflate bodies and send our own Accept-Encoding (default true). */
  decode?: boolean;
  /** Per-request timeouts overriding the pool's. */
  headTimeoutMs?: number;
  bodyIdleTimeoutMs?: number;
}

/** The final response (1xx interim responses are skipped, except 101). */
export interface HttpResponse {
  status: number;
  statusText: string;
  /** As received, in order; Content-Encoding and Content-Length removed when the body was decoded. */
  headers: [string, string][];
  body: ReadableStream<Uint8Array>;
  /** Trailer fields of a chunked response, available once the body was read to its end. */
  trailers: () => [string, string][];
  /** For 101 Switching Protocols: the raw connection, no longer in the pool. */
  upgrade?: DuplexStream;
}

/** Methods a stale keep-alive connection may be retried for (RFC 9110 §9.2.2, minus TRACE). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
/** Request fields that describe this connection only: the client sets its own. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "trailer",
  "content-length",
  "host",
]);
/** Accept-Encoding we can honour (DecompressionStream formats in Node 20 and Chromium 156). */
export const ACCEPT_ENCODING = "gzip, deflate";
/** Most Content-Encoding codings decoded; more is refused (each adds a decompressor). */
export const MAX_CODINGS = 2;
/** Decoded bytes always allowed, whatever the ratio. */
export const MAX_DECODED_FLOOR = 64 * 1024 * 1024;
/**
 * Decoded bytes allowed per encoded byte beyond the floor. One deflate layer cannot exceed
 * about 1032:1 (a 258-byte match per ~2 bits), so a single coding is never refused; nested
 * codings multiply the ratio (~10^6 for gzip over gzip) and are cut at the floor.
 */
export const MAX_DECODE_RATIO = 1100;

interface Resolved {
  host: string;
  port: number;
  target: string;
  hostHeader: string;
}

function resolveTarget(init: HttpRequestInit): Resolved {
  if (init.url !== undefined) {
    let u: URL;
    try {
      u = new URL(init.url);
    } catch {
      throw new HttpEncodeError(`invalid URL ${JSON.stringify(init.url)}`);
    }
    if (u.protocol !== "http:") throw new HttpEncodeError(`only http: URLs (got ${u.protocol})`);
    const port = u.port === "" ? 80 : Number(u.port);
    const host = u.hostname.replace(/^\[|\]$/g, "");
    return { host, port, target: `${u.pathname}${u.search}`, hostHeader: u.host };
  }
  if (init.host === undefined || init.target === undefined) {
    throw new HttpEncodeError("give url, or host and target");
  }
  const port = init.port ?? 80;
  const h = init.host.includes(":") ? `[${init.host}]` : init.host;
  return {
    host: init.host,
    port,
    target: init.target,
    hostHeader: port === 80 ? h : `${h}:${port}`,
  };
}

/**
 * Sends one request through `pool` and resolves with the response head; read `body` to its
 * end (or cancel it) to free the connection. Rejects with HttpError (code connect, timeout,
 * closed, protocol, request, aborted) or HttpEncodeError for a request that cannot be sent.
 * A request that fails on a reused connection before any response byte is retried once on a
 * new connection, for idempotent methods (and body-less non-POST requests never written).
 */
export async function httpRequest(pool: HttpPool, init: HttpRequestInit): Promise<HttpResponse> {
  const method = init.method;
  validateMethod(method);
  const { host, port, target, hostHeader } = resolveTarget(init);
  const decode = init.decode ?? true;
  const given = init.headers ?? [];
  const headers: [string, string][] = [];
  let hasHost = false;
  for (const [n, v] of given) {
    const l = n.toLowerCase();
    if (l === "host" && !hasHost) {
      hasHost = true;
      headers.push([n, v]);
    } else if (l === "accept-encoding" && decode) {
      // replaced below by what we can decode
    } else if (l === "content-length" && init.body instanceof ReadableStream) {
      headers.push([n, v]);
    } else if (!HOP_BY_HOP.has(l) || (l === "connection" && isUpgrade(given))) {
      headers.push([n, v]);
    }
  }
  if (!hasHost) headers.unshift(["Host", hostHeader]);
  if (decode) headers.push(["Accept-Encoding", ACCEPT_ENCODING]);
  const body = init.body ?? null;
  let bodyLength: number | null = null;
  let chunked = false;
  if (body instanceof Uint8Array) {
    bodyLength = body.length;
    headers.push(["Content-Length", String(body.length)]);
  } else if (body !== null) {
    const declared = headerList(headers, "content-length");
    if (declared.length > 0) {
      if (declared.length !== 1 || !/^\d{1,15}$/.test(declared[0]!)) {
        throw new HttpEncodeError(`invalid Content-Length ${JSON.stringify(declared.join(","))}`);
      }
      bodyLength = Number(declared[0]);
    } else {
      chunked = true;
      headers.push(["Transfer-Encoding", "chunked"]);
    }
  } else if (["POST", "PUT", "PATCH"].includes(method.toUpperCase())) {
    headers.push(["Content-Length", "0"]);
  }
  const head = encodeRequestHead({ method, target, headers });
  const expectContinue = headerList(headers, "expect").some(
    (e) => e.toLowerCase() === "100-continue",
  );
  for (let attempt = 0; ; attempt++) {
    const { conn, reused } = await pool.acquire(host, port, init.signal, attempt > 0);
    try {
      const r = await conn.exchange({
        method,
        head,
        body,
        chunked,
        bodyLength,
        expectContinue,
        upgrade: isUpgrade(headers),
        headTimeoutMs: init.headTimeoutMs ?? pool.headTimeoutMs,
        bodyIdleTimeoutMs: init.bodyIdleTimeoutMs ?? pool.bodyIdleTimeoutMs,
        signal: init.signal,
      });
      return finalResponse(method, r.head, r.body, r.trailers, r.upgrade, decode, conn.service);
    } catch (e) {
      if (attempt === 0 && reused && staleRetryAllowed(e, method, body)) continue;
      if (e instanceof HttpExchangeError && e.code === "closed" && reused) {
        throw new HttpError(
          "closed",
          e.service,
          `${e.message.slice(e.service.length + 2)}; ${method} on a reused keep-alive connection not retried (${IDEMPOTENT.has(method.toUpperCase()) ? "response already started" : "not idempotent"})`,
          { cause: e },
        );
      }
      throw e;
    }
  }
}

function isUpgrade(headers: readonly (readonly [string, string])[]): boolean {
  return headers.some(([n]) => n.toLowerCase() === "upgrade");
}

/** Stale keep-alive connection: closed or reset before any response byte, nothing lost. */
function staleRetryAllowed(e: unknown, method: string, body: HttpRequestInit["body"]): boolean {
  if (!(e instanceof HttpExchangeError) || e.code !== "closed") return false;
  if (e.progress.bytesRead > 0 || e.progress.bodyTouched) return false;
  const m = method.toUpperCase();
  if (m === "POST") return false;
  if (IDEMPOTENT.has(m)) return true;
  return (body === null || body === undefined) && e.progress.bytesWritten === 0;
}

function finalResponse(
  method: string,
  head: { status: number; statusText: string; headers: [string, string][] },
  raw: ReadableStream<Uint8Array>,
  trailers: () => [string, string][],
  upgrade: DuplexStream | undefined,
  decode: boolean,
  service: string,
): HttpResponse {
  let headers = head.headers;
  let body = raw;
  const codings = headerList(headers, "content-encoding").map((c) => c.toLowerCase());
  const hasBody = method.toUpperCase() !== "HEAD" && head.status !== 204 && head.status !== 304;
  if (decode && hasBody && codings.length > MAX_CODINGS) {
    // Cancelling the body closes the connection and frees its pool slot.
    raw.cancel("too many content codings").catch(() => {});
    throw new HttpError(
      "protocol",
      service,
      `refused a body with ${codings.length} content codings (${codings.join(", ")}); at most ${MAX_CODINGS} are decoded`,
    );
  }
  if (decode && hasBody && codings.length > 0 && codings.every(isDecodable)) {
    const encoded = { bytes: 0 };
    body = counted(body, encoded);
    for (const c of [...codings].reverse()) body = decodeBody(body, c);
    body = decodeErrors(body, service, codings.join(", "), encoded);
    headers = headers.filter(([n]) => {
      const l = n.toLowerCase();
      return l !== "content-encoding" && l !== "content-length";
    });
  }
  const res: HttpResponse = {
    status: head.status,
    statusText: head.statusText,
    headers,
    body,
    trailers,
  };
  if (upgrade !== undefined) res.upgrade = upgrade;
  return res;
}

function isDecodable(coding: string): boolean {
  return coding === "gzip" || coding === "x-gzip" || coding === "deflate" || coding === "identity";
}

/** `body` passed through, its bytes counted into `into` (the encoded size so far). */
function counted(
  body: ReadableStream<Uint8Array>,
  into: { bytes: number },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      pull: async (c) => {
        const r = await reader.read();
        if (r.done) return c.close();
        into.bytes += r.value.length;
        c.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/**
 * Errors of a DecompressionStream (a corrupt or truncated body) as HttpError "protocol", and
 * the decoded-size bound: past max(floor, ratio x encoded) the body fails and its connection closes.
 */
function decodeErrors(
  body: ReadableStream<Uint8Array>,
  service: string,
  codings: string,
  encoded: { bytes: number },
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let decoded = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull: async (c) => {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          if (e instanceof HttpError) throw e;
          throw new HttpError(
            "protocol",
            service,
            `cannot decode the ${codings} body (${String(e)})`,
            {
              cause: e,
            },
          );
        }
        if (r.done) return c.close();
        decoded += r.value.length;
        if (decoded > Math.max(MAX_DECODED_FLOOR, MAX_DECODE_RATIO * encoded.bytes)) {
          const err = new HttpError(
            "protocol",
            service,
            `refused the ${codings} body: over ${decoded} bytes decoded from ${encoded.bytes} received (limit max(${MAX_DECODED_FLOOR}, ${MAX_DECODE_RATIO} x received))`,
          );
          reader.cancel(err).catch(() => {});
          throw err;
        }
        c.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

function decodeBody(body: ReadableStream<Uint8Array>, coding: string): ReadableStream<Uint8Array> {
  if (coding === "identity") return body;
  if (coding === "gzip" || coding === "x-gzip") {
    return body.pipeThrough(decompressor("gzip"));
  }
  return sniffDeflate(body);
}

/**
 * HTTP "deflate" is zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw deflate:
 * the first two bytes tell which (a zlib header has CM 8 and a check multiple of 31).
 */
function sniffDeflate(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let inner: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>(
    {
      pull: async (c) => {
        if (inner === null) {
          let first = new Uint8Array(0);
          while (first.length < 2) {
            const r = await reader.read();
            if (r.done) break;
            const joined = new Uint8Array(first.length + r.value.length);
            joined.set(first);
            joined.set(r.value, first.length);
            first = joined;
          }
          const zlib =
            first.length >= 2 &&
            (first[0]! & 0x0f) === 8 &&
            ((first[0]! << 8) | first[1]!) % 31 === 0;
          const head = first;
          const rest = new ReadableStream<Uint8Array>(
            {
              start: (rc) => {
                if (head.length > 0) rc.enqueue(head);
              },
              pull: async (rc) => {
                const r = await reader.read();
                if (r.done) rc.close();
                else rc.enqueue(r.value);
              },
              cancel: (reason) => reader.cancel(reason),
            },
            { highWaterMark: 0 },
          );
          const format = zlib ? "deflate" : "deflate-raw";
          inner = rest.pipeThrough(decompressor(format)).getReader();
        }
        const r = await inner.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      cancel: (reason) => (inner ?? reader).cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** DecompressionStream typed for Uint8Array chunks (lib.dom types it over BufferSource). */
function decompressor(format: CompressionFormat): ReadableWritablePair<Uint8Array, Uint8Array> {
  return new DecompressionStream(format) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
}
