// Poly1305 (RFC 8439 §2.5) in radix 2^32: four 32-bit limbs plus a small fifth, with 64-bit
// products. Clamping makes r1..r3 multiples of 4, so the wrap-around 2^128 = 5/4 (mod p)
// becomes the exact multiplier s = r + (r >> 2): 16 multiplies per block instead of the 25
// of radix 2^26 (poly1305-donna-32), and fewer carries. All values sit in u64 locals.

let r0: u64 = 0,
  r1: u64 = 0,
  r2: u64 = 0,
  r3: u64 = 0;
let h0: u64 = 0,
  h1: u64 = 0,
  h2: u64 = 0,
  h3: u64 = 0,
  h4: u64 = 0;
let s1: u64 = 0,
  s2: u64 = 0,
  s3: u64 = 0;
let pad0: u64 = 0,
  pad1: u64 = 0,
  pad2: u64 = 0,
  pad3: u64 = 0;

/** Starts a MAC with the 32-byte one-time key at keyPtr (r ‖ s). */
export function polyInit(keyPtr: usize): void {
  r0 = <u64>(load<u32>(keyPtr, 0) & 0x0fffffff);
  r1 = <u64>(load<u32>(keyPtr, 4) & 0x0ffffffc);
  r2 = <u64>(load<u32>(keyPtr, 8) & 0x0ffffffc);
  r3 = <u64>(load<u32>(keyPtr, 12) & 0x0ffffffc);
  s1 = r1 + (r1 >> 2);
  s2 = r2 + (r2 >> 2);
  s3 = r3 + (r3 >> 2);
  pad0 = <u64>load<u32>(keyPtr, 16);
  pad1 = <u64>load<u32>(keyPtr, 20);
  pad2 = <u64>load<u32>(keyPtr, 24);
  pad3 = <u64>load<u32>(keyPtr, 28);
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  h4 = 0;
}

/**
 * Absorbs `len` bytes (a multiple of 16) at `ptr`; `hibit` is 1 for full message blocks and 0
 * for a final partial block that the caller already padded with 0x01 and zeroes.
 *
 * Reduction is lazy: the message words are added without carrying (limbs stay below 2^34)
 * and the fold of bits above 2^130 goes into limb 0 only. With r clamped below 2^28 every
 * sum of products stays below 2^64, so one carry chain per block is enough; polyFinish
 * normalizes.
 */
export function polyBlocks(ptr: usize, len: usize, hibit: u64): void {
  const lr0 = r0, lr1 = r1, lr2 = r2, lr3 = r3;
  const s1 = lr1 + (lr1 >> 2), s2 = lr2 + (lr2 >> 2), s3 = lr3 + (lr3 >> 2);
  let a0 = h0, a1 = h1, a2 = h2, a3 = h3, a4 = h4;
  const end = ptr + len;
  while (ptr < end) {
    a0 += <u64>load<u32>(ptr, 0);
    a1 += <u64>load<u32>(ptr, 4);
    a2 += <u64>load<u32>(ptr, 8);
    a3 += <u64>load<u32>(ptr, 12);
    a4 += hibit;
    const d0 = a0 * lr0 + a1 * s3 + a2 * s2 + a3 * s1;
    let d1 = a0 * lr1 + a1 * lr0 + a2 * s3 + a3 * s2 + a4 * s1;
    let d2 = a0 * lr2 + a1 * lr1 + a2 * lr0 + a3 * s3 + a4 * s2;
    let d3 = a0 * lr3 + a1 * lr2 + a2 * lr1 + a3 * lr0 + a4 * s3;
    d1 += d0 >> 32;
    d2 += d1 >> 32;
    d3 += d2 >> 32;
    a4 = a4 * lr0 + (d3 >> 32);
    // fold everything at or above 2^130 back in: (h >> 130) * 5
    a0 = (d0 & 0xffffffff) + (a4 >> 2) + (a4 & ~3);
    a1 = d1 & 0xffffffff;
    a2 = d2 & 0xffffffff;
    a3 = d3 & 0xffffffff;
    a4 &= 3;
    ptr += 16;
  }
  h0 = a0; h1 = a1; h2 = a2; h3 = a3; h4 = a4;
}

/**
 * Absorbs one full 16-byte block, reading and writing the state in globals. The stitched
 * AEAD calls it from inside the ChaCha20 rounds, where its scalar multiplies run on other
 * execution units than the SIMD keystream work; polyBlocks is the faster standalone loop.
 */
// @ts-expect-error: decorator
@inline
export function polyBlock(ptr: usize): void {
  const a0 = h0 + <u64>load<u32>(ptr, 0);
  const a1 = h1 + <u64>load<u32>(ptr, 4);
  const a2 = h2 + <u64>load<u32>(ptr, 8);
  const a3 = h3 + <u64>load<u32>(ptr, 12);
  let a4 = h4 + 1;
  const d0 = a0 * r0 + a1 * s3 + a2 * s2 + a3 * s1;
  let d1 = a0 * r1 + a1 * r0 + a2 * s3 + a3 * s2 + a4 * s1;
  let d2 = a0 * r2 + a1 * r1 + a2 * r0 + a3 * s3 + a4 * s2;
  let d3 = a0 * r3 + a1 * r2 + a2 * r1 + a3 * r0 + a4 * s3;
  d1 += d0 >> 32;
  d2 += d1 >> 32;
  d3 += d2 >> 32;
  a4 = a4 * r0 + (d3 >> 32);
  h0 = (d0 & 0xffffffff) + (a4 >> 2) + (a4 & ~3);
  h1 = d1 & 0xffffffff;
  h2 = d2 & 0xffffffff;
  h3 = d3 & 0xffffffff;
  h4 = a4 & 3;
}

/** Carries the lazy limbs into 32-bit limbs with h4 < 8, that is h < 2^131. */
function normalize(): void {
  for (let round = 0; round < 2; round++) {
    let t: u64 = h0;
    h0 = t & 0xffffffff;
    t = h1 + (t >> 32);
    h1 = t & 0xffffffff;
    t = h2 + (t >> 32);
    h2 = t & 0xffffffff;
    t = h3 + (t >> 32);
    h3 = t & 0xffffffff;
    h4 += t >> 32;
    const c = (h4 >> 2) + (h4 & ~3);
    h4 &= 3;
    h0 += c;
  }
}

/** Absorbs a final partial block of 1..15 bytes, padded per RFC 8439 §2.5.1. */
export function polyPartial(ptr: usize, len: usize, scratch: usize): void {
  memory.fill(scratch, 0, 16);
  memory.copy(scratch, ptr, len);
  store<u8>(scratch + len, 1);
  polyBlocks(scratch, 16, 0);
  memory.fill(scratch, 0, 16);
}

/** Writes the 16-byte tag to `out` and wipes the state. Constant time. */
export function polyFinish(out: usize): void {
  normalize();
  // g = h + 5 - 2^130; take g when it did not go negative, that is when h >= p.
  let t: u64 = h0 + 5;
  const g0 = t & 0xffffffff;
  t = h1 + (t >> 32);
  const g1 = t & 0xffffffff;
  t = h2 + (t >> 32);
  const g2 = t & 0xffffffff;
  t = h3 + (t >> 32);
  const g3 = t & 0xffffffff;
  const g4 = h4 + (t >> 32);
  const useG: u64 = 0 - (g4 >> 2); // all ones when h >= p
  const keepH = ~useG;
  const f0 = (h0 & keepH) | (g0 & useG);
  const f1 = (h1 & keepH) | (g1 & useG);
  const f2 = (h2 & keepH) | (g2 & useG);
  const f3 = (h3 & keepH) | (g3 & useG);
  // tag = (h + s) mod 2^128
  t = f0 + pad0;
  store<u32>(out, <u32>t, 0);
  t = f1 + pad1 + (t >> 32);
  store<u32>(out, <u32>t, 4);
  t = f2 + pad2 + (t >> 32);
  store<u32>(out, <u32>t, 8);
  t = f3 + pad3 + (t >> 32);
  store<u32>(out, <u32>t, 12);
  polyWipe();
}

/** Zeroes the key and accumulator. */
export function polyWipe(): void {
  r0 = 0;
  r1 = 0;
  r2 = 0;
  r3 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  h4 = 0;
  pad0 = 0;
  pad1 = 0;
  pad2 = 0;
  pad3 = 0;
}
