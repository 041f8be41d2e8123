// The crypto API of the engine. After one `await initCrypto()` the functions below run
// synchronously on the chosen build, identically in Node, a Worker and a page.

import { CryptoCore } from "./core.ts";
import { instantiate, simdSupported, type WasmBuild } from "./wasm.ts";

export type { AeadBatch, AeadBatchOptions } from "./batch.ts";
export { CryptoCore } from "./core.ts";
export { simdSupported, type WasmBuild } from "./wasm.ts";
export {
  nobleX25519,
  selectX25519Provider,
  webCryptoX25519,
  type X25519Provider,
  x25519Providers,
} from "./x25519.ts";

/** Which build to load: "auto" takes SIMD when the engine validates it. */
export interface LoadOptions {
  build?: WasmBuild | "auto";
}

/** Loads an independent instance of the crypto core. */
export async function loadCryptoCore(options: LoadOptions = {}): Promise<CryptoCore> {
  const wanted = options.build ?? "auto";
  const build: WasmBuild = wanted === "auto" ? (simdSupported() ? "simd" : "scalar") : wanted;
  if (build === "simd" && !simdSupported()) {
    throw new Error("loadCryptoCore: this WebAssembly engine does not support SIMD");
  }
  return new CryptoCore(await instantiate(build), build);
}

let defaultCore: CryptoCore | undefined;
let loading: Promise<CryptoCore> | undefined;

/**
 * Loads the default core used by the functions of this module. Calling it again returns
 * the same core, unless a different build is asked for.
 */
export async function initCrypto(options: LoadOptions = {}): Promise<CryptoCore> {
  const wanted = options.build ?? "auto";
  if (defaultCore && (wanted === "auto" || wanted === defaultCore.build)) return defaultCore;
  if (loading && wanted === "auto") return loading;
  loading = loadCryptoCore(options);
  try {
    defaultCore = await loading;
    return defaultCore;
  } finally {
    loading = undefined;
  }
}

function core(): CryptoCore {
  if (!defaultCore) throw new Error("crypto: call and await initCrypto() before using it");
  return defaultCore;
}

/** ChaCha20-Poly1305 seal: ciphertext ‖ 16-byte tag. */
export function aeadSeal(
  key: Uint8Array,
  nonce12: Uint8Array,
  plaintext: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  return core().aeadSeal(key, nonce12, plaintext, ad);
}

/** ChaCha20-Poly1305 open: plaintext, or null when not authentic. */
export function aeadOpen(
  key: Uint8Array,
  nonce12: Uint8Array,
  sealed: Uint8Array,
  ad?: Uint8Array,
): Uint8Array | null {
  return core().aeadOpen(key, nonce12, sealed, ad);
}

/** XChaCha20-Poly1305 seal with a 24-byte nonce. */
export function xaeadSeal(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  return core().xaeadSeal(key, nonce24, plaintext, ad);
}

/** XChaCha20-Poly1305 open: plaintext, or null when not authentic. */
export function xaeadOpen(
  key: Uint8Array,
  nonce24: Uint8Array,
  sealed: Uint8Array,
  ad?: Uint8Array,
): Uint8Array | null {
  return core().xaeadOpen(key, nonce24, sealed, ad);
}

/** ChaCha20 keystream XOR from block `counter`. */
export function chacha20(
  key: Uint8Array,
  nonce12: Uint8Array,
  counter: number,
  data: Uint8Array,
): Uint8Array {
  return core().chacha20(key, nonce12, counter, data);
}

/** HChaCha20 subkey derivation. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  return core().hchacha20(key, nonce16);
}

/** Poly1305 one-time authenticator. */
export function poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
  return core().poly1305(key, message);
}

/** BLAKE2s digest of 1..32 bytes, optionally keyed. */
export function blake2s(data: Uint8Array, outLen = 32, key?: Uint8Array): Uint8Array {
  return core().blake2s(data, outLen, key);
}

/** HMAC-BLAKE2s. */
export function hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
  return core().hmacBlake2s(key, data);
}

/** WireGuard KDF1/KDF2/KDF3. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  return core().kdf(n, key, input);
}

/** A batch on the default core; see AeadBatch. */
export function createAeadBatch(
  options: import("./batch.ts").AeadBatchOptions,
): import("./batch.ts").AeadBatch {
  return core().createAeadBatch(options);
}
