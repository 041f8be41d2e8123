// TCP header view (RFC 9293 §3.1) with the options of RFC 9293 (MSS), RFC 7323 (window
// scale, timestamps) and RFC 2018 (SACK-permitted, SACK blocks); checksum with the
// pseudo-header; sequence-number arithmetic modulo 2^32. Parsing never throws: hostile bytes
// give { ok: false, error }.

import { transportChecksum } from "./checksum.ts";

export const TCP_PROTOCOL = 6;
export const TCP_HEADER_LENGTH = 20;

/** Flag bits of the 13th/14th header bytes. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left edge, right edge) sequence numbers. */
  sack?: [number, number][];
  timestamp?: { value: number; echo: number };
}

export interface TcpHeader {
  ok: true;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Header length in bytes (the data offset field times 4). */
  dataOffset: number;
  /** Bit set of TcpFlag values. */
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  options: TcpOptions;
  /** View over the segment's data (no copy). */
  payload: Uint8Array;
}

export type TcpParseResult = TcpHeader | { ok: false; error: string };

function u16(b: Uint8Array, i: number): number {
  return (b[i]! << 8) | b[i + 1]!;
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** Parses the options area; unknown options are skipped, malformed framing is an error. */
function parseOptions(b: Uint8Array, start: number, end: number): TcpOptions | string {
  const options: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === 0) break; // end of option list
    if (kind === 1) {
      i++; // no-operation
      continue;
    }
    if (i + 1 >= end) return "option without length";
    const len = b[i + 1]!;
    if (len < 2) return "option length below 2";
    if (i + len > end) return "option overruns the header";
    switch (kind) {
      case 2:
        if (len === 4) options.mss = u16(b, i + 2);
        break;
      case 3:
        if (len === 3) options.windowScale = Math.min(b[i + 2]!, 14);
        break;
      case 4:
        if (len === 2) options.sackPermitted = true;
        break;
      case 5:
        if ((len - 2) % 8 === 0 && len > 2) {
          const blocks: [number, number][] = [];
          for (let j = i + 2; j + 8 <= i + len; j += 8) blocks.push([u32(b, j), u32(b, j + 4)]);
          options.sack = blocks;
        }
        break;
      case 8:
        if (len === 10) options.timestamp = { value: u32(b, i + 2), echo: u32(b, i + 6) };
        break;
    }
    i += len;
  }
  return options;
}

/** Parses a TCP segment (header + data). Never throws. */
export function parseTcp(segment: Uint8Array): TcpParseResult {
  if (segment.length < TCP_HEADER_LENGTH) return { ok: false, error: "segment shorter than 20" };
  const dataOffset = (segment[12]! >>> 4) * 4;
  if (dataOffset < TCP_HEADER_LENGTH) return { ok: false, error: "data offset below 5" };
  if (dataOffset > segment.length) return { ok: false, error: "data offset beyond segment" };
  const options = parseOptions(segment, TCP_HEADER_LENGTH, dataOffset);
  if (typeof options === "string") return { ok: false, error: options };
  return {
    ok: true,
    srcPort: u16(segment, 0),
    dstPort: u16(segment, 2),
    seq: u32(segment, 4),
    ack: u32(segment, 8),
    dataOffset,
    flags: segment[13]!,
    window: u16(segment, 14),
    checksum: u16(segment, 16),
    urgent: u16(segment, 18),
    options,
    payload: segment.subarray(dataOffset),
  };
}

/** True when the segment's checksum is right for these IP addresses (4 or 16 bytes). */
export function verifyTcpChecksum(
  source: Uint8Array,
  destination: Uint8Array,
  segment: Uint8Array,
): boolean {
  return transportChecksum(source, destination, TCP_PROTOCOL, segment) === 0;
}

/** What to emit. */
export interface TcpSegmentSpec {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  options?: TcpOptions;
}

/** Length of the options area as emitted by writeTcpHeader (a multiple of 4). */
export function tcpOptionsLength(o: TcpOptions | undefined): number {
  if (!o) return 0;
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sackPermitted) n += 4;
  if (o.timestamp) n += 12;
  const blocks = sackBlocksFitting(o, n);
  if (blocks > 0) n += 4 + 8 * blocks;
  return n;
}

/** How many of o.sack's blocks fit in the 40 bytes of option space after `used` bytes. */
function sackBlocksFitting(o: TcpOptions, used: number): number {
  if (!o.sack) return 0;
  return Math.max(0, Math.min(o.sack.length, Math.floor((40 - used - 4) / 8)));
}

function put16(b: Uint8Array, i: number, v: number): void {
  b[i] = (v >>> 8) & 0xff;
  b[i + 1] = v & 0xff;
}

function put32(b: Uint8Array, i: number, v: number): void {
  b[i] = (v >>> 24) & 0xff;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}

/**
 * Writes the header (with options, NOP-aligned) at the start of `buf`, checksum zero.
 * Returns the header length. `buf` must hold at least 20 + tcpOptionsLength(options) bytes.
 */
export function writeTcpHeader(buf: Uint8Array, spec: TcpSegmentSpec): number {
  const o = spec.options;
  const hlen = TCP_HEADER_LENGTH + tcpOptionsLength(o);
  put16(buf, 0, spec.srcPort);
  put16(buf, 2, spec.dstPort);
  put32(buf, 4, spec.seq);
  put32(buf, 8, spec.ack);
  buf[12] = (hlen / 4) << 4;
  buf[13] = spec.flags & 0xff;
  put16(buf, 14, spec.window);
  put16(buf, 16, 0);
  put16(buf, 18, spec.urgent ?? 0);
  let i = TCP_HEADER_LENGTH;
  if (o) {
    if (o.mss !== undefined) {
      buf.set([2, 4], i);
      put16(buf, i + 2, o.mss);
      i += 4;
    }
    if (o.windowScale !== undefined) {
      buf.set([1, 3, 3, o.windowScale], i);
      i += 4;
    }
    if (o.sackPermitted) {
      buf.set([1, 1, 4, 2], i);
      i += 4;
    }
    if (o.timestamp) {
      buf.set([1, 1, 8, 10], i);
      put32(buf, i + 4, o.timestamp.value);
      put32(buf, i + 8, o.timestamp.echo);
      i += 12;
    }
    const fit = sackBlocksFitting(o, i - TCP_HEADER_LENGTH);
    if (o.sack && fit > 0) {
      const blocks = o.sack.slice(0, fit);
      buf.set([1, 1, 5, 2 + 8 * blocks.length], i);
      i += 4;
      for (const [l, r] of blocks) {
        put32(buf, i, l);
        put32(buf, i + 4, r);
        i += 8;
      }
    }
  }
  return hlen;
}

/** Computes and stores the checksum of a complete segment in place. */
export function setTcpChecksum(segment: Uint8Array, source: Uint8Array, destination: Uint8Array) {
  segment[16] = 0;
  segment[17] = 0;
  put16(segment, 16, transportChecksum(source, destination, TCP_PROTOCOL, segment));
}

/** Builds a whole segment (header, options, payload) with its checksum filled. */
export function emitTcp(
  spec: TcpSegmentSpec,
  source: Uint8Array,
  destination: Uint8Array,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const hlen = TCP_HEADER_LENGTH + tcpOptionsLength(spec.options);
  const out = new Uint8Array(hlen + payload.length);
  writeTcpHeader(out, spec);
  out.set(payload, hlen);
  setTcpChecksum(out, source, destination);
  return out;
}

// Sequence numbers live modulo 2^32 (RFC 9293 §3.4); comparisons are valid within 2^31.

/** a + n modulo 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a - b, in (-2^31, 2^31]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}

/** The number of sequence numbers a segment occupies (data, plus one each for SYN and FIN). */
export function segmentLength(h: TcpHeader): number {
  return h.payload.length + (h.flags & TcpFlag.SYN ? 1 : 0) + (h.flags & TcpFlag.FIN ? 1 : 0);
}
