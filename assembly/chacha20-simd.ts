// ChaCha20 with wasm SIMD: four blocks per pass, one block per i32x4 lane. Word i of all four
// blocks lives in vector xi; after the rounds a 4x4 transpose turns lanes back into blocks.

import { SIGMA0, SIGMA1, SIGMA2, SIGMA3, xorInto } from "./chacha20";
import { polyBlock } from "./poly1305";
import { KEYSTREAM, wipe } from "./scratch";

// Most Poly1305 blocks one pass absorbs: two per double round.
const MAC_BLOCKS_PER_PASS: usize = 20;

// @ts-expect-error: decorator
@inline function rotl16(v: v128): v128 {
  return i8x16.shuffle(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
}
// @ts-expect-error: decorator
@inline function rotl8(v: v128): v128 {
  return v128.or(i32x4.shl(v, 8), i32x4.shr_u(v, 24));
}
// @ts-expect-error: decorator
@inline function rotl12(v: v128): v128 {
  return v128.or(i32x4.shl(v, 12), i32x4.shr_u(v, 20));
}
// @ts-expect-error: decorator
@inline function rotl7(v: v128): v128 {
  return v128.or(i32x4.shl(v, 7), i32x4.shr_u(v, 25));
}

/**
 * Writes the 256-byte result of one 4-block pass: (src XOR keystream) for blocks
 * counter..counter+3 into dst. With src pointing at zeroes this yields raw keystream.
 * The input words are reloaded for the feed-forward instead of kept live through the
 * rounds: sixteen state vectors already fill an x86-64 register file.
 */
function pass4(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, mac: usize, macBlocks: u32,
): void {
  let x0 = i32x4.splat(SIGMA0), x1 = i32x4.splat(SIGMA1);
  let x2 = i32x4.splat(SIGMA2), x3 = i32x4.splat(SIGMA3);
  let x4 = v128.load32_splat(keyPtr, 0), x5 = v128.load32_splat(keyPtr, 4);
  let x6 = v128.load32_splat(keyPtr, 8), x7 = v128.load32_splat(keyPtr, 12);
  let x8 = v128.load32_splat(keyPtr, 16), x9 = v128.load32_splat(keyPtr, 20);
  let x10 = v128.load32_splat(keyPtr, 24), x11 = v128.load32_splat(keyPtr, 28);
  let x12 = i32x4.add(i32x4.splat(counter), i32x4(0, 1, 2, 3));
  let x13 = i32x4.splat(n0), x14 = i32x4.splat(n1), x15 = i32x4.splat(n2);
  for (let i = 0; i < 10; i++) {
    x0 = i32x4.add(x0, x4); x12 = rotl16(v128.xor(x12, x0));
    x1 = i32x4.add(x1, x5); x13 = rotl16(v128.xor(x13, x1));
    x2 = i32x4.add(x2, x6); x14 = rotl16(v128.xor(x14, x2));
    x3 = i32x4.add(x3, x7); x15 = rotl16(v128.xor(x15, x3));
    x8 = i32x4.add(x8, x12); x4 = rotl12(v128.xor(x4, x8));
    x9 = i32x4.add(x9, x13); x5 = rotl12(v128.xor(x5, x9));
    x10 = i32x4.add(x10, x14); x6 = rotl12(v128.xor(x6, x10));
    x11 = i32x4.add(x11, x15); x7 = rotl12(v128.xor(x7, x11));
    x0 = i32x4.add(x0, x4); x12 = rotl8(v128.xor(x12, x0));
    x1 = i32x4.add(x1, x5); x13 = rotl8(v128.xor(x13, x1));
    x2 = i32x4.add(x2, x6); x14 = rotl8(v128.xor(x14, x2));
    x3 = i32x4.add(x3, x7); x15 = rotl8(v128.xor(x15, x3));
    x8 = i32x4.add(x8, x12); x4 = rotl7(v128.xor(x4, x8));
    x9 = i32x4.add(x9, x13); x5 = rotl7(v128.xor(x5, x9));
    x10 = i32x4.add(x10, x14); x6 = rotl7(v128.xor(x6, x10));
    x11 = i32x4.add(x11, x15); x7 = rotl7(v128.xor(x7, x11));

    x0 = i32x4.add(x0, x5); x15 = rotl16(v128.xor(x15, x0));
    x1 = i32x4.add(x1, x6); x12 = rotl16(v128.xor(x12, x1));
    x2 = i32x4.add(x2, x7); x13 = rotl16(v128.xor(x13, x2));
    x3 = i32x4.add(x3, x4); x14 = rotl16(v128.xor(x14, x3));
    x10 = i32x4.add(x10, x15); x5 = rotl12(v128.xor(x5, x10));
    x11 = i32x4.add(x11, x12); x6 = rotl12(v128.xor(x6, x11));
    x8 = i32x4.add(x8, x13); x7 = rotl12(v128.xor(x7, x8));
    x9 = i32x4.add(x9, x14); x4 = rotl12(v128.xor(x4, x9));
    x0 = i32x4.add(x0, x5); x15 = rotl8(v128.xor(x15, x0));
    x1 = i32x4.add(x1, x6); x12 = rotl8(v128.xor(x12, x1));
    x2 = i32x4.add(x2, x7); x13 = rotl8(v128.xor(x13, x2));
    x3 = i32x4.add(x3, x4); x14 = rotl8(v128.xor(x14, x3));
    x10 = i32x4.add(x10, x15); x5 = rotl7(v128.xor(x5, x10));
    x11 = i32x4.add(x11, x12); x6 = rotl7(v128.xor(x6, x11));
    x8 = i32x4.add(x8, x13); x7 = rotl7(v128.xor(x7, x8));
    x9 = i32x4.add(x9, x14); x4 = rotl7(v128.xor(x4, x9));
    // Stitched Poly1305: up to two blocks per double round (scalar units, idle otherwise).
    if (macBlocks > 0) {
      polyBlock(mac);
      mac += 16;
      macBlocks--;
      if (macBlocks > 0) {
        polyBlock(mac);
        mac += 16;
        macBlocks--;
      }
    }
  }
  x0 = i32x4.add(x0, i32x4.splat(SIGMA0)); x1 = i32x4.add(x1, i32x4.splat(SIGMA1));
  x2 = i32x4.add(x2, i32x4.splat(SIGMA2)); x3 = i32x4.add(x3, i32x4.splat(SIGMA3));
  transposeXor(x0, x1, x2, x3, src, dst, 0);
  x4 = i32x4.add(x4, v128.load32_splat(keyPtr, 0)); x5 = i32x4.add(x5, v128.load32_splat(keyPtr, 4));
  x6 = i32x4.add(x6, v128.load32_splat(keyPtr, 8)); x7 = i32x4.add(x7, v128.load32_splat(keyPtr, 12));
  transposeXor(x4, x5, x6, x7, src, dst, 16);
  x8 = i32x4.add(x8, v128.load32_splat(keyPtr, 16)); x9 = i32x4.add(x9, v128.load32_splat(keyPtr, 20));
  x10 = i32x4.add(x10, v128.load32_splat(keyPtr, 24)); x11 = i32x4.add(x11, v128.load32_splat(keyPtr, 28));
  transposeXor(x8, x9, x10, x11, src, dst, 32);
  x12 = i32x4.add(x12, i32x4.add(i32x4.splat(counter), i32x4(0, 1, 2, 3)));
  x13 = i32x4.add(x13, i32x4.splat(n0)); x14 = i32x4.add(x14, i32x4.splat(n1)); x15 = i32x4.add(x15, i32x4.splat(n2));
  transposeXor(x12, x13, x14, x15, src, dst, 48);
}

/**
 * Words (a, b, c, d) hold one 16-byte group of each of the four blocks, block j in lane j.
 * Transposes them so each vector is one block's group and XORs it into place.
 */
// @ts-expect-error: decorator
@inline
function transposeXor(a: v128, b: v128, c: v128, d: v128, src: usize, dst: usize, at: usize): void {
  const t0 = v128.shuffle<u32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<u32>(c, d, 0, 4, 1, 5);
  const t2 = v128.shuffle<u32>(a, b, 2, 6, 3, 7);
  const t3 = v128.shuffle<u32>(c, d, 2, 6, 3, 7);
  const s = src + at, o = dst + at;
  v128.store(o, v128.xor(v128.load(s, 0), v128.shuffle<u32>(t0, t1, 0, 1, 4, 5)), 0);
  v128.store(o, v128.xor(v128.load(s, 64), v128.shuffle<u32>(t0, t1, 2, 3, 6, 7)), 64);
  v128.store(o, v128.xor(v128.load(s, 128), v128.shuffle<u32>(t2, t3, 0, 1, 4, 5)), 128);
  v128.store(o, v128.xor(v128.load(s, 192), v128.shuffle<u32>(t2, t3, 2, 3, 6, 7)), 192);
}

/**
 * Writes 256 bytes of raw keystream, blocks counter..counter+3, to KEYSTREAM while absorbing
 * `macBlocks` (at most 20) Poly1305 blocks from `mac`.
 */
export function keystreamMac(keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, mac: usize, macBlocks: u32): void {
  wipe(KEYSTREAM, 256);
  pass4(keyPtr, counter, n0, n1, n2, KEYSTREAM, KEYSTREAM, mac, macBlocks);
}

/** Writes 256 bytes of raw keystream, blocks counter..counter+3, to `out`. */
export function keystream4(keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, out: usize): void {
  wipe(out, 256);
  chachaXorSimd(keyPtr, counter, n0, n1, n2, out, out, 256);
}

/**
 * XORs `len` bytes at `src` with the keystream from block `counter` into `dst`, four blocks
 * per pass; a tail shorter than 256 bytes runs one pass into scratch. `dst` may equal `src`.
 */
export function chachaXorSimd(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize,
): void {
  while (len >= 256) {
    pass4(keyPtr, counter, n0, n1, n2, src, dst, 0, 0);
    counter += 4;
    src += 256;
    dst += 256;
    len -= 256;
  }
  if (len > 0) {
    wipe(KEYSTREAM, 256);
    pass4(keyPtr, counter, n0, n1, n2, KEYSTREAM, KEYSTREAM, 0, 0);
    xorInto(dst, src, KEYSTREAM, len);
    wipe(KEYSTREAM, 256);
  }
}

/**
 * The seal side of the stitched AEAD: like chachaXorSimd, and meanwhile feeds Poly1305 (state
 * already initialised) the ciphertext written so far, from `macFrom` on, in order. Returns how
 * far the MAC got: whole 16-byte blocks past macFrom; the caller absorbs the rest.
 */
export function chachaXorSimdMac(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize, macFrom: usize,
): usize {
  let mac = macFrom;
  while (len >= 256) {
    const ready = (dst - mac) >> 4;
    const blocks = ready < MAC_BLOCKS_PER_PASS ? ready : MAC_BLOCKS_PER_PASS;
    pass4(keyPtr, counter, n0, n1, n2, src, dst, mac, <u32>blocks);
    mac += blocks << 4;
    counter += 4;
    src += 256;
    dst += 256;
    len -= 256;
  }
  if (len > 0) {
    // The tail's pass runs into scratch and MACs what is ready, like the others.
    const ready = (dst - mac) >> 4;
    const blocks = ready < MAC_BLOCKS_PER_PASS ? ready : MAC_BLOCKS_PER_PASS;
    keystreamMac(keyPtr, counter, n0, n1, n2, mac, <u32>blocks);
    mac += blocks << 4;
    xorInto(dst, src, KEYSTREAM, len);
    wipe(KEYSTREAM, 256);
  }
  return mac;
}

/**
 * The open side of the stitched AEAD: decrypts whole 256-byte chunks of `len` and feeds
 * Poly1305 each chunk's ciphertext inside the same pass, before its plaintext is stored (so
 * src may equal dst). Returns the bytes done, a multiple of 256; the caller MACs the rest,
 * then decrypts it.
 */
export function chachaOpenSimdMac(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize,
): usize {
  let done: usize = 0;
  while (len - done >= 256) {
    pass4(keyPtr, counter, n0, n1, n2, src + done, dst + done, src + done, 16);
    counter += 4;
    done += 256;
  }
  return done;
}
