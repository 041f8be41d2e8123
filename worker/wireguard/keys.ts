// WireGuard keys as `wg` writes them: standard base64 of 32 bytes, 44 characters ending in '='.
// The codec mirrors wireguard-tools' encoding.c: private keys pass through it, so it decodes
// and encodes with arithmetic instead of table lookups or branches on key bytes, and it is just
// as strict (exactly 44 characters, '=' last, zero trailing bits), so a key this module accepts
// is one `wg` accepts and the other way round. Buffer is Node-only, hence our own codec.

import { nobleX25519, type X25519Provider } from "../crypto/x25519.ts";

/** Length of a WireGuard key in bytes (private, public and preshared alike). */
export const KEY_LENGTH = 32;

/** Length of a key's base64 form: 4 characters per 3 bytes, rounded up, '=' padded. */
export const KEY_BASE64_LENGTH = 44;

function randomKey(): Uint8Array {
  const key = new Uint8Array(KEY_LENGTH);
  // Web Crypto: present in browsers, workers and Node ≥ 19 alike.
  globalThis.crypto.getRandomValues(key);
  return key;
}

/**
 * A fresh private key, as `wg genkey` makes it: 32 random bytes clamped per RFC 7748 (low three
 * bits cleared so the scalar is a multiple of the cofactor, top bit cleared, bit 254 set).
 * X25519 clamps again when it uses the key; clamping here makes the stored key canonical.
 */
export function generatePrivateKey(): Uint8Array {
  const key = randomKey();
  key[0] = key[0]! & 248;
  key[31] = (key[31]! & 127) | 64;
  return key;
}

/** A fresh preshared key, as `wg genpsk` makes it: 32 random bytes, used as is (no clamping). */
export function generatePresharedKey(): Uint8Array {
  return randomKey();
}

/** The public key of `privateKey` (any 32 bytes; the provider clamps). Default: @noble/curves. */
export function publicKey(
  privateKey: Uint8Array,
  provider: X25519Provider = nobleX25519,
): Promise<Uint8Array> {
  return provider.publicKey(privateKey);
}

// One 6-bit value to its base64 character, branch-free (encoding.c's encode_base64): start at
// 'A' and add the distance to the next alphabet run once the value passes its start.
function encodeSextet(v: number): number {
  return (
    v +
    65 +
    (((25 - v) >> 8) & 6) -
    (((51 - v) >> 8) & 75) -
    (((61 - v) >> 8) & 15) +
    (((62 - v) >> 8) & 3)
  );
}

/** The `wg` form of a 32-byte key: 44 characters of standard base64, the last one '='. */
export function keyToBase64(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new TypeError(`keyToBase64: a key is ${KEY_LENGTH} bytes, got ${got}`);
  }
  const codes = new Array<number>(KEY_BASE64_LENGTH);
  for (let i = 0; i < 11; i++) {
    const a = key[3 * i]!;
    const b = key[3 * i + 1] ?? 0;
    const c = key[3 * i + 2] ?? 0;
    codes[4 * i] = encodeSextet(a >> 2);
    codes[4 * i + 1] = encodeSextet(((a << 4) | (b >> 4)) & 63);
    codes[4 * i + 2] = encodeSextet(((b << 2) | (c >> 6)) & 63);
    codes[4 * i + 3] = encodeSextet(c & 63);
  }
  // 32 bytes = 10 groups of 3 and 2 left over: the 11th group's last character is padding.
  codes[43] = 61; // '='
  return String.fromCharCode(...codes);
}

// One base64 character to its value, or -1 when it is not in the alphabet, branch-free
// (encoding.c's decode_base64). Each term is the value when `c` lies in its run, else 0: the
// two differences are both negative only inside the run, so their AND shifted right by 8 is
// all ones there and 0 elsewhere (valid for 0 <= c <= 255; the caller folds larger codes in).
function decodeChar(c: number): number {
  return (
    -1 +
    ((((64 - c) & (c - 91)) >> 8) & (c - 64)) +
    ((((96 - c) & (c - 123)) >> 8) & (c - 70)) +
    ((((47 - c) & (c - 58)) >> 8) & (c + 5)) +
    ((((42 - c) & (c - 44)) >> 8) & 63) +
    ((((46 - c) & (c - 48)) >> 8) & 64)
  );
}

/**
 * Decodes a key in `wg`'s form. Surrounding whitespace is ignored (a line read from a file or
 * stdin); otherwise the text must be exactly what keyToBase64 produces. Throws a TypeError that
 * starts with `what` (e.g. "PrivateKey") and says what is wrong, never quoting the key.
 */
export function keyFromBase64(text: string, what = "key"): Uint8Array {
  if (typeof text !== "string") {
    throw new TypeError(`${what}: not a WireGuard key: expected a string, got ${typeof text}`);
  }
  const s = text.trim();
  if (s.length !== KEY_BASE64_LENGTH) {
    const count = s.length === 0 ? "empty" : `${s.length} characters`;
    throw new TypeError(
      `${what}: not a WireGuard key: ${count}, expected ${KEY_BASE64_LENGTH} (base64 of 32 bytes)`,
    );
  }
  const key = new Uint8Array(KEY_LENGTH);
  let bad = 0; // negative once any character is out of the alphabet
  for (let i = 0; i < 11; i++) {
    let group = 0;
    for (let j = 0; j < 4; j++) {
      // The 44th character is the '=' checked below; decode it as 'A' (0) like encoding.c.
      const c = i === 10 && j === 3 ? 65 : s.charCodeAt(4 * i + j);
      bad |= 255 - c; // negative for codes above 255, which decodeChar cannot judge
      group |= decodeChar(c & 255) << (18 - 6 * j);
    }
    bad |= group;
    key[3 * i] = group >> 16;
    if (i < 10) {
      key[3 * i + 1] = group >> 8;
      key[3 * i + 2] = group;
    } else {
      key[31] = group >> 8;
      bad |= -(group & 255); // canonical form: the bits after the 32nd byte are zero
    }
  }
  if (bad < 0 || s.charCodeAt(43) !== 61) {
    key.fill(0);
    throw new TypeError(`${what}: not a WireGuard key: ${whatIsWrong(s)}`);
  }
  return key;
}

// Only reached for text that is not a key, so it may branch on the characters freely; it names
// positions, not characters, so an almost-right private key is not echoed into a log.
function whatIsWrong(s: string): string {
  for (let i = 0; i < KEY_BASE64_LENGTH - 1; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || decodeChar(c) < 0) {
      const url = c === 45 || c === 95 ? "; base64url ('-', '_') is not accepted" : "";
      const pad = c === 61 ? " ('=' may only be the last character)" : "";
      return `character ${i + 1} is not base64 (A-Z a-z 0-9 + /)${pad}${url}`;
    }
  }
  if (s.charCodeAt(43) !== 61) {
    return `character 44 must be '=' (${KEY_BASE64_LENGTH} characters of base64 hold 32 bytes)`;
  }
  return "character 43 has trailing bits set (not the canonical base64 of 32 bytes)";
}
