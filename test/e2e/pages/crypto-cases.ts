// Shared by the Node test, the page's main thread and the module Worker: the cases (as hex, so
// they cross page.evaluate and postMessage as plain JSON), and the one function that runs them
// against a crypto API. Imports only the seeded PRNG, so it runs unchanged in all three places.

import { seededBytes } from "../../helpers/seeded.ts";

/** The part of worker/crypto's API (module functions, or a CryptoCore) the cases exercise. */
export interface CryptoFns {
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array;
  aeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad?: Uint8Array,
  ): Uint8Array | null;
  xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array;
  xaeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad?: Uint8Array,
  ): Uint8Array | null;
  chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Uint8Array;
  hchacha20(key: Uint8Array, nonce: Uint8Array): Uint8Array;
  poly1305(key: Uint8Array, message: Uint8Array): Uint8Array;
  blake2s(data: Uint8Array, outLen?: number, key?: Uint8Array): Uint8Array;
  hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array;
  kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[];
}

export type Build = "simd" | "scalar";
export type BuildChoice = Build | "auto";

/** Every byte string is lowercase hex. */
export interface AeadCase {
  key: string;
  nonce: string;
  plaintext: string;
  ad: string;
}
export interface ChachaCase {
  key: string;
  nonce: string;
  counter: number;
  data: string;
}
export interface Blake2sCase {
  data: string;
  outLen: number;
  key: string;
}
export interface HmacCase {
  key: string;
  data: string;
}
export interface KdfCase {
  n: 1 | 2 | 3;
  key: string;
  input: string;
}

export interface Cases {
  aead: AeadCase[];
  /** Same shape, 24-byte nonces. */
  xaead: AeadCase[];
  chacha20: ChachaCase[];
  hchacha20: { key: string; nonce: string }[];
  poly1305: { key: string; message: string }[];
  blake2s: Blake2sCase[];
  hmac: HmacCase[];
  kdf: KdfCase[];
}

/** Output name (e.g. "aeadSeal[3] len=63") → hex, or null where the API returned null. */
export type Results = Record<string, string | null>;

/** What the page and the worker send back. */
export interface RunReport {
  /** The `build` of the core that computed the results. */
  build: Build;
  /** Where it ran: "worker" or "main". */
  where: "worker" | "main";
  results: Results;
}

/** The page's API, installed on `window.corridorE2E` by crypto-page.ts. */
export interface PageApi {
  /** Runs the cases on the page's main thread. */
  runMain(build: BuildChoice, cases: Cases): Promise<RunReport>;
  /** Starts a fresh module Worker, which calls initCrypto({ build }) and runs the cases. */
  runWorker(build: BuildChoice, cases: Cases): Promise<RunReport>;
}

/** Page → worker message, and the worker's answer. */
export interface WorkerRequest {
  build: BuildChoice;
  cases: Cases;
}
export type WorkerResponse = { ok: true; report: RunReport } | { ok: false; error: string };

declare global {
  interface Window {
    corridorE2E?: PageApi;
  }
}

export const AEAD_LENGTHS = [0, 1, 63, 64, 65, 255, 256, 1420, 4096, 65536] as const;

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) throw new Error(`bad hex: ${hex}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The cases the test sends: every AEAD length boundary, keyed and unkeyed hashes, all KDFs. */
export function makeCases(seed = 0x636f7272): Cases {
  const rnd = seededBytes(seed);
  const hex = (n: number) => toHex(rnd(n));
  const adLengths = [0, 1, 12, 16, 17, 64];
  const lengths = [...AEAD_LENGTHS, 3, 16, 1000];
  return {
    aead: AEAD_LENGTHS.map((len, i) => ({
      key: hex(32),
      nonce: hex(12),
      plaintext: hex(len),
      ad: hex(adLengths[i % adLengths.length] ?? 0),
    })),
    xaead: AEAD_LENGTHS.map((len, i) => ({
      key: hex(32),
      nonce: hex(24),
      plaintext: hex(len),
      ad: hex(adLengths[(i + 3) % adLengths.length] ?? 0),
    })),
    chacha20: [
      { counter: 0, len: 0 },
      { counter: 1, len: 64 },
      { counter: 7, len: 300 },
      { counter: 0x7fffffff, len: 128 }, // crosses the i32 sign bit
      { counter: 0xfffffffe, len: 64 }, // the last block before the 32-bit counter wraps
      { counter: 2, len: 4096 },
    ].map(({ counter, len }) => ({ key: hex(32), nonce: hex(12), counter, data: hex(len) })),
    hchacha20: [0, 1, 2].map(() => ({ key: hex(32), nonce: hex(16) })),
    poly1305: [0, 1, 15, 16, 17, 1420, 4096].map((len) => ({ key: hex(32), message: hex(len) })),
    blake2s: lengths.flatMap((len, i) => [
      { data: hex(len), outLen: 32, key: "" },
      {
        data: hex(len),
        outLen: [1, 16, 20, 31, 32][i % 5] ?? 32,
        key: hex([1, 16, 32][i % 3] ?? 32),
      },
    ]),
    hmac: [0, 1, 32, 64, 65, 200].map((keyLen, i) => ({
      key: hex(keyLen),
      data: hex(lengths[i] ?? 0),
    })),
    kdf: ([1, 2, 3] as const).flatMap((n) =>
      [0, 32, 100].map((inputLen) => ({ n, key: hex(32), input: hex(inputLen) })),
    ),
  };
}

/**
 * Runs every case. Also opens each sealed message (must give the plaintext back) and a copy
 * with one flipped bit (must give null); those outcomes are part of the results too.
 */
export function runCases(c: CryptoFns, cases: Cases): Results {
  const r: Results = {};
  const put = (name: string, v: Uint8Array | null) => {
    r[name] = v === null ? null : toHex(v);
  };
  const flip = (sealed: Uint8Array, at: number) => {
    const bad = sealed.slice();
    const i = at % bad.length;
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    return bad;
  };

  cases.aead.forEach((k, i) => {
    const [key, nonce, pt, ad] = [
      fromHex(k.key),
      fromHex(k.nonce),
      fromHex(k.plaintext),
      fromHex(k.ad),
    ];
    const tag = `[${i}] len=${pt.length} ad=${ad.length}`;
    const sealed = c.aeadSeal(key, nonce, pt, ad);
    put(`aeadSeal${tag}`, sealed);
    put(`aeadOpen${tag}`, c.aeadOpen(key, nonce, sealed, ad));
    put(`aeadOpen tampered${tag}`, c.aeadOpen(key, nonce, flip(sealed, 7 * i), ad));
    if (ad.length === 0) put(`aeadSeal default ad${tag}`, c.aeadSeal(key, nonce, pt));
  });
  cases.xaead.forEach((k, i) => {
    const [key, nonce, pt, ad] = [
      fromHex(k.key),
      fromHex(k.nonce),
      fromHex(k.plaintext),
      fromHex(k.ad),
    ];
    const tag = `[${i}] len=${pt.length} ad=${ad.length}`;
    const sealed = c.xaeadSeal(key, nonce, pt, ad);
    put(`xaeadSeal${tag}`, sealed);
    put(`xaeadOpen${tag}`, c.xaeadOpen(key, nonce, sealed, ad));
    put(`xaeadOpen tampered${tag}`, c.xaeadOpen(key, nonce, flip(sealed, 5 * i + 3), ad));
  });
  cases.chacha20.forEach((k, i) => {
    const data = fromHex(k.data);
    put(
      `chacha20[${i}] counter=${k.counter} len=${data.length}`,
      c.chacha20(fromHex(k.key), fromHex(k.nonce), k.counter, data),
    );
  });
  cases.hchacha20.forEach((k, i) => {
    put(`hchacha20[${i}]`, c.hchacha20(fromHex(k.key), fromHex(k.nonce)));
  });
  cases.poly1305.forEach((k, i) => {
    const m = fromHex(k.message);
    put(`poly1305[${i}] len=${m.length}`, c.poly1305(fromHex(k.key), m));
  });
  cases.blake2s.forEach((k, i) => {
    const data = fromHex(k.data);
    const key = fromHex(k.key);
    const tag = `[${i}] len=${data.length} out=${k.outLen} key=${key.length}`;
    put(
      `blake2s${tag}`,
      key.length > 0 ? c.blake2s(data, k.outLen, key) : c.blake2s(data, k.outLen),
    );
    if (k.outLen === 32 && key.length === 0) put(`blake2s default out${tag}`, c.blake2s(data));
  });
  cases.hmac.forEach((k, i) => {
    const key = fromHex(k.key);
    const data = fromHex(k.data);
    put(`hmacBlake2s[${i}] key=${key.length} len=${data.length}`, c.hmacBlake2s(key, data));
  });
  cases.kdf.forEach((k, i) => {
    const input = fromHex(k.input);
    const outs = c.kdf(k.n, fromHex(k.key), input);
    r[`kdf[${i}] n=${k.n} len=${input.length} count`] = String(outs.length);
    outs.forEach((o, j) => {
      put(`kdf[${i}] n=${k.n} len=${input.length} out${j + 1}`, o);
    });
  });
  return r;
}
