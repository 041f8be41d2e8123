// Known-answer vectors for the crypto core, transcribed from their primary sources.
// Each vectors-*.ts file names the documents and sections its values come from:
//   vectors-chacha.ts   RFC 8439 (ChaCha20, Poly1305, Poly1305 key generation)
//   vectors-aead.ts     RFC 8439 (ChaCha20-Poly1305), draft-irtf-cfrg-xchacha-03
//   vectors-blake2s.ts  RFC 7693, BLAKE2/BLAKE2 blake2-kat, wireguard-go device/kdf_test.go
//   vectors-x25519.ts   RFC 7748

export * from "./vectors-aead.ts";
export * from "./vectors-blake2s.ts";
export * from "./vectors-chacha.ts";
export * from "./vectors-x25519.ts";

/** Decodes a hex string; whitespace (used to lay out long values) is ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`bad hex string: ${clean.slice(0, 40)}`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Encodes bytes as lowercase hex (for readable expect() failures). */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** n zero bytes. */
export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

/** The bytes 00 01 02 .. (n - 1) mod 256 (the input of the BLAKE2 KATs). */
export function counting(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i & 0xff;
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * RFC 7693 Appendix E selftest_seq(): a deterministic byte sequence from a Fibonacci generator.
 *   a = 0xDEAD4BAD * seed; b = 1; for each byte: t = a + b; a = b; b = t; out[i] = t >> 24
 * (all arithmetic modulo 2^32).
 */
export function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = (t >>> 24) & 0xff;
  }
  return out;
}
