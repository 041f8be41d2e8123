// STUN (RFC 5389) for the Binding method: how a node learns the address and port its UDP socket
// has on the far side of a NAT (docs/paths.md). Only what a Binding exchange needs is here:
// requests, success responses carrying XOR-MAPPED-ADDRESS (MAPPED-ADDRESS from RFC 3489-era
// servers is read too), error responses (ERROR-CODE, UNKNOWN-ATTRIBUTES) and FINGERPRINT.
//
// Hand-written on purpose: the STUN packages on npm are unmaintained, pull in Node built-ins
// (this file runs in browsers too), and we need strict, never-throwing parsing of hostile bytes.
// parseStun returns a result naming what was wrong instead of throwing; the encoders throw only
// on programming errors (a bad transaction id or address).

import { formatIp, parseIp } from "../wireguard/ip-address.ts";

/** The fixed magic cookie of RFC 5389 messages (bytes 4..8). */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Header size: type, length, cookie, 96-bit transaction id. */
export const STUN_HEADER_BYTES = 20;
/** Size of a transaction id. */
export const STUN_TRANSACTION_ID_BYTES = 12;
/** The Binding method. */
export const STUN_BINDING = 0x001;

/** Attribute types this codec reads or writes. */
export const StunAttr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

/** The four message classes (RFC 5389 §6). */
export type StunClass = "request" | "indication" | "success" | "error";

/** One attribute as it was on the wire (value without padding; a view into the message). */
export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

/** A parsed STUN message. */
export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Uint8Array;
  /** Attributes in wire order, FINGERPRINT excluded. */
  attributes: StunAttribute[];
  /** A FINGERPRINT attribute was present (and matched: a mismatch fails the parse). */
  fingerprint: boolean;
}

/** A transport address carried in (XOR-)MAPPED-ADDRESS. */
export interface StunAddress {
  family: 4 | 6;
  /** Text form ("203.0.113.7", "2001:db8::7"). */
  address: string;
  port: number;
}

/** What parseStun returns: the message, or why the bytes are not one. */
export type StunParse = { ok: true; message: StunMessage } | { ok: false; error: string };

const FINGERPRINT_XOR = 0x5354554e;
// RFC 5389 §15.6: the reason phrase is at most 763 bytes (128 characters).
const MAX_REASON_BYTES = 763;
// A Binding message that needs more attributes than this is not one we answer.
const MAX_ATTRIBUTES = 32;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as zlib), which FINGERPRINT uses. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function classOf(type: number): StunClass {
  const bits = ((type >> 7) & 0x2) | ((type >> 4) & 0x1);
  return (["request", "indication", "success", "error"] as const)[bits] as StunClass;
}

function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

/** The 14-bit message type of a method and class (RFC 5389 §6, figure 3). */
export function stunType(method: number, cls: StunClass): number {
  const c = { request: 0, indication: 1, success: 2, error: 3 }[cls];
  const m = method & 0xfff;
  return (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7);
}

/**
 * A cheap first look: true when `bytes` has a STUN header (top two bits zero, the magic cookie,
 * a length that is a multiple of 4 and matches the datagram). Used to pick STUN out of the
 * datagrams of a shared UDP socket before parsing.
 */
export function looksLikeStun(bytes: Uint8Array): boolean {
  if (bytes.length < STUN_HEADER_BYTES || ((bytes[0] as number) & 0xc0) !== 0) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(2);
  return (
    view.getUint32(4) === STUN_MAGIC_COOKIE &&
    length % 4 === 0 &&
    length + STUN_HEADER_BYTES === bytes.length
  );
}

/**
 * Parses one STUN message with strict bounds: header, cookie, declared length equal to the
 * datagram, each attribute inside it with zero-to-three bytes of padding, FINGERPRINT (if any)
 * last and matching. Never throws.
 */
export function parseStun(bytes: Uint8Array): StunParse {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: "not a byte array" };
  if (bytes.length < STUN_HEADER_BYTES) {
    return { ok: false, error: `${bytes.length} bytes is shorter than the 20-byte header` };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  if ((type & 0xc000) !== 0) return { ok: false, error: "the first two bits are not zero" };
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) return { ok: false, error: "no magic cookie" };
  const length = view.getUint16(2);
  if (length % 4 !== 0) return { ok: false, error: `length ${length} is not a multiple of 4` };
  if (length + STUN_HEADER_BYTES !== bytes.length) {
    return {
      ok: false,
      error: `length ${length} does not match the ${bytes.length - STUN_HEADER_BYTES} bytes after the header`,
    };
  }
  const attributes: StunAttribute[] = [];
  let fingerprint = false;
  let at = STUN_HEADER_BYTES;
  while (at < bytes.length) {
    if (fingerprint) return { ok: false, error: "an attribute after FINGERPRINT" };
    if (bytes.length - at < 4) return { ok: false, error: `truncated attribute header at ${at}` };
    const attrType = view.getUint16(at);
    const attrLength = view.getUint16(at + 2);
    const padded = (attrLength + 3) & ~3;
    if (padded > bytes.length - at - 4) {
      return {
        ok: false,
        error: `attribute 0x${attrType.toString(16)} at ${at}: length ${attrLength} runs past the end`,
      };
    }
    const value = bytes.subarray(at + 4, at + 4 + attrLength);
    if (attrType === StunAttr.FINGERPRINT) {
      if (attrLength !== 4) return { ok: false, error: `FINGERPRINT of ${attrLength} bytes` };
      // The CRC covers the message up to the attribute, with the header's length as sent.
      const expected = (crc32(bytes.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0;
      if (view.getUint32(at + 4) !== expected) {
        return { ok: false, error: "FINGERPRINT does not match" };
      }
      fingerprint = true;
    } else {
      if (attributes.length >= MAX_ATTRIBUTES) {
        return { ok: false, error: `more than ${MAX_ATTRIBUTES} attributes` };
      }
      attributes.push({ type: attrType, value });
    }
    at += 4 + padded;
  }
  return {
    ok: true,
    message: {
      method: methodOf(type),
      cls: classOf(type),
      transactionId: bytes.subarray(8, STUN_HEADER_BYTES),
      attributes,
      fingerprint,
    },
  };
}

function attribute(message: StunMessage, type: number): Uint8Array | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

function readAddress(value: Uint8Array, xorKey: Uint8Array | undefined): StunAddress | undefined {
  if (value.length < 4) return undefined;
  const familyByte = value[1];
  const size = familyByte === 0x01 ? 4 : familyByte === 0x02 ? 16 : 0;
  if (size === 0 || value.length !== 4 + size) return undefined;
  let port = ((value[2] as number) << 8) | (value[3] as number);
  const address = value.slice(4, 4 + size);
  if (xorKey !== undefined) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    for (let i = 0; i < size; i++) address[i] = (address[i] as number) ^ (xorKey[i] as number);
  }
  return { family: size === 4 ? 4 : 6, address: formatIp(address), port };
}

function xorKeyOf(transactionId: Uint8Array): Uint8Array {
  const key = new Uint8Array(16);
  new DataView(key.buffer).setUint32(0, STUN_MAGIC_COOKIE);
  key.set(transactionId.subarray(0, STUN_TRANSACTION_ID_BYTES), 4);
  return key;
}

/**
 * The mapped address of a success response: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (servers
 * of RFC 3489's time). Undefined when neither is present or well formed.
 */
export function mappedAddress(message: StunMessage): StunAddress | undefined {
  const xored = attribute(message, StunAttr.XOR_MAPPED_ADDRESS);
  if (xored !== undefined) return readAddress(xored, xorKeyOf(message.transactionId));
  const plain = attribute(message, StunAttr.MAPPED_ADDRESS);
  return plain === undefined ? undefined : readAddress(plain, undefined);
}

/** The ERROR-CODE of an error response (code 300-699 and reason), or undefined. */
export function errorCode(message: StunMessage): { code: number; reason: string } | undefined {
  const value = attribute(message, StunAttr.ERROR_CODE);
  if (value === undefined || value.length < 4 || value.length - 4 > MAX_REASON_BYTES) {
    return undefined;
  }
  const code = ((value[2] as number) & 0x7) * 100 + (value[3] as number);
  if (code < 300 || code > 699 || (value[3] as number) > 99) return undefined;
  const reason = new TextDecoder("utf-8", { fatal: false }).decode(value.subarray(4));
  return { code, reason };
}

/** Comprehension-required attributes (type < 0x8000) not in `known`, for a 420 answer. */
export function unknownRequired(message: StunMessage, known: ReadonlySet<number>): number[] {
  const unknown: number[] = [];
  for (const { type } of message.attributes) {
    if (type < 0x8000 && !known.has(type) && !unknown.includes(type)) unknown.push(type);
  }
  return unknown;
}

/** Builds a message from its type, transaction id and attributes, with FINGERPRINT if asked. */
function encode(
  type: number,
  transactionId: Uint8Array,
  attributes: StunAttribute[],
  withFingerprint: boolean,
): Uint8Array {
  if (transactionId.length !== STUN_TRANSACTION_ID_BYTES) {
    throw new TypeError(`STUN: a transaction id is 12 bytes, got ${transactionId.length}`);
  }
  let body = 0;
  for (const a of attributes) {
    if (a.value.length > 0xffff) throw new TypeError("STUN: attribute longer than 65535 bytes");
    body += 4 + ((a.value.length + 3) & ~3);
  }
  const total = STUN_HEADER_BYTES + body + (withFingerprint ? 8 : 0);
  if (total - STUN_HEADER_BYTES > 0xffff) throw new TypeError("STUN: message too long");
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, total - STUN_HEADER_BYTES);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId, 8);
  let at = STUN_HEADER_BYTES;
  for (const a of attributes) {
    view.setUint16(at, a.type);
    view.setUint16(at + 2, a.value.length);
    out.set(a.value, at + 4);
    at += 4 + ((a.value.length + 3) & ~3);
  }
  if (withFingerprint) {
    view.setUint16(at, StunAttr.FINGERPRINT);
    view.setUint16(at + 2, 4);
    view.setUint32(at + 4, (crc32(out.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/** A Binding request (no attributes but FINGERPRINT, when asked). */
export function encodeBindingRequest(transactionId: Uint8Array, fingerprint = false): Uint8Array {
  return encode(stunType(STUN_BINDING, "request"), transactionId, [], fingerprint);
}

/** The XOR-MAPPED-ADDRESS value of `mapped` under `transactionId`. */
function xorMappedValue(mapped: StunAddress, transactionId: Uint8Array): Uint8Array {
  let address = parseIp(mapped.address, `STUN mapped address ${JSON.stringify(mapped.address)}`);
  // An IPv4-mapped IPv6 source (a dual-stack socket) is reported as the IPv4 address it is.
  if (address.length === 16 && address[10] === 0xff && address[11] === 0xff) {
    if (address.subarray(0, 10).every((b) => b === 0)) address = address.slice(12);
  }
  if (!Number.isInteger(mapped.port) || mapped.port < 0 || mapped.port > 0xffff) {
    throw new TypeError(`STUN: port ${mapped.port} out of range`);
  }
  const key = xorKeyOf(transactionId);
  const value = new Uint8Array(4 + address.length);
  value[1] = address.length === 4 ? 0x01 : 0x02;
  const port = mapped.port ^ (STUN_MAGIC_COOKIE >>> 16);
  value[2] = port >> 8;
  value[3] = port & 0xff;
  for (let i = 0; i < address.length; i++) {
    value[4 + i] = (address[i] as number) ^ (key[i] as number);
  }
  return value;
}

/** A Binding success response carrying XOR-MAPPED-ADDRESS. */
export function encodeBindingSuccess(
  transactionId: Uint8Array,
  mapped: StunAddress,
  fingerprint = false,
): Uint8Array {
  const value = xorMappedValue(mapped, transactionId);
  return encode(
    stunType(STUN_BINDING, "success"),
    transactionId,
    [{ type: StunAttr.XOR_MAPPED_ADDRESS, value }],
    fingerprint,
  );
}

/**
 * A Binding error response: ERROR-CODE (`code` 300-699, `reason` cut to 763 bytes) and, for
 * 420, UNKNOWN-ATTRIBUTES listing `unknown`.
 */
export function encodeBindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  unknown: readonly number[] = [],
  fingerprint = false,
): Uint8Array {
  if (!Number.isInteger(code) || code < 300 || code > 699) {
    throw new TypeError(`STUN: error code ${code} is not 300-699`);
  }
  const phrase = new TextEncoder().encode(reason).subarray(0, MAX_REASON_BYTES);
  const error = new Uint8Array(4 + phrase.length);
  error[2] = Math.floor(code / 100);
  error[3] = code % 100;
  error.set(phrase, 4);
  const attributes: StunAttribute[] = [{ type: StunAttr.ERROR_CODE, value: error }];
  if (unknown.length > 0) {
    const list = new Uint8Array(unknown.length * 2);
    const view = new DataView(list.buffer);
    unknown.forEach((type, i) => {
      view.setUint16(i * 2, type);
    });
    attributes.push({ type: StunAttr.UNKNOWN_ATTRIBUTES, value: list });
  }
  return encode(stunType(STUN_BINDING, "error"), transactionId, attributes, fingerprint);
}
