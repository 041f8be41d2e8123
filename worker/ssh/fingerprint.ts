// OpenSSH-style fingerprints of SSH public keys (issue 7, "Host keys"). A key is handled as its
// wire-format blob (RFC 4253 §6.6): `string keytype` followed by type-specific fields. Only the
// leading string is read here, so this module does not depend on the full SSH data types.
// No Node built-ins: this runs in the Worker.

import { sha256 } from "@noble/hashes/sha2.js";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map<string, number>([...B64].map((c, i) => [c, i]));

/** Standard base64 (RFC 4648 §4) of `bytes`, with `=` padding unless `pad` is false. */
export function encodeBase64(bytes: Uint8Array, pad = true): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] ?? 0;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    const left = bytes.length - i;
    out += B64[(n >>> 18) & 63];
    out += B64[(n >>> 12) & 63];
    if (left > 1) out += B64[(n >>> 6) & 63];
    else if (pad) out += "=";
    if (left > 2) out += B64[n & 63];
    else if (pad) out += "=";
  }
  return out;
}

/**
 * Decodes strict standard base64: padding optional but, when present, correct; no whitespace,
 * no URL-safe alphabet, no non-zero trailing bits. Returns undefined for anything else.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  let body = text;
  if (body.length % 4 === 0 && body.endsWith("==")) body = body.slice(0, -2);
  else if (body.length % 4 === 0 && body.endsWith("=")) body = body.slice(0, -1);
  if (body.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of body) {
    const v = B64_INDEX.get(c);
    if (v === undefined) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

/**
 * The key type named by the leading `string` of a wire-format public key blob, e.g.
 * "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa". Throws a TypeError when the blob is too
 * short for its declared length or the name is empty or not printable ASCII.
 */
export function keyTypeOf(blob: Uint8Array): string {
  if (!(blob instanceof Uint8Array)) throw new TypeError("keyTypeOf: blob must be a Uint8Array");
  if (blob.length < 4) throw new TypeError("keyTypeOf: blob shorter than a string length");
  const len =
    (((blob[0] ?? 0) << 24) | ((blob[1] ?? 0) << 16) | ((blob[2] ?? 0) << 8) | (blob[3] ?? 0)) >>>
    0;
  if (len === 0 || len > 64 || 4 + len > blob.length) {
    throw new TypeError(`keyTypeOf: bad key type length ${len} in a ${blob.length}-byte blob`);
  }
  let name = "";
  for (let i = 4; i < 4 + len; i++) {
    const c = blob[i] ?? 0;
    if (c <= 0x20 || c >= 0x7f) throw new TypeError("keyTypeOf: key type is not printable ASCII");
    name += String.fromCharCode(c);
  }
  return name;
}

/**
 * The OpenSSH SHA-256 fingerprint of a wire-format public key blob, as `ssh-keygen -l -E sha256`
 * prints it: "SHA256:" followed by the unpadded standard base64 of SHA-256(blob).
 */
export function fingerprintSha256(blob: Uint8Array): string {
  if (!(blob instanceof Uint8Array)) {
    throw new TypeError("fingerprintSha256: blob must be a Uint8Array");
  }
  return `SHA256:${encodeBase64(sha256(blob), false)}`;
}
