// ChaCha20-Poly1305 (RFC 8439 §2.8), XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) and the
// batch entry points of the data path. A forged packet never yields plaintext: open returns
// failure and leaves zeroes where the plaintext would have gone.

import { chachaBlock, chachaXorScalar, hchacha20, xorInto } from "./chacha20";
import { chachaOpenSimdMac, chachaXorSimd, chachaXorSimdMac, keystream4, keystreamMac } from "./chacha20-simd";
import { polyBlocks, polyFinish, polyInit } from "./poly1305";
import { KEYSTREAM, OTK_BLOCK, PAD_BLOCK, SUBKEY, TAG, wipeAeadScratch } from "./scratch";

// Payload bytes covered by the first SIMD pass (blocks 1..3; block 0 is the one-time key).
const FIRST_PASS_PAYLOAD: usize = 192;

/** The build's ChaCha20 keystream XOR: SIMD where the module was built with it. */
// @ts-expect-error: decorator
@inline
export function chachaXor(
  keyPtr: usize, counter: u32, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize,
): void {
  if (ASC_FEATURE_SIMD) chachaXorSimd(keyPtr, counter, n0, n1, n2, src, dst, len);
  else chachaXorScalar(keyPtr, counter, n0, n1, n2, src, dst, len);
}

// Up to this many payload bytes the scalar path is faster even in the SIMD build: two scalar
// blocks (one-time key and payload) cost less than one four-block SIMD pass.
const SCALAR_MAX_PAYLOAD: usize = 64;

/** Whether a payload of `len` bytes takes the SIMD path. */
// @ts-expect-error: decorator
@inline
function useSimd(len: usize): bool {
  return ASC_FEATURE_SIMD && len > SCALAR_MAX_PAYLOAD;
}

/** Absorbs `len` bytes zero-padded to a multiple of 16. */
function polyPadded(ptr: usize, len: usize): void {
  const full = len & ~(<usize>15);
  if (full > 0) polyBlocks(ptr, full, 1);
  const rest = len - full;
  if (rest > 0) {
    memory.fill(PAD_BLOCK, 0, 16);
    memory.copy(PAD_BLOCK, ptr + full, rest);
    polyBlocks(PAD_BLOCK, 16, 1);
  }
}

/**
 * Computes the keystream blocks that start every message into KEYSTREAM and copies the
 * Poly1305 one-time key (block 0) to OTK_BLOCK. The SIMD build makes blocks 0..3 in one
 * pass, so the first 192 payload bytes need no pass of their own.
 */
function firstBlocks(simd: bool, keyPtr: usize, n0: u32, n1: u32, n2: u32): void {
  if (ASC_FEATURE_SIMD && simd) keystream4(keyPtr, 0, n0, n1, n2, KEYSTREAM);
  else chachaBlock(keyPtr, 0, n0, n1, n2, KEYSTREAM);
  memory.copy(OTK_BLOCK, KEYSTREAM, 32);
}

/** Encrypts or decrypts the payload (keystream from block 1), after firstBlocks. */
function xorPayload(simd: bool, keyPtr: usize, n0: u32, n1: u32, n2: u32, src: usize, dst: usize, len: usize): void {
  if (ASC_FEATURE_SIMD && simd) {
    const head = len < FIRST_PASS_PAYLOAD ? len : FIRST_PASS_PAYLOAD;
    xorInto(dst, src, KEYSTREAM + 64, head);
    if (len > head) chachaXorSimd(keyPtr, 4, n0, n1, n2, src + head, dst + head, len - head);
  } else {
    chachaXorScalar(keyPtr, 1, n0, n1, n2, src, dst, len);
  }
}

/** Starts the MAC with the one-time key in OTK_BLOCK and absorbs the padded AD. */
function macStart(ad: usize, adLen: usize): void {
  polyInit(OTK_BLOCK);
  polyPadded(ad, adLen);
}

/** Absorbs the ciphertext from `ct` to its end (padded), the lengths, and writes TAG. */
function macEnd(ct: usize, ctEnd: usize, adLen: usize, ctLen: usize): void {
  polyPadded(ct, ctEnd - ct);
  store<u64>(PAD_BLOCK, <u64>adLen, 0);
  store<u64>(PAD_BLOCK, <u64>ctLen, 8);
  polyBlocks(PAD_BLOCK, 16, 1);
  polyFinish(TAG);
}

/** 1 when the 16 bytes at a and b are equal; the time taken does not depend on the bytes. */
export function tagsEqual(a: usize, b: usize): u32 {
  const diff = (load<u64>(a, 0) ^ load<u64>(b, 0)) | (load<u64>(a, 8) ^ load<u64>(b, 8));
  return <u32>(((diff | (0 - diff)) >> 63) ^ 1);
}

/** Seals `len` bytes at src into dst: ciphertext then the 16-byte tag. */
function sealWith(keyPtr: usize, n0: u32, n1: u32, n2: u32, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): void {
  const simd = useSimd(len);
  firstBlocks(simd, keyPtr, n0, n1, n2);
  macStart(ad, adLen);
  let macked = dst;
  if (ASC_FEATURE_SIMD && simd) {
    // Stitched: Poly1305 absorbs each 256-byte chunk of ciphertext while the next is made.
    const head = len < FIRST_PASS_PAYLOAD ? len : FIRST_PASS_PAYLOAD;
    xorInto(dst, src, KEYSTREAM + 64, head);
    if (len > head) macked = chachaXorSimdMac(keyPtr, 4, n0, n1, n2, src + head, dst + head, len - head, dst);
  } else {
    xorPayload(false, keyPtr, n0, n1, n2, src, dst, len);
  }
  macEnd(macked, dst + len, adLen, len);
  memory.copy(dst + len, TAG, 16);
}

/**
 * Opens `len` bytes (ciphertext and tag) at src; on success writes len - 16 plaintext bytes to
 * dst and returns 1. Otherwise returns 0 and those len - 16 bytes of dst are zeroes, never
 * plaintext: the SIMD build decrypts while it authenticates (as Go's and BoringSSL's stitched
 * code do) and wipes the output when the tag does not match; both builds leave the same zeroes.
 */
function openWith(keyPtr: usize, n0: u32, n1: u32, n2: u32, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): u32 {
  if (len < 16) return 0;
  const ctLen = len - 16;
  const simd = useSimd(ctLen);
  firstBlocks(simd, keyPtr, n0, n1, n2);
  macStart(ad, adLen);
  if (ASC_FEATURE_SIMD && simd && ctLen > FIRST_PASS_PAYLOAD) {
    // The first pass's 192 payload bytes: MAC, then decrypt (src may equal dst).
    polyBlocks(src, FIRST_PASS_PAYLOAD, 1);
    xorInto(dst, src, KEYSTREAM + 64, FIRST_PASS_PAYLOAD);
    const at = FIRST_PASS_PAYLOAD;
    const done = at + chachaOpenSimdMac(keyPtr, 4, n0, n1, n2, src + at, dst + at, ctLen - at);
    const tail = ctLen - done;
    if (tail > 0) {
      // The tail's keystream pass also MACs the tail's whole blocks; its plaintext is stored
      // only after the MAC has read all of its ciphertext.
      const whole = tail & ~(<usize>15);
      keystreamMac(keyPtr, 4 + <u32>((done - at) >> 6), n0, n1, n2, src + done, <u32>(whole >> 4));
      macEnd(src + done + whole, src + ctLen, adLen, ctLen);
      xorInto(dst + done, src + done, KEYSTREAM, tail);
    } else {
      macEnd(src + ctLen, src + ctLen, adLen, ctLen);
    }
    const ok = tagsEqual(TAG, src + ctLen);
    if (!ok) memory.fill(dst, 0, ctLen);
    return ok;
  }
  macEnd(src, src + ctLen, adLen, ctLen);
  const ok = tagsEqual(TAG, src + ctLen);
  if (ok) xorPayload(simd, keyPtr, n0, n1, n2, src, dst, ctLen);
  else memory.fill(dst, 0, ctLen);
  return ok;
}

/** ChaCha20-Poly1305 seal with a 12-byte nonce at noncePtr. */
export function aeadSeal(keyPtr: usize, noncePtr: usize, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): void {
  sealWith(keyPtr, load<u32>(noncePtr, 0), load<u32>(noncePtr, 4), load<u32>(noncePtr, 8), ad, adLen, src, len, dst);
  wipeAeadScratch();
}

/** ChaCha20-Poly1305 open; returns 1 when authentic. */
export function aeadOpen(keyPtr: usize, noncePtr: usize, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): u32 {
  const ok = openWith(keyPtr, load<u32>(noncePtr, 0), load<u32>(noncePtr, 4), load<u32>(noncePtr, 8), ad, adLen, src, len, dst);
  wipeAeadScratch();
  return ok;
}

/** XChaCha20-Poly1305 seal with a 24-byte nonce. */
export function xaeadSeal(keyPtr: usize, noncePtr: usize, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): void {
  hchacha20(keyPtr, noncePtr, SUBKEY);
  sealWith(SUBKEY, 0, load<u32>(noncePtr, 16), load<u32>(noncePtr, 20), ad, adLen, src, len, dst);
  wipeAeadScratch();
}

/** XChaCha20-Poly1305 open; returns 1 when authentic. */
export function xaeadOpen(keyPtr: usize, noncePtr: usize, ad: usize, adLen: usize, src: usize, len: usize, dst: usize): u32 {
  hchacha20(keyPtr, noncePtr, SUBKEY);
  const ok = openWith(SUBKEY, 0, load<u32>(noncePtr, 16), load<u32>(noncePtr, 20), ad, adLen, src, len, dst);
  wipeAeadScratch();
  return ok;
}

// A batch descriptor: 32 bytes per packet. The nonce is WireGuard's: 4 zero bytes, then the
// 64-bit little-endian counter. Additional data is empty, as in WireGuard transport messages.
export const DESC_SIZE: usize = 32;
const D_KEY = 0, D_SRC = 4, D_LEN = 8, D_DST = 12, D_CTR_LO = 16, D_CTR_HI = 20, D_STATUS = 24;

/** Seals `count` packets described at descPtr; always succeeds (status 1). */
export function sealBatch(descPtr: usize, count: u32): void {
  for (let i: u32 = 0; i < count; i++) {
    const d = descPtr + <usize>i * DESC_SIZE;
    sealWith(
      <usize>load<u32>(d, D_KEY), 0, load<u32>(d, D_CTR_LO), load<u32>(d, D_CTR_HI),
      0, 0, <usize>load<u32>(d, D_SRC), <usize>load<u32>(d, D_LEN), <usize>load<u32>(d, D_DST),
    );
    store<u32>(d, 1, D_STATUS);
  }
  wipeAeadScratch();
}

/** Opens `count` packets; status 1 where authentic, 0 where not. Returns the failures. */
export function openBatch(descPtr: usize, count: u32): u32 {
  let failures: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const d = descPtr + <usize>i * DESC_SIZE;
    const ok = openWith(
      <usize>load<u32>(d, D_KEY), 0, load<u32>(d, D_CTR_LO), load<u32>(d, D_CTR_HI),
      0, 0, <usize>load<u32>(d, D_SRC), <usize>load<u32>(d, D_LEN), <usize>load<u32>(d, D_DST),
    );
    store<u32>(d, ok, D_STATUS);
    failures += ok ^ 1;
  }
  wipeAeadScratch();
  return failures;
}
