// Path probes (docs/paths.md): the small authenticated messages two nodes exchange on their
// shared UDP socket and through the relay to learn which paths work and how fast. They travel
// beside WireGuard's own messages, so they must never be mistaken for one: WireGuard messages
// start with a type byte 1..4 and three zero bytes, STUN with two zero bits and its cookie at
// bytes 4..8; a probe starts with PROBE_MAGIC ("CPRB"), whose first byte is neither.
//
// Layout (big-endian), fixed sizes so parsing is a few bounds checks:
//   0   magic "CPRB"                4 bytes
//   4   kind (1 ping, 2 pong)       1
//   5   reserved, zero              3
//   8   sender's node key           32  (WireGuard static public key)
//   40  transaction id              12  (random, chosen by the pinger, echoed in the pong)
//   pong only:
//   52  observed family (0, 4, 6)   1   (0: seen through the relay, no UDP address)
//   53  observed port               2
//   55  observed address            16  (IPv4 in the first 4 bytes, the rest zero)
//   end mac                         16  keyed BLAKE2s-128 of every byte before it
//
// The MAC key is BLAKE2s("corridor path probe v1", key = X25519(own private, peer public)):
// the two nodes compute the same key from their static keys (as the relay proof in DESIGN §4),
// and nobody else can, so a probe proves who sent it. A pong answers only a transaction id the
// receiver sent itself, so a replayed pong is ignored.

import { blake2s } from "@noble/hashes/blake2.js";
import type { X25519Provider } from "../crypto/x25519.ts";
import { formatIp, parseIp } from "../wireguard/ip-address.ts";
import { isProbe, PROBE_MAGIC } from "./probe-magic.ts";

export { isProbe, PROBE_MAGIC };

/** Size of a ping. */
export const PING_BYTES = 68;
/** Size of a pong. */
export const PONG_BYTES = 87;
/** Size of a probe's transaction id. */
export const PROBE_TXID_BYTES = 12;
const MAC_BYTES = 16;
const KEY_BYTES = 32;
const CONTEXT = new TextEncoder().encode("corridor path probe v1");

/** The UDP source a pong reports its ping came from. */
export interface ObservedAddress {
  /** "203.0.113.7" or "2001:db8::7". */
  address: string;
  port: number;
}

/** A probe's content (the MAC is checked separately, once the sender's key is known). */
export interface Probe {
  kind: "ping" | "pong";
  /** The sender's 32-byte WireGuard public key. */
  sender: Uint8Array;
  transactionId: Uint8Array;
  /** Pong only: where the pinger's datagram came from; null when it came through the relay. */
  observed: ObservedAddress | null;
}

/** What parseProbe returns. */
export type ProbeParse = { ok: true; probe: Probe } | { ok: false; error: string };

/** The MAC key two nodes share: derive once per peer and keep it. */
export async function probeKey(
  x25519: X25519Provider,
  ownPrivateKey: Uint8Array,
  peerPublicKey: Uint8Array,
): Promise<Uint8Array> {
  const shared = await x25519.sharedSecret(ownPrivateKey, peerPublicKey);
  try {
    return blake2s(CONTEXT, { key: shared, dkLen: KEY_BYTES });
  } finally {
    shared.fill(0);
  }
}

/**
 * Encodes a probe under `key` (from probeKey). Throws a TypeError on a malformed sender,
 * transaction id or observed address (programming errors, never input).
 */
export function encodeProbe(probe: Probe, key: Uint8Array): Uint8Array {
  if (probe.sender.length !== 32) throw new TypeError("probe: the sender key is 32 bytes");
  if (probe.transactionId.length !== PROBE_TXID_BYTES) {
    throw new TypeError("probe: the transaction id is 12 bytes");
  }
  const pong = probe.kind === "pong";
  const out = new Uint8Array(pong ? PONG_BYTES : PING_BYTES);
  out.set(PROBE_MAGIC, 0);
  out[4] = pong ? 2 : 1;
  out.set(probe.sender, 8);
  out.set(probe.transactionId, 40);
  if (pong && probe.observed !== null) {
    let address = parseIp(probe.observed.address, "probe: observed address");
    // A dual-stack socket names IPv4 sources as ::ffff:a.b.c.d; they are IPv4.
    if (address.length === 16 && address[10] === 0xff && address[11] === 0xff) {
      if (address.subarray(0, 10).every((b) => b === 0)) address = address.slice(12);
    }
    const port = probe.observed.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(`probe: observed port ${port} out of range`);
    }
    out[52] = address.length === 4 ? 4 : 6;
    out[53] = port >> 8;
    out[54] = port & 0xff;
    out.set(address, 55);
  }
  const bodyLength = out.length - MAC_BYTES;
  out.set(blake2s(out.subarray(0, bodyLength), { key, dkLen: MAC_BYTES }), bodyLength);
  return out;
}

/**
 * Parses a probe's structure (magic, kind, reserved zeros, exact size, observed address) without
 * checking its MAC: the sender key inside says which key to check it with (verifyProbe). Never
 * throws.
 */
export function parseProbe(bytes: Uint8Array): ProbeParse {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: "not a byte array" };
  if (!isProbe(bytes)) return { ok: false, error: "no probe magic" };
  if (bytes.length < 8) return { ok: false, error: `${bytes.length} bytes is too short` };
  const kind = bytes[4] === 1 ? "ping" : bytes[4] === 2 ? "pong" : undefined;
  if (kind === undefined) return { ok: false, error: `unknown probe kind ${bytes[4]}` };
  const size = kind === "ping" ? PING_BYTES : PONG_BYTES;
  if (bytes.length !== size) {
    return { ok: false, error: `a ${kind} is ${size} bytes, got ${bytes.length}` };
  }
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    return { ok: false, error: "reserved bytes are not zero" };
  }
  let observed: ObservedAddress | null = null;
  if (kind === "pong") {
    const family = bytes[52];
    const port = ((bytes[53] as number) << 8) | (bytes[54] as number);
    const address = bytes.subarray(55, 71);
    if (family === 0) {
      if (port !== 0 || address.some((b) => b !== 0)) {
        return { ok: false, error: "a relay pong carries an address" };
      }
    } else if (family === 4 || family === 6) {
      if (port === 0) return { ok: false, error: "observed port 0" };
      if (family === 4 && address.subarray(4).some((b) => b !== 0)) {
        return { ok: false, error: "bytes after an observed IPv4 address are not zero" };
      }
      observed = { address: formatIp(family === 4 ? address.subarray(0, 4) : address), port };
    } else {
      return { ok: false, error: `unknown observed family ${family}` };
    }
  }
  return {
    ok: true,
    probe: {
      kind,
      sender: bytes.slice(8, 40),
      transactionId: bytes.slice(40, 52),
      observed,
    },
  };
}

/** True when `bytes` (a parsed probe) carries a valid MAC under `key`; constant time. */
export function verifyProbe(bytes: Uint8Array, key: Uint8Array): boolean {
  if (bytes.length !== PING_BYTES && bytes.length !== PONG_BYTES) return false;
  const bodyLength = bytes.length - MAC_BYTES;
  const expected = blake2s(bytes.subarray(0, bodyLength), { key, dkLen: MAC_BYTES });
  let diff = 0;
  for (let i = 0; i < MAC_BYTES; i++) {
    diff |= (expected[i] as number) ^ (bytes[bodyLength + i] as number);
  }
  return diff === 0;
}
