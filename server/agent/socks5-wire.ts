// The server side of SOCKS5's handshake (RFC 1928) as a pure codec: the client's greeting
// (version, offered methods), our method selection ("no authentication", 0x00, is the only
// method: the proxy listens on loopback, and the mesh policy is what authorizes), the request
// (CONNECT only; ATYP IPv4, domain name of 1-255 bytes, IPv6) and our replies. Incremental:
// bytes may arrive split anywhere; bounded: a greeting is at most 257 bytes and a request at
// most 262, and nothing is buffered past a complete request (the rest is handed back); it never
// throws on hostile input, every refusal is an event naming what was wrong.
//
// Hand-written rather than taken from npm: the SOCKS5 server packages there either dial with
// the host's own sockets and system DNS (we must connect through our userspace stack, with
// mesh names only) or are unmaintained; the handshake is small enough to own and fuzz.

import { formatIp } from "../../worker/wireguard/ip-address.ts";

/** SOCKS protocol version 5. */
export const SOCKS_VERSION = 0x05;
/** Method "no authentication required". */
export const METHOD_NO_AUTH = 0x00;
/** "No acceptable methods": the client must close. */
export const METHOD_NONE_ACCEPTABLE = 0xff;
/** The only command served. */
export const CMD_CONNECT = 0x01;
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;
/** Longest greeting: VER NMETHODS METHODS[255]. */
export const MAX_GREETING = 2 + 255;
/** Longest request: VER CMD RSV ATYP LEN DOMAIN[255] PORT[2]. */
export const MAX_REQUEST = 4 + 1 + 255 + 2;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;
/** One of the Reply codes. */
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

/** What the parser found in the bytes so far, in order. */
export type Socks5Event =
  /** The greeting is complete: send `reply`; when not `accepted`, close after it. */
  | { kind: "method"; accepted: boolean; reply: Uint8Array }
  /**
   * A CONNECT request: dial `host` (a domain name, or an address as text) at `port`; `rest`
   * holds bytes the client sent after the request (its first payload), to forward once
   * connected.
   */
  | {
      kind: "connect";
      host: string;
      port: number;
      addressType: "ipv4" | "domain" | "ipv6";
      rest: Uint8Array;
    }
  /** Not a SOCKS5 exchange we serve: send `reply` when not null (a request error), then close. */
  | { kind: "fail"; reply: Uint8Array | null; message: string };

/** Our method selection message. */
export function encodeMethodSelection(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method & 0xff);
}

/**
 * A reply to a request: `code`, and the bound address (BND.ADDR/BND.PORT; default 0.0.0.0:0,
 * as the address the proxy dialed from means nothing to a client on the host).
 */
export function encodeReply(code: ReplyCode, bound: Uint8Array = new Uint8Array(4), port = 0) {
  const atyp = bound.length === 16 ? ATYP_IPV6 : ATYP_IPV4;
  const out = new Uint8Array(4 + bound.length + 2);
  out.set([SOCKS_VERSION, code, 0x00, atyp]);
  out.set(bound, 4);
  out[4 + bound.length] = (port >> 8) & 0xff;
  out[5 + bound.length] = port & 0xff;
  return out;
}

/** A domain name's bytes as text, or why they are not one we pass to the dialer. */
function domainText(bytes: Uint8Array): string | { error: string } {
  let text = "";
  for (const b of bytes) {
    // Printable ASCII without spaces: DNS names and mesh names (IDNs arrive as punycode).
    if (b < 0x21 || b > 0x7e) {
      return { error: `the domain name has byte 0x${b.toString(16).padStart(2, "0")}` };
    }
    text += String.fromCharCode(b);
  }
  return text;
}

type Parsed<T> =
  | { need: true }
  | { need: false; value: T; consumed: number }
  | { error: Socks5Event };

function fail(message: string, code: ReplyCode | null): { error: Socks5Event } {
  return {
    error: { kind: "fail", reply: code === null ? null : encodeReply(code), message },
  };
}

/** Parses a greeting at the start of `b`. */
export function parseGreeting(b: Uint8Array): Parsed<number[]> {
  if (b.length < 1) return { need: true };
  if (b[0] !== SOCKS_VERSION) {
    return fail(`not SOCKS5: version byte 0x${b[0]!.toString(16).padStart(2, "0")}`, null);
  }
  if (b.length < 2) return { need: true };
  const n = b[1]!;
  if (n === 0) return fail("the greeting offers no authentication method", null);
  if (b.length < 2 + n) return { need: true };
  return { need: false, value: [...b.subarray(2, 2 + n)], consumed: 2 + n };
}

/** A request's target. */
interface Target {
  host: string;
  port: number;
  addressType: "ipv4" | "domain" | "ipv6";
}

/** Parses a request at the start of `b`. Errors are decided as soon as their byte arrives. */
export function parseRequest(b: Uint8Array): Parsed<Target> {
  if (b.length < 1) return { need: true };
  if (b[0] !== SOCKS_VERSION) {
    return fail(`request version byte 0x${b[0]!.toString(16).padStart(2, "0")}`, null);
  }
  if (b.length < 2) return { need: true };
  if (b[1] !== CMD_CONNECT) {
    return fail(
      `command 0x${b[1]!.toString(16).padStart(2, "0")} (only CONNECT is served)`,
      Reply.commandNotSupported,
    );
  }
  if (b.length < 3) return { need: true };
  if (b[2] !== 0) return fail("the reserved byte is not 0", Reply.generalFailure);
  if (b.length < 4) return { need: true };
  const atyp = b[3]!;
  let start = 4;
  let length: number;
  if (atyp === ATYP_IPV4) length = 4;
  else if (atyp === ATYP_IPV6) length = 16;
  else if (atyp === ATYP_DOMAIN) {
    if (b.length < 5) return { need: true };
    length = b[4]!;
    start = 5;
    if (length === 0) return fail("the domain name is empty", Reply.generalFailure);
  } else {
    return fail(
      `address type 0x${atyp.toString(16).padStart(2, "0")}`,
      Reply.addressTypeNotSupported,
    );
  }
  const end = start + length + 2;
  if (b.length < end) return { need: true };
  const address = b.subarray(start, start + length);
  const port = (b[end - 2]! << 8) | b[end - 1]!;
  let host: string;
  if (atyp === ATYP_DOMAIN) {
    const text = domainText(address);
    if (typeof text !== "string") return fail(text.error, Reply.generalFailure);
    host = text;
  } else host = formatIp(address);
  if (port === 0) return fail(`port 0 for ${host}`, Reply.generalFailure);
  const addressType = atyp === ATYP_IPV4 ? "ipv4" : atyp === ATYP_IPV6 ? "ipv6" : "domain";
  return { need: false, value: { host, port, addressType }, consumed: end };
}

/**
 * The server's handshake state: push() the client's bytes as they arrive and act on the events.
 * After a "connect" or "fail" event it takes no more bytes (push returns nothing), so the
 * caller pauses the socket there.
 */
export class Socks5ServerParser {
  private state: "greeting" | "request" | "done" = "greeting";
  private buffer = new Uint8Array(0);

  /** True once a connect or fail event was produced. */
  get done(): boolean {
    return this.state === "done";
  }

  /** Adds bytes; returns the events they complete (none while more bytes are needed). */
  push(chunk: Uint8Array): Socks5Event[] {
    if (this.state === "done") return [];
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    let b = joined;
    const events: Socks5Event[] = [];
    if (this.state === "greeting") {
      const g = parseGreeting(b);
      if ("error" in g) return this.finish(events, g.error);
      if (g.need) return this.keep(b, events);
      const accepted = g.value.includes(METHOD_NO_AUTH);
      events.push({
        kind: "method",
        accepted,
        reply: encodeMethodSelection(accepted ? METHOD_NO_AUTH : METHOD_NONE_ACCEPTABLE),
      });
      if (!accepted) {
        this.state = "done";
        return events;
      }
      this.state = "request";
      b = b.subarray(g.consumed);
    }
    const r = parseRequest(b);
    if ("error" in r) return this.finish(events, r.error);
    if (r.need) return this.keep(b, events);
    this.state = "done";
    this.buffer = new Uint8Array(0);
    events.push({ kind: "connect", ...r.value, rest: b.slice(r.consumed) });
    return events;
  }

  private keep(b: Uint8Array, events: Socks5Event[]): Socks5Event[] {
    // Below MAX_GREETING / MAX_REQUEST by construction: the parsers need no more than that.
    this.buffer = b.slice();
    return events;
  }

  private finish(events: Socks5Event[], event: Socks5Event): Socks5Event[] {
    this.state = "done";
    this.buffer = new Uint8Array(0);
    events.push(event);
    return events;
  }
}
