// HMAC-BLAKE2s (RFC 2104 with BLAKE2s-256, 64-byte blocks) and WireGuard's KDF1..3
// (the WireGuard paper §5.4: HKDF built from HMAC-BLAKE2s).

import { BLOCK, b2sFinal, b2sInit, b2sUpdate } from "./blake2s";
import { wipe } from "./scratch";

const KEY_BLOCK: usize = memory.data(64, 16);
const INNER: usize = memory.data(32, 16);
const PRK: usize = memory.data(32, 16);
const T_IN: usize = memory.data(48, 16);

/** XORs every byte of the 64-byte key block with the byte repeated in `pattern`. */
function xorKeyBlock(pattern: u64): void {
  for (let i: usize = 0; i < 64; i += 8) store<u64>(KEY_BLOCK + i, load<u64>(KEY_BLOCK + i) ^ pattern);
}

/** HMAC-BLAKE2s of `len` bytes at src under a key of any length; 32 bytes to out. */
export function hmacBlake2s(
  keyPtr: usize,
  keyLen: usize,
  src: usize,
  len: usize,
  out: usize,
): void {
  wipe(KEY_BLOCK, 64);
  if (keyLen > BLOCK) {
    b2sInit(32, 0, 0);
    b2sUpdate(keyPtr, keyLen);
    b2sFinal(KEY_BLOCK);
  } else {
    memory.copy(KEY_BLOCK, keyPtr, keyLen);
  }
  xorKeyBlock(0x3636363636363636);
  b2sInit(32, 0, 0);
  b2sUpdate(KEY_BLOCK, 64);
  b2sUpdate(src, len);
  b2sFinal(INNER);
  // 0x36 ^ 0x5c = 0x6a turns the inner pad into the outer one.
  xorKeyBlock(0x6a6a6a6a6a6a6a6a);
  b2sInit(32, 0, 0);
  b2sUpdate(KEY_BLOCK, 64);
  b2sUpdate(INNER, 32);
  b2sFinal(out);
  wipe(KEY_BLOCK, 64);
  wipe(INNER, 32);
}

/**
 * WireGuard's KDF_n (n = 1..3): τ0 = HMAC(key, input), τ1 = HMAC(τ0, 0x1),
 * τi = HMAC(τ0, τ(i-1) ‖ i). Writes n consecutive 32-byte outputs to out.
 */
export function kdf(
  n: u32,
  keyPtr: usize,
  keyLen: usize,
  src: usize,
  len: usize,
  out: usize,
): void {
  hmacBlake2s(keyPtr, keyLen, src, len, PRK);
  store<u8>(T_IN, 1);
  hmacBlake2s(PRK, 32, T_IN, 1, out);
  for (let i: u32 = 2; i <= n; i++) {
    const prev = out + <usize>(i - 2) * 32;
    memory.copy(T_IN, prev, 32);
    store<u8>(T_IN + 32, <u8>i);
    hmacBlake2s(PRK, 32, T_IN, 33, prev + 32);
  }
  wipe(PRK, 32);
  wipe(T_IN, 48);
}
