// Instantiation of the crypto core: picks the SIMD build when the engine validates it.

import { base64ToBytes } from "./bytes.ts";

/** Which compilation of assembly/ a core runs. */
export type WasmBuild = "simd" | "scalar";

/** A seal export: key, nonce, ad, adLen, src, len, dst (ciphertext then tag). */
export type AeadSealExport = (
  key: number,
  nonce: number,
  ad: number,
  adLen: number,
  src: number,
  len: number,
  dst: number,
) => void;

/** An open export, same arguments as seal (len includes the tag); 1 when authentic. */
export type AeadOpenExport = (...args: Parameters<AeadSealExport>) => number;

/** The raw exports of the wasm module (pointers and lengths are byte offsets and counts). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  simd(): number;
  aeadSeal: AeadSealExport;
  aeadOpen: AeadOpenExport;
  xaeadSeal: AeadSealExport;
  xaeadOpen: AeadOpenExport;
  sealBatch(desc: number, count: number): void;
  openBatch(desc: number, count: number): number;
  chacha20(
    key: number,
    nonce: number,
    counter: number,
    src: number,
    len: number,
    dst: number,
  ): void;
  hchacha20(key: number, nonce: number, out: number): void;
  poly1305(key: number, src: number, len: number, out: number): void;
  blake2s(src: number, len: number, key: number, keyLen: number, outLen: number, out: number): void;
  hmacBlake2s(key: number, keyLen: number, src: number, len: number, out: number): void;
  kdf(n: number, key: number, keyLen: number, src: number, len: number, out: number): void;
}

// Smallest module using a v128 instruction: (func (result v128) (v128.const i32x4 0 0 0 0)).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/** True when this engine accepts wasm SIMD. */
export function simdSupported(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

/** Compiles and instantiates one build. The generated module is imported only when needed. */
export async function instantiate(build: WasmBuild): Promise<CoreExports> {
  const { wasmBase64 } =
    build === "simd" ? await import("./generated/simd.ts") : await import("./generated/scalar.ts");
  const { instance } = await WebAssembly.instantiate(base64ToBytes(wasmBase64), {});
  return instance.exports as unknown as CoreExports;
}
