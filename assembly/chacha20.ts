// ChaCha20 (RFC 8439 §2.3-2.4), scalar: one 64-byte block per pass. The SIMD build uses
// chacha20-simd.ts for bulk data and this file for single blocks and HChaCha20.

import { KEYSTREAM, wipe } from "./scratch";

// "expand 32-byte k"
export const SIGMA0: u32 = 0x61707865;
export const SIGMA1: u32 = 0x3320646e;
export const SIGMA2: u32 = 0x79622d32;
export const SIGMA3: u32 = 0x6b206574;

// Output of the last block() call; module globals rather than memory so nothing needs
// wiping in linear memory. clearBlockState() zeroes them.
let o0: u32 = 0, o1: u32 = 0, o2: u32 = 0, o3: u32 = 0;
let o4: u32 = 0, o5: u32 = 0, o6: u32 = 0, o7: u32 = 0;
let o8: u32 = 0, o9: u32 = 0, o10: u32 = 0, o11: u32 = 0;
let o12: u32 = 0, o13: u32 = 0, o14: u32 = 0, o15: u32 = 0;

/**
 * Runs the 20 rounds over a state with the given key (8 words at keyPtr), counter and nonce
 * words. When `feedForward` is true the input state is added (the ChaCha20 block function);
 * when false the raw permutation is kept (HChaCha20).
 */
function rounds(keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, feedForward: bool): void {
  const k0 = load<u32>(keyPtr, 0), k1 = load<u32>(keyPtr, 4);
  const k2 = load<u32>(keyPtr, 8), k3 = load<u32>(keyPtr, 12);
  const k4 = load<u32>(keyPtr, 16), k5 = load<u32>(keyPtr, 20);
  const k6 = load<u32>(keyPtr, 24), k7 = load<u32>(keyPtr, 28);
  let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3;
  let x4 = k0, x5 = k1, x6 = k2, x7 = k3, x8 = k4, x9 = k5, x10 = k6, x11 = k7;
  let x12 = counter, x13 = n0, x14 = n1, x15 = n2;
  for (let i = 0; i < 10; i++) {
    // column rounds
    x0 += x4; x12 = rotl<u32>(x12 ^ x0, 16); x8 += x12; x4 = rotl<u32>(x4 ^ x8, 12);
    x0 += x4; x12 = rotl<u32>(x12 ^ x0, 8); x8 += x12; x4 = rotl<u32>(x4 ^ x8, 7);
    x1 += x5; x13 = rotl<u32>(x13 ^ x1, 16); x9 += x13; x5 = rotl<u32>(x5 ^ x9, 12);
    x1 += x5; x13 = rotl<u32>(x13 ^ x1, 8); x9 += x13; x5 = rotl<u32>(x5 ^ x9, 7);
    x2 += x6; x14 = rotl<u32>(x14 ^ x2, 16); x10 += x14; x6 = rotl<u32>(x6 ^ x10, 12);
    x2 += x6; x14 = rotl<u32>(x14 ^ x2, 8); x10 += x14; x6 = rotl<u32>(x6 ^ x10, 7);
    x3 += x7; x15 = rotl<u32>(x15 ^ x3, 16); x11 += x15; x7 = rotl<u32>(x7 ^ x11, 12);
    x3 += x7; x15 = rotl<u32>(x15 ^ x3, 8); x11 += x15; x7 = rotl<u32>(x7 ^ x11, 7);
    // diagonal rounds
    x0 += x5; x15 = rotl<u32>(x15 ^ x0, 16); x10 += x15; x5 = rotl<u32>(x5 ^ x10, 12);
    x0 += x5; x15 = rotl<u32>(x15 ^ x0, 8); x10 += x15; x5 = rotl<u32>(x5 ^ x10, 7);
    x1 += x6; x12 = rotl<u32>(x12 ^ x1, 16); x11 += x12; x6 = rotl<u32>(x6 ^ x11, 12);
    x1 += x6; x12 = rotl<u32>(x12 ^ x1, 8); x11 += x12; x6 = rotl<u32>(x6 ^ x11, 7);
    x2 += x7; x13 = rotl<u32>(x13 ^ x2, 16); x8 += x13; x7 = rotl<u32>(x7 ^ x8, 12);
    x2 += x7; x13 = rotl<u32>(x13 ^ x2, 8); x8 += x13; x7 = rotl<u32>(x7 ^ x8, 7);
    x3 += x4; x14 = rotl<u32>(x14 ^ x3, 16); x9 += x14; x4 = rotl<u32>(x4 ^ x9, 12);
    x3 += x4; x14 = rotl<u32>(x14 ^ x3, 8); x9 += x14; x4 = rotl<u32>(x4 ^ x9, 7);
  }
  if (feedForward) {
    x0 += SIGMA0; x1 += SIGMA1; x2 += SIGMA2; x3 += SIGMA3;
    x4 += k0; x5 += k1; x6 += k2; x7 += k3; x8 += k4; x9 += k5; x10 += k6; x11 += k7;
    x12 += counter; x13 += n0; x14 += n1; x15 += n2;
  }
  o0 = x0; o1 = x1; o2 = x2; o3 = x3; o4 = x4; o5 = x5; o6 = x6; o7 = x7;
  o8 = x8; o9 = x9; o10 = x10; o11 = x11; o12 = x12; o13 = x13; o14 = x14; o15 = x15;
}

/** Zeroes the globals that hold the last block's output. */
export function clearBlockState(): void {
  o0 = 0; o1 = 0; o2 = 0; o3 = 0; o4 = 0; o5 = 0; o6 = 0; o7 = 0;
  o8 = 0; o9 = 0; o10 = 0; o11 = 0; o12 = 0; o13 = 0; o14 = 0; o15 = 0;
}

/** Writes the 64-byte ChaCha20 block for (key, counter, nonce) to `out`. */
export function chachaBlock(keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, out: usize): void {
  rounds(keyPtr, counter, n0, n1, n2, true);
  store<u32>(out, o0, 0); store<u32>(out, o1, 4); store<u32>(out, o2, 8); store<u32>(out, o3, 12);
  store<u32>(out, o4, 16); store<u32>(out, o5, 20); store<u32>(out, o6, 24); store<u32>(out, o7, 28);
  store<u32>(out, o8, 32); store<u32>(out, o9, 36); store<u32>(out, o10, 40); store<u32>(out, o11, 44);
  store<u32>(out, o12, 48); store<u32>(out, o13, 52); store<u32>(out, o14, 56); store<u32>(out, o15, 60);
  clearBlockState();
}

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): 32-byte subkey from a key and 16-byte nonce. */
export function hchacha20(keyPtr: usize, noncePtr: usize, out: usize): void {
  rounds(
    keyPtr,
    load<u32>(noncePtr, 0),
    load<u32>(noncePtr, 4),
    load<u32>(noncePtr, 8),
    load<u32>(noncePtr, 12),
    false,
  );
  store<u32>(out, o0, 0); store<u32>(out, o1, 4); store<u32>(out, o2, 8); store<u32>(out, o3, 12);
  store<u32>(out, o12, 16); store<u32>(out, o13, 20); store<u32>(out, o14, 24); store<u32>(out, o15, 28);
  clearBlockState();
}

/** XORs `len` bytes at `src` with `len` bytes at `ks` into `dst` (8 bytes at a time). */
// @ts-expect-error: decorator
@inline
export function xorInto(dst: usize, src: usize, ks: usize, len: usize): void {
  let i: usize = 0;
  for (; i + 8 <= len; i += 8) store<u64>(dst + i, load<u64>(src + i) ^ load<u64>(ks + i));
  for (; i < len; i++) store<u8>(dst + i, load<u8>(src + i) ^ load<u8>(ks + i));
}

/**
 * XORs `len` bytes at `src` with the keystream starting at block `counter` into `dst`,
 * one block per pass. `dst` may equal `src`.
 */
export function chachaXorScalar(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize,
): void {
  while (len >= 64) {
    rounds(keyPtr, counter, n0, n1, n2, true);
    store<u32>(dst, load<u32>(src, 0) ^ o0, 0); store<u32>(dst, load<u32>(src, 4) ^ o1, 4);
    store<u32>(dst, load<u32>(src, 8) ^ o2, 8); store<u32>(dst, load<u32>(src, 12) ^ o3, 12);
    store<u32>(dst, load<u32>(src, 16) ^ o4, 16); store<u32>(dst, load<u32>(src, 20) ^ o5, 20);
    store<u32>(dst, load<u32>(src, 24) ^ o6, 24); store<u32>(dst, load<u32>(src, 28) ^ o7, 28);
    store<u32>(dst, load<u32>(src, 32) ^ o8, 32); store<u32>(dst, load<u32>(src, 36) ^ o9, 36);
    store<u32>(dst, load<u32>(src, 40) ^ o10, 40); store<u32>(dst, load<u32>(src, 44) ^ o11, 44);
    store<u32>(dst, load<u32>(src, 48) ^ o12, 48); store<u32>(dst, load<u32>(src, 52) ^ o13, 52);
    store<u32>(dst, load<u32>(src, 56) ^ o14, 56); store<u32>(dst, load<u32>(src, 60) ^ o15, 60);
    counter++;
    src += 64;
    dst += 64;
    len -= 64;
  }
  if (len > 0) {
    chachaBlock(keyPtr, counter, n0, n1, n2, KEYSTREAM);
    xorInto(dst, src, KEYSTREAM, len);
    wipe(KEYSTREAM, 64);
  }
  clearBlockState();
}
