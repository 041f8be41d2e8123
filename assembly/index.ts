// The wasm crypto core's exports. Every function works on pointers into this module's
// memory; worker/crypto/ places inputs and reads outputs. Nothing here allocates.

export { aeadOpen, aeadSeal, openBatch, sealBatch, xaeadOpen, xaeadSeal } from "./aead";
export { blake2s } from "./blake2s";
export { hchacha20 } from "./chacha20";
export { hmacBlake2s, kdf } from "./hmac";

import { chachaXor } from "./aead";
import { polyBlocks, polyFinish, polyInit, polyPartial } from "./poly1305";
import { PAD_BLOCK, wipeAeadScratch } from "./scratch";

/** First byte of memory free for the host's use (after static data), 16-byte aligned. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

/** 1 when this build uses wasm SIMD. */
export function simd(): u32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}

/** ChaCha20 (RFC 8439 §2.4): dst = src XOR keystream from block `counter`. */
export function chacha20(
  keyPtr: usize,
  noncePtr: usize,
  counter: u32,
  src: usize,
  len: usize,
  dst: usize,
): void {
  chachaXor(
    keyPtr,
    counter,
    load<u32>(noncePtr, 0),
    load<u32>(noncePtr, 4),
    load<u32>(noncePtr, 8),
    src,
    dst,
    len,
  );
  wipeAeadScratch();
}

/** Poly1305 (RFC 8439 §2.5) of `len` bytes under the 32-byte one-time key; tag to out. */
export function poly1305(keyPtr: usize, src: usize, len: usize, out: usize): void {
  polyInit(keyPtr);
  const full = len & ~(<usize>15);
  if (full > 0) polyBlocks(src, full, 1);
  if (len > full) polyPartial(src + full, len - full, PAD_BLOCK);
  polyFinish(out);
}
