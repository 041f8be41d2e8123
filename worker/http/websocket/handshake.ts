// RFC 6455 §4 opening handshake, client side: the upgrade request head and the check of the
// server's answer. Self-contained on purpose (its own small response-head reader) so the
// WebSocket client does not depend on the HTTP/1.1 client's wire module.

import { sha1 } from "@noble/hashes/legacy.js";

/** The GUID every server appends to the key (§1.3). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Largest response head we read; a server sending more is not a WebSocket server. */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
const MAX_RESPONSE_HEADERS = 100;

/** The opening handshake failed; `status` is the server's HTTP status when it sent one. */
export class WebSocketHandshakeError extends Error {
  override readonly name = "WebSocketHandshakeError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** What goes into the upgrade request. */
export interface UpgradeRequestOptions {
  /** Host header value: "web-01:3000" (the port when not the scheme's default). */
  host: string;
  /** Request target, starting with "/": "/api/kernels/x/channels?session_id=y". */
  path: string;
  origin?: string;
  /** Subprotocols offered, most preferred first. */
  protocols?: readonly string[];
  /** Extra headers (Cookie, Authorization, User-Agent...); handshake headers are refused. */
  headers?: Readonly<Record<string, string>> | readonly (readonly [string, string])[];
  /** Sec-WebSocket-Key to send; a fresh random one when absent (tests pin it). */
  key?: string;
}

/** The request bytes and the key its answer must be checked against. */
export interface UpgradeRequest {
  key: string;
  head: Uint8Array;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, spaces, tabs and obs-text; never CR, LF or NUL (no injection).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// Headers the handshake itself owns: an extra header may not override them.
const RESERVED = new Set([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "sec-websocket-accept",
  "origin",
  "content-length",
  "transfer-encoding",
]);

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (§4.1). */
export function generateKey(): string {
  return base64(crypto.getRandomValues(new Uint8Array(16)));
}

/** The Sec-WebSocket-Accept a server must answer `key` with: base64(SHA-1(key + GUID)). */
export function acceptFor(key: string): string {
  return base64(sha1(new TextEncoder().encode(key + WEBSOCKET_GUID)));
}

function checkValue(what: string, value: string): void {
  if (!FIELD_VALUE.test(value)) throw new TypeError(`${what} contains a control character`);
}

/** Builds the upgrade request head (§4.1). Throws TypeError for values that cannot be sent. */
export function buildUpgradeRequest(options: UpgradeRequestOptions): UpgradeRequest {
  const { host, path } = options;
  if (host === "" || !/^[\x21-\x7e]+$/.test(host)) throw new TypeError(`invalid host "${host}"`);
  if (!path.startsWith("/") || !/^[\x21-\x7e]+$/.test(path)) {
    throw new TypeError(`invalid request path "${path}" (must start with "/", no spaces)`);
  }
  const key = options.key ?? generateKey();
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  if (options.origin !== undefined) {
    checkValue("origin", options.origin);
    lines.push(`Origin: ${options.origin}`);
  }
  const protocols = options.protocols ?? [];
  if (protocols.length > 0) {
    const seen = new Set<string>();
    for (const p of protocols) {
      if (!TOKEN.test(p)) throw new TypeError(`invalid subprotocol "${p}"`);
      if (seen.has(p)) throw new TypeError(`subprotocol "${p}" offered twice`);
      seen.add(p);
    }
    lines.push(`Sec-WebSocket-Protocol: ${protocols.join(", ")}`);
  }
  const extra = options.headers ?? [];
  const pairs = Array.isArray(extra)
    ? (extra as readonly (readonly [string, string])[])
    : Object.entries(extra as Readonly<Record<string, string>>);
  for (const [name, value] of pairs) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name "${name}"`);
    if (RESERVED.has(name.toLowerCase())) {
      throw new TypeError(`header ${name} is set by the handshake itself`);
    }
    checkValue(`header ${name}`, value);
    lines.push(`${name}: ${value}`);
  }
  return { key, head: latin1(`${lines.join("\r\n")}\r\n\r\n`) };
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A parsed HTTP/1.1 response head. Header names are lower-cased, in received order. */
export interface ResponseHead {
  status: number;
  reason: string;
  headers: [string, string][];
}

/**
 * Collects bytes until the blank line ending the response head. `push` returns the head and
 * whatever followed it (the first frames may share a segment with the 101), or null for more.
 */
export class ResponseHeadReader {
  private buf = new Uint8Array(0);

  push(chunk: Uint8Array): { head: ResponseHead; rest: Uint8Array } | null {
    const start = Math.max(0, this.buf.length - 3);
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
    for (let i = start; i + 3 < joined.length; i++) {
      if (
        joined[i] === 13 &&
        joined[i + 1] === 10 &&
        joined[i + 2] === 13 &&
        joined[i + 3] === 10
      ) {
        if (i + 4 > MAX_RESPONSE_HEAD_BYTES) break;
        return { head: parseResponseHead(joined.subarray(0, i + 4)), rest: joined.slice(i + 4) };
      }
    }
    if (joined.length > MAX_RESPONSE_HEAD_BYTES) {
      throw new WebSocketHandshakeError(
        `response head longer than ${MAX_RESPONSE_HEAD_BYTES} bytes`,
      );
    }
    return null;
  }
}

/** Parses a whole head ending in CRLF CRLF. Strict: CRLF line ends, no folding, token names. */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  if (!text.endsWith("\r\n\r\n")) throw new WebSocketHandshakeError("response head is incomplete");
  const lines = text.slice(0, -4).split("\r\n");
  const statusLine = lines[0]!;
  const m = /^HTTP\/1\.[01] ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(statusLine);
  if (m === null) {
    throw new WebSocketHandshakeError(
      `not an HTTP/1.1 status line: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  const status = Number(m[1]);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (headers.length >= MAX_RESPONSE_HEADERS) {
      throw new WebSocketHandshakeError(
        `more than ${MAX_RESPONSE_HEADERS} response headers`,
        status,
      );
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new WebSocketHandshakeError(
        `malformed response header line: ${JSON.stringify(line.slice(0, 80))}`,
        status,
      );
    }
    headers.push([name.toLowerCase(), value]);
  }
  return { status, reason: m[2] ?? "", headers };
}

/** What the server agreed to. */
export interface HandshakeResult {
  /** The subprotocol the server chose, "" when none. */
  protocol: string;
  /** The extensions in force: always "" (we offer none, and refuse any the server adds). */
  extensions: string;
  head: ResponseHead;
}

function values(head: ResponseHead, name: string): string[] {
  return head.headers.filter(([n]) => n === name).map(([, v]) => v);
}

function tokens(head: ResponseHead, name: string): string[] {
  return values(head, name)
    .flatMap((v) => v.split(","))
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== "");
}

/**
 * Checks the server's answer to our upgrade (§4.1, the client's six checks): status 101,
 * Upgrade: websocket, Connection: upgrade, the Accept value for our key, a subprotocol only
 * from those offered, no extension (we offer none).
 */
export function checkUpgradeResponse(
  head: ResponseHead,
  request: { key: string; protocols?: readonly string[] },
): HandshakeResult {
  if (head.status !== 101) {
    const reason = head.reason === "" ? "" : ` ${head.reason}`;
    throw new WebSocketHandshakeError(
      `server refused the WebSocket upgrade: HTTP ${head.status}${reason} (expected 101 Switching Protocols)`,
      head.status,
    );
  }
  const fail = (why: string): never => {
    throw new WebSocketHandshakeError(`invalid 101 response: ${why}`, 101);
  };
  if (!tokens(head, "upgrade").includes("websocket")) fail("Upgrade header is not websocket");
  if (!tokens(head, "connection").includes("upgrade")) fail("Connection header lacks upgrade");
  const accept = values(head, "sec-websocket-accept");
  if (accept.length !== 1) fail(`${accept.length} Sec-WebSocket-Accept headers`);
  if (accept[0] !== acceptFor(request.key)) fail("Sec-WebSocket-Accept does not match our key");
  const offered = request.protocols ?? [];
  const chosen = values(head, "sec-websocket-protocol");
  let protocol = "";
  if (chosen.length > 1) fail("several Sec-WebSocket-Protocol headers");
  if (chosen.length === 1) {
    protocol = chosen[0]!;
    if (!offered.includes(protocol)) {
      fail(`server chose subprotocol ${JSON.stringify(protocol)}, which we did not offer`);
    }
  }
  const extensions = values(head, "sec-websocket-extensions").filter((v) => v.trim() !== "");
  if (extensions.length > 0) {
    fail(
      `server enabled extension ${JSON.stringify(extensions.join(", "))}, which we did not offer`,
    );
  }
  return { protocol, extensions: "", head };
}
