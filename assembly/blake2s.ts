// BLAKE2s (RFC 7693): keyed or not, 1..32 output bytes, streaming over one context in
// static memory. The context is wiped when a digest is finished.

import { wipe } from "./scratch";

const IV0: u32 = 0x6a09e667,
  IV1: u32 = 0xbb67ae85,
  IV2: u32 = 0x3c6ef372,
  IV3: u32 = 0xa54ff53a;
const IV4: u32 = 0x510e527f,
  IV5: u32 = 0x9b05688c,
  IV6: u32 = 0x1f83d9ab,
  IV7: u32 = 0x5be0cd19;

// Message schedule (RFC 7693 §2.7), as byte offsets of the words within a block.
const SIGMA4: usize = memory.data<u8>([
  0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 56, 40, 16, 32, 36, 60, 52, 24, 4,
  48, 0, 8, 44, 28, 20, 12, 44, 32, 48, 0, 20, 8, 60, 52, 40, 56, 12, 24, 28, 4, 36, 16, 28, 36, 12,
  4, 52, 48, 44, 56, 8, 24, 20, 40, 16, 0, 60, 32, 36, 0, 20, 28, 8, 16, 40, 60, 56, 4, 44, 48, 24,
  32, 12, 52, 8, 48, 24, 40, 0, 44, 32, 12, 16, 52, 28, 20, 60, 56, 4, 36, 48, 20, 4, 60, 56, 52,
  16, 40, 0, 28, 24, 12, 36, 8, 32, 44, 52, 44, 28, 56, 48, 4, 12, 36, 20, 0, 60, 16, 32, 24, 8, 40,
  24, 60, 56, 36, 44, 12, 0, 32, 48, 8, 52, 28, 4, 16, 40, 20, 40, 8, 32, 16, 28, 24, 4, 20, 60, 44,
  36, 56, 12, 48, 52, 0,
]);

// Context layout: h[8] at 0, t (u64) at 32, buffered length at 40, output length at 44,
// the pending block at 64.
const CTX: usize = memory.data(128, 16);
const C_T = 32,
  C_BUFLEN = 40,
  C_OUTLEN = 44,
  C_BUF = 64;
export const BLOCK: usize = 64;

/** The compression function F over the 64-byte block at `m`; `last` sets the final flag. */
function compress(m: usize, last: bool): void {
  let v0 = load<u32>(CTX, 0),
    v1 = load<u32>(CTX, 4),
    v2 = load<u32>(CTX, 8),
    v3 = load<u32>(CTX, 12);
  let v4 = load<u32>(CTX, 16),
    v5 = load<u32>(CTX, 20),
    v6 = load<u32>(CTX, 24),
    v7 = load<u32>(CTX, 28);
  let v8 = IV0,
    v9 = IV1,
    v10 = IV2,
    v11 = IV3;
  const t = load<u64>(CTX, C_T);
  let v12 = IV4 ^ <u32>t,
    v13 = IV5 ^ <u32>(t >> 32);
  let v14 = last ? ~IV6 : IV6,
    v15 = IV7;
  for (let s = SIGMA4, end = SIGMA4 + 160; s < end; s += 16) {
    v0 += v4 + load<u32>(m + load<u8>(s, 0));
    v12 = rotr<u32>(v12 ^ v0, 16);
    v8 += v12;
    v4 = rotr<u32>(v4 ^ v8, 12);
    v0 += v4 + load<u32>(m + load<u8>(s, 1));
    v12 = rotr<u32>(v12 ^ v0, 8);
    v8 += v12;
    v4 = rotr<u32>(v4 ^ v8, 7);
    v1 += v5 + load<u32>(m + load<u8>(s, 2));
    v13 = rotr<u32>(v13 ^ v1, 16);
    v9 += v13;
    v5 = rotr<u32>(v5 ^ v9, 12);
    v1 += v5 + load<u32>(m + load<u8>(s, 3));
    v13 = rotr<u32>(v13 ^ v1, 8);
    v9 += v13;
    v5 = rotr<u32>(v5 ^ v9, 7);
    v2 += v6 + load<u32>(m + load<u8>(s, 4));
    v14 = rotr<u32>(v14 ^ v2, 16);
    v10 += v14;
    v6 = rotr<u32>(v6 ^ v10, 12);
    v2 += v6 + load<u32>(m + load<u8>(s, 5));
    v14 = rotr<u32>(v14 ^ v2, 8);
    v10 += v14;
    v6 = rotr<u32>(v6 ^ v10, 7);
    v3 += v7 + load<u32>(m + load<u8>(s, 6));
    v15 = rotr<u32>(v15 ^ v3, 16);
    v11 += v15;
    v7 = rotr<u32>(v7 ^ v11, 12);
    v3 += v7 + load<u32>(m + load<u8>(s, 7));
    v15 = rotr<u32>(v15 ^ v3, 8);
    v11 += v15;
    v7 = rotr<u32>(v7 ^ v11, 7);

    v0 += v5 + load<u32>(m + load<u8>(s, 8));
    v15 = rotr<u32>(v15 ^ v0, 16);
    v10 += v15;
    v5 = rotr<u32>(v5 ^ v10, 12);
    v0 += v5 + load<u32>(m + load<u8>(s, 9));
    v15 = rotr<u32>(v15 ^ v0, 8);
    v10 += v15;
    v5 = rotr<u32>(v5 ^ v10, 7);
    v1 += v6 + load<u32>(m + load<u8>(s, 10));
    v12 = rotr<u32>(v12 ^ v1, 16);
    v11 += v12;
    v6 = rotr<u32>(v6 ^ v11, 12);
    v1 += v6 + load<u32>(m + load<u8>(s, 11));
    v12 = rotr<u32>(v12 ^ v1, 8);
    v11 += v12;
    v6 = rotr<u32>(v6 ^ v11, 7);
    v2 += v7 + load<u32>(m + load<u8>(s, 12));
    v13 = rotr<u32>(v13 ^ v2, 16);
    v8 += v13;
    v7 = rotr<u32>(v7 ^ v8, 12);
    v2 += v7 + load<u32>(m + load<u8>(s, 13));
    v13 = rotr<u32>(v13 ^ v2, 8);
    v8 += v13;
    v7 = rotr<u32>(v7 ^ v8, 7);
    v3 += v4 + load<u32>(m + load<u8>(s, 14));
    v14 = rotr<u32>(v14 ^ v3, 16);
    v9 += v14;
    v4 = rotr<u32>(v4 ^ v9, 12);
    v3 += v4 + load<u32>(m + load<u8>(s, 15));
    v14 = rotr<u32>(v14 ^ v3, 8);
    v9 += v14;
    v4 = rotr<u32>(v4 ^ v9, 7);
  }
  store<u32>(CTX, load<u32>(CTX, 0) ^ v0 ^ v8, 0);
  store<u32>(CTX, load<u32>(CTX, 4) ^ v1 ^ v9, 4);
  store<u32>(CTX, load<u32>(CTX, 8) ^ v2 ^ v10, 8);
  store<u32>(CTX, load<u32>(CTX, 12) ^ v3 ^ v11, 12);
  store<u32>(CTX, load<u32>(CTX, 16) ^ v4 ^ v12, 16);
  store<u32>(CTX, load<u32>(CTX, 20) ^ v5 ^ v13, 20);
  store<u32>(CTX, load<u32>(CTX, 24) ^ v6 ^ v14, 24);
  store<u32>(CTX, load<u32>(CTX, 28) ^ v7 ^ v15, 28);
}

/** Starts a digest of `outLen` (1..32) bytes, keyed when keyLen (0..32) is not zero. */
export function b2sInit(outLen: u32, keyPtr: usize, keyLen: u32): void {
  wipe(CTX, 128);
  store<u32>(CTX, IV0 ^ 0x01010000 ^ (keyLen << 8) ^ outLen, 0);
  store<u32>(CTX, IV1, 4);
  store<u32>(CTX, IV2, 8);
  store<u32>(CTX, IV3, 12);
  store<u32>(CTX, IV4, 16);
  store<u32>(CTX, IV5, 20);
  store<u32>(CTX, IV6, 24);
  store<u32>(CTX, IV7, 28);
  store<u32>(CTX, outLen, C_OUTLEN);
  if (keyLen > 0) {
    memory.copy(CTX + C_BUF, keyPtr, keyLen);
    store<u32>(CTX, BLOCK, C_BUFLEN); // the zero-padded key is the first block
  }
}

/** Absorbs `len` bytes at `ptr`. The last block is held back until b2sFinal. */
export function b2sUpdate(ptr: usize, len: usize): void {
  if (len == 0) return;
  let buffered = <usize>load<u32>(CTX, C_BUFLEN);
  const room = BLOCK - buffered;
  if (len > room) {
    memory.copy(CTX + C_BUF + buffered, ptr, room);
    store<u64>(CTX, load<u64>(CTX, C_T) + BLOCK, C_T);
    compress(CTX + C_BUF, false);
    ptr += room;
    len -= room;
    buffered = 0;
    while (len > BLOCK) {
      store<u64>(CTX, load<u64>(CTX, C_T) + BLOCK, C_T);
      compress(ptr, false);
      ptr += BLOCK;
      len -= BLOCK;
    }
  }
  memory.copy(CTX + C_BUF + buffered, ptr, len);
  store<u32>(CTX, <u32>(buffered + len), C_BUFLEN);
}

/** Finishes the digest into `out` (outLen bytes) and wipes the context. */
export function b2sFinal(out: usize): void {
  const buffered = <usize>load<u32>(CTX, C_BUFLEN);
  store<u64>(CTX, load<u64>(CTX, C_T) + buffered, C_T);
  memory.fill(CTX + C_BUF + buffered, 0, BLOCK - buffered);
  compress(CTX + C_BUF, true);
  memory.copy(out, CTX, <usize>load<u32>(CTX, C_OUTLEN));
  wipe(CTX, 128);
}

/** One-shot BLAKE2s. */
export function blake2s(
  src: usize,
  len: usize,
  keyPtr: usize,
  keyLen: u32,
  outLen: u32,
  out: usize,
): void {
  b2sInit(outLen, keyPtr, keyLen);
  b2sUpdate(src, len);
  b2sFinal(out);
}
