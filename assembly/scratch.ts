// Static scratch areas inside the module's data segment. Every one of them can hold secret
// material (keystream, one-time keys, hash states), so callers wipe them when done.

/** 256 bytes: one SIMD pass of keystream, or a scalar block, for partial tails. */
export const KEYSTREAM: usize = memory.data(256, 16);
/** 16 bytes: a zero-padded Poly1305 block. */
export const PAD_BLOCK: usize = memory.data(16, 16);
/** 64 bytes: the ChaCha20 block whose first half is the Poly1305 one-time key. */
export const OTK_BLOCK: usize = memory.data(64, 16);
/** 32 bytes: the HChaCha20 subkey of XChaCha20. */
export const SUBKEY: usize = memory.data(32, 16);
/** 16 bytes: a computed tag, compared against the received one. */
export const TAG: usize = memory.data(16, 16);

/** Zeroes `len` bytes at `ptr`. */
// @ts-expect-error: decorator
@inline
export function wipe(ptr: usize, len: usize): void {
  memory.fill(ptr, 0, len);
}

/** Zeroes every scratch area used by the ChaCha20-Poly1305 paths. */
export function wipeAeadScratch(): void {
  wipe(KEYSTREAM, 256);
  wipe(PAD_BLOCK, 16);
  wipe(OTK_BLOCK, 64);
  wipe(SUBKEY, 32);
  wipe(TAG, 16);
}
