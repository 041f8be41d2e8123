// CryptoCore: the one-shot typed face of one wasm instance. Each call copies its inputs into
// the scratch area, runs, copies the result out and wipes everything it wrote there.

import { AeadBatch, type AeadBatchOptions } from "./batch.ts";
import { checkBytes, checkInteger, checkLength } from "./bytes.ts";
import { WasmHeap } from "./heap.ts";
import type { AeadOpenExport, AeadSealExport, CoreExports, WasmBuild } from "./wasm.ts";

const KEY = 32;
const NONCE = 12;
const XNONCE = 24;
const TAG = 16;
const EMPTY = new Uint8Array(0);
const MAX_COUNTER = 0xffffffff;

/** One instance of the crypto core, SIMD or scalar. */
export class CryptoCore {
  private readonly heap: WasmHeap;

  constructor(
    private readonly wasm: CoreExports,
    /** Which build this instance runs. */
    readonly build: WasmBuild,
  ) {
    this.heap = new WasmHeap(wasm.memory, wasm.heapBase());
  }

  /** ChaCha20-Poly1305 (RFC 8439): returns ciphertext ‖ 16-byte tag. */
  aeadSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array = EMPTY,
  ): Uint8Array {
    checkAeadArgs("aeadSeal", key, nonce, NONCE, "plaintext", plaintext, ad);
    return this.seal(this.wasm.aeadSeal, key, nonce, plaintext, ad);
  }

  /** Opens ciphertext ‖ tag; returns the plaintext, or null when it is not authentic. */
  aeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad: Uint8Array = EMPTY,
  ): Uint8Array | null {
    checkAeadArgs("aeadOpen", key, nonce, NONCE, "sealed", sealed, ad);
    return this.open(this.wasm.aeadOpen, key, nonce, sealed, ad);
  }

  /** XChaCha20-Poly1305 with a 24-byte nonce: returns ciphertext ‖ tag. */
  xaeadSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array = EMPTY,
  ): Uint8Array {
    checkAeadArgs("xaeadSeal", key, nonce, XNONCE, "plaintext", plaintext, ad);
    return this.seal(this.wasm.xaeadSeal, key, nonce, plaintext, ad);
  }

  /** Opens an XChaCha20-Poly1305 message; null when it is not authentic. */
  xaeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad: Uint8Array = EMPTY,
  ): Uint8Array | null {
    checkAeadArgs("xaeadOpen", key, nonce, XNONCE, "sealed", sealed, ad);
    return this.open(this.wasm.xaeadOpen, key, nonce, sealed, ad);
  }

  /** ChaCha20 (RFC 8439 §2.4): data XOR the keystream starting at block `counter`. */
  chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
    checkLength("chacha20", "key", key, KEY);
    checkLength("chacha20", "nonce", nonce, NONCE);
    checkInteger("chacha20", "counter", counter, 0, MAX_COUNTER);
    checkBytes("chacha20", "data", data);
    const blocks = Math.ceil(data.length / 64);
    if (counter + blocks - 1 > MAX_COUNTER) {
      throw new RangeError(
        `chacha20: ${data.length} bytes from block ${counter} overflow the 32-bit counter`,
      );
    }
    const length = data.length;
    const [k, n, src, dst] = this.place(length, key, nonce, data);
    this.wasm.chacha20(k!, n!, counter, src!, length, dst!);
    return this.finish(dst!, length);
  }

  /** HChaCha20: the 32-byte subkey for a key and a 16-byte nonce. */
  hchacha20(key: Uint8Array, nonce: Uint8Array): Uint8Array {
    checkLength("hchacha20", "key", key, KEY);
    checkLength("hchacha20", "nonce", nonce, 16);
    const [k, n, out] = this.place(32, key, nonce);
    this.wasm.hchacha20(k!, n!, out!);
    return this.finish(out!, 32);
  }

  /** Poly1305 (RFC 8439 §2.5): the 16-byte tag of a message under a one-time key. */
  poly1305(key: Uint8Array, message: Uint8Array): Uint8Array {
    checkLength("poly1305", "key", key, KEY);
    checkBytes("poly1305", "message", message);
    const length = message.length;
    const [k, m, out] = this.place(TAG, key, message);
    this.wasm.poly1305(k!, m!, length, out!);
    return this.finish(out!, TAG);
  }

  /** BLAKE2s (RFC 7693): an `outLen`-byte digest (1..32), keyed with 0..32 bytes. */
  blake2s(data: Uint8Array, outLen = 32, key: Uint8Array = EMPTY): Uint8Array {
    checkBytes("blake2s", "data", data);
    checkInteger("blake2s", "outLen", outLen, 1, 32);
    checkBytes("blake2s", "key", key);
    if (key.length > 32)
      throw new TypeError(`blake2s: key must be 0 to 32 bytes, got ${key.length}`);
    const [keyLength, length] = [key.length, data.length];
    const [k, d, out] = this.place(32, key, data);
    this.wasm.blake2s(d!, length, k!, keyLength, outLen, out!);
    return this.finish(out!, outLen);
  }

  /** HMAC-BLAKE2s (RFC 2104 over BLAKE2s-256): 32 bytes. */
  hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
    checkBytes("hmacBlake2s", "key", key);
    checkBytes("hmacBlake2s", "data", data);
    const [keyLength, length] = [key.length, data.length];
    const [k, d, out] = this.place(32, key, data);
    this.wasm.hmacBlake2s(k!, keyLength, d!, length, out!);
    return this.finish(out!, 32);
  }

  /** WireGuard's KDF1/KDF2/KDF3: `n` 32-byte outputs derived from a chaining key and input. */
  kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
    checkInteger("kdf", "n", n, 1, 3);
    checkBytes("kdf", "key", key);
    checkBytes("kdf", "input", input);
    const [keyLength, length] = [key.length, input.length];
    const [k, d, out] = this.place(96, key, input);
    this.wasm.kdf(n, k!, keyLength, d!, length, out!);
    const all = this.finish(out!, 32 * n);
    return Array.from({ length: n }, (_, i) => all.slice(32 * i, 32 * i + 32));
  }

  /**
   * A copy of the core's whole linear memory. For audits: tests use it to show that keys,
   * keystream and plaintext do not linger in wasm memory after a call.
   */
  memorySnapshot(): Uint8Array {
    return this.heap.u8.slice();
  }

  /** A reusable set of wasm-memory buffers for sealing and opening many packets per call. */
  createAeadBatch(options: AeadBatchOptions): AeadBatch {
    return new AeadBatch(this.wasm, this.heap, options);
  }

  private seal(
    run: AeadSealExport,
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array,
  ): Uint8Array {
    const [adLength, length] = [ad.length, plaintext.length];
    const [k, n, a, src, dst] = this.place(length + TAG, key, nonce, ad, plaintext);
    run(k!, n!, a!, adLength, src!, length, dst!);
    return this.finish(dst!, length + TAG);
  }

  private open(
    run: AeadOpenExport,
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad: Uint8Array,
  ): Uint8Array | null {
    const [adLength, length] = [ad.length, sealed.length];
    if (length < TAG) return null;
    const [k, n, a, src, dst] = this.place(length - TAG, key, nonce, ad, sealed);
    const ok = run(k!, n!, a!, adLength, src!, length, dst!) === 1;
    const plain = this.finish(dst!, ok ? length - TAG : 0);
    return ok ? plain : null;
  }

  // The scratch area of the call in progress: [start, end) is wiped by finish().
  // Callers read their inputs' lengths before place(): an input that is a view of this
  // core's memory is detached if place() grows it.
  private scratchStart = 0;
  private scratchEnd = 0;

  /**
   * Copies the inputs back to back (16-byte aligned) into scratch, followed by room for an
   * output of `outLength` bytes. Returns the inputs' addresses, then the output's.
   */
  private place(outLength: number, ...inputs: Uint8Array[]): number[] {
    let size = align16(outLength);
    for (const input of inputs) size += align16(input.length);
    // An input may be a view of this core's memory (a batch buffer). Growing the memory for
    // scratch would detach it, so copy such inputs out first.
    const wasmBuffer = this.heap.buffer;
    const sources = inputs.map((input) => (input.buffer === wasmBuffer ? input.slice() : input));
    const start = this.heap.scratch(size);
    this.scratchStart = start;
    this.scratchEnd = start + size;
    const mem = this.heap.u8;
    const addresses: number[] = [];
    let at = start;
    try {
      for (const input of sources) {
        mem.set(input, at);
        addresses.push(at);
        at += align16(input.length);
      }
    } catch (error) {
      mem.fill(0, start, start + size);
      throw error;
    }
    addresses.push(at);
    return addresses;
  }

  /** Copies `length` bytes out of `out`, then wipes everything the call placed in scratch. */
  private finish(out: number, length: number): Uint8Array {
    const mem = this.heap.u8;
    const result = mem.slice(out, out + length);
    mem.fill(0, this.scratchStart, this.scratchEnd);
    return result;
  }
}

/** The argument checks shared by the four AEAD calls. */
function checkAeadArgs(
  fn: string,
  key: unknown,
  nonce: unknown,
  nonceLength: number,
  dataName: string,
  data: unknown,
  ad: unknown,
): void {
  checkLength(fn, "key", key, KEY);
  checkLength(fn, "nonce", nonce, nonceLength);
  checkBytes(fn, dataName, data);
  checkBytes(fn, "ad", ad);
}

function align16(n: number): number {
  return (n + 15) & ~15;
}
