// Seeded, bounded fuzzing of the open path, the only place the crypto core reads bytes from
// the network: aeadOpen, xaeadOpen and AeadBatch.open get random and mutated-from-valid
// inputs and must never throw, and accept exactly the valid messages. Then the argument
// checks get wrong types and lengths and must throw a TypeError naming the parameter.

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { beforeAll, describe, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { concat, toHex } from "./vectors.ts";

const INPUTS = 20000;
const MAX_INPUT = 2000;
const TAG = 16;
const PLAIN_LENGTHS = [
  0,
  1,
  15,
  16,
  17,
  63,
  64,
  65,
  100,
  191,
  192,
  193,
  255,
  256,
  257,
  1000,
  MAX_INPUT - TAG,
];
const SENTINEL = 0x5a;

type Rnd = (n: number) => Uint8Array;
type Ri = (bound: number) => number;

/** A set of valid sealed messages under one key, nonce and AD, and their plaintexts. */
interface Corpus {
  sealed: Uint8Array[];
  plain: Uint8Array[];
}

function makeCorpus(rnd: Rnd, seal: (pt: Uint8Array) => Uint8Array): Corpus {
  const plain = PLAIN_LENGTHS.map((n) => rnd(n));
  return { plain, sealed: plain.map(seal) };
}

/** Index of the corpus message equal to `x`, or -1. */
function validIndex(corpus: Corpus, x: Uint8Array): number {
  return corpus.sealed.findIndex(
    (s) => s.length === x.length && Buffer.compare(Buffer.from(s), Buffer.from(x)) === 0,
  );
}

/** A length in 0..MAX_INPUT, weighted toward small. */
function randomLength(ri: Ri): number {
  const bucket = ri(10);
  if (bucket < 4) return ri(33);
  if (bucket < 7) return ri(129);
  if (bucket < 9) return ri(513);
  return ri(MAX_INPUT + 1);
}

/** One mutation of `x`: bit flip, truncation, extension, byte swap, splice, and others. */
function mutate(x: Uint8Array, corpus: Corpus, rnd: Rnd, ri: Ri): Uint8Array {
  const len = x.length;
  switch (ri(8)) {
    case 0: {
      if (len === 0) return rnd(1);
      const out = x.slice();
      const at = ri(len);
      out[at] = out[at]! ^ (1 << ri(8));
      return out;
    }
    case 1:
      return x.slice(0, ri(len + 1));
    case 2:
      return concat(x, rnd(1 + ri(ri(2) === 0 ? 4 : 64)));
    case 3: {
      const out = x.slice();
      if (len < 2) return out;
      const [a, b] = [ri(len), ri(len)];
      [out[a], out[b]] = [out[b]!, out[a]!];
      return out;
    }
    case 4: {
      const other = corpus.sealed[ri(corpus.sealed.length)]!;
      return concat(x.subarray(0, ri(len + 1)), other.subarray(ri(other.length + 1)));
    }
    case 5: {
      const out = x.slice();
      if (len > 0) out[ri(len)] = ri(256);
      return out;
    }
    case 6: {
      const at = ri(len + 1);
      return concat(x.subarray(0, at), x.subarray(Math.min(len, at + 1 + ri(16))));
    }
    default: {
      const at = ri(len + 1);
      return concat(x.subarray(0, at), rnd(1 + ri(16)), x.subarray(at));
    }
  }
}

/** A fuzz input: random bytes, a valid message, or one with 1..4 mutations (<= MAX_INPUT). */
function fuzzInput(corpus: Corpus, rnd: Rnd, ri: Ri): Uint8Array {
  const kind = ri(16);
  if (kind < 3) return rnd(randomLength(ri));
  let x = corpus.sealed[ri(corpus.sealed.length)]!;
  if (kind === 3) return x;
  for (let n = 1 + ri(4); n > 0; n--) x = mutate(x, corpus, rnd, ri);
  return x.length > MAX_INPUT ? x.subarray(0, MAX_INPUT) : x;
}

function flipFirstBit(b: Uint8Array): Uint8Array {
  const out = b.slice();
  out[0] = out[0]! ^ 1;
  return out;
}

/** Fuzzes a one-shot open; returns [inputs tried, accepted, problems]. */
function fuzzOneShot(
  open: (sealed: Uint8Array, ad: Uint8Array) => Uint8Array | null,
  corpus: Corpus,
  ad: Uint8Array,
  seed: number,
): [number, number, string[]] {
  const rnd = seededBytes(seed);
  const ri = seededInts(seed + 1);
  const problems: string[] = [];
  const badAd = flipFirstBit(ad);
  let accepted = 0;
  for (let n = 0; n < INPUTS; n++) {
    const x = fuzzInput(corpus, rnd, ri);
    const wrongAd = ri(16) === 0;
    const want = wrongAd ? -1 : validIndex(corpus, x);
    let got: Uint8Array | null;
    try {
      got = open(x, wrongAd ? badAd : ad);
    } catch (e) {
      problems.push(`input ${n} (len ${x.length}): threw ${String(e)}`);
      continue;
    }
    if (got !== null) accepted++;
    if (want < 0 && got !== null) problems.push(`input ${n} (len ${x.length}): accepted`);
    if (want >= 0 && (got === null || toHex(got) !== toHex(corpus.plain[want]!)))
      problems.push(`input ${n}: valid message ${want} not opened to its plaintext`);
  }
  return [INPUTS, accepted, problems.slice(0, 20)];
}

for (const build of ["simd", "scalar"] as const) {
  describe(build, () => {
    let c: CryptoCore;
    const rnd = seededBytes(0xf0220001);
    const key = rnd(32);
    const nonce = rnd(12);
    const xnonce = rnd(24);
    const ad = rnd(13);
    beforeAll(async () => {
      c = await loadCryptoCore({ build });
    });

    /** A known-good round trip, checked against @noble/ciphers: the core still works. */
    function expectStillWorks(): void {
      const r = seededBytes(0xf0220099);
      for (const n of [0, 64, 300, 1500]) {
        const [k, iv, pt] = [r(32), r(12), r(n)];
        const sealed = c.aeadSeal(k, iv, pt, ad);
        expect(toHex(sealed)).toBe(toHex(chacha20poly1305(k, iv, ad).encrypt(pt)));
        expect(toHex(c.aeadOpen(k, iv, sealed, ad) ?? new Uint8Array(1))).toBe(toHex(pt));
      }
    }

    it("aeadOpen: never throws, accepts only valid messages", () => {
      const corpus = makeCorpus(rnd, (pt) => c.aeadSeal(key, nonce, pt, ad));
      const open = (x: Uint8Array, a: Uint8Array) => c.aeadOpen(key, nonce, x, a);
      const [tried, accepted, problems] = fuzzOneShot(open, corpus, ad, 0xf0221000);
      console.log(`fuzz aeadOpen (${build}): ${tried} inputs, ${accepted} accepted (valid copies)`);
      expect(problems).toEqual([]);
      expectStillWorks();
    });

    it("xaeadOpen: never throws, accepts only valid messages", () => {
      const corpus = makeCorpus(rnd, (pt) => c.xaeadSeal(key, xnonce, pt, ad));
      const open = (x: Uint8Array, a: Uint8Array) => c.xaeadOpen(key, xnonce, x, a);
      const [tried, accepted, problems] = fuzzOneShot(open, corpus, ad, 0xf0222000);
      console.log(
        `fuzz xaeadOpen (${build}): ${tried} inputs, ${accepted} accepted (valid copies)`,
      );
      expect(problems).toEqual([]);
      expectStillWorks();
    });

    it("AeadBatch.open: never throws, flags exactly the invalid packets, zeroes their plaintext", () => {
      const capacity = 50;
      const counter = 0xdead_beef_1234n;
      const wgNonce = new Uint8Array(12);
      new DataView(wgNonce.buffer).setBigUint64(4, counter, true);
      const corpus = makeCorpus(rnd, (pt) => c.aeadSeal(key, wgNonce, pt));
      const batch = c.createAeadBatch({ capacity, maxPacket: MAX_INPUT, keySlots: 2 });
      batch.setKey(0, key);
      batch.setKey(1, flipFirstBit(key));
      const r = seededBytes(0xf0223000);
      const ri = seededInts(0xf0223001);
      const sentinel = Buffer.alloc(batch.output(0).length, SENTINEL);
      const problems: string[] = [];
      const want: number[] = [];
      let tried = 0;
      let accepted = 0;
      while (tried < INPUTS) {
        for (let i = 0; i < capacity; i++) {
          const x = fuzzInput(corpus, r, ri);
          const wrong = ri(16); // 0: wrong key slot, 1: wrong counter
          want[i] = wrong < 2 ? -1 : validIndex(corpus, x);
          batch.input(i).set(x);
          batch.output(i).fill(SENTINEL);
          batch.setPacket(i, wrong === 0 ? 1 : 0, wrong === 1 ? counter + 1n : counter, x.length);
        }
        const round = tried / capacity;
        let failures: number;
        try {
          failures = batch.open(capacity);
        } catch (e) {
          problems.push(`round ${round}: threw ${String(e)}`);
          break;
        }
        tried += capacity;
        if (failures !== want.filter((w) => w < 0).length)
          problems.push(
            `round ${round}: ${failures} failures, want ${want.filter((w) => w < 0).length}`,
          );
        for (let i = 0; i < capacity; i++) {
          const w = want[i]!;
          if (batch.ok(i)) accepted++;
          if (batch.ok(i) !== w >= 0)
            problems.push(`round ${round} packet ${i}: ok ${batch.ok(i)}`);
          const out = batch.output(i);
          // A rejected packet leaves zeroes where its plaintext would be, the sentinel after.
          const plain = Math.max(batch.packetLength(i) - 16, 0);
          const rejected = Buffer.concat([Buffer.alloc(plain), sentinel.subarray(plain)]);
          if (w < 0 && !rejected.equals(Buffer.from(out.buffer, out.byteOffset, out.length)))
            problems.push(`round ${round} packet ${i}: output of a rejected packet is not zeroes`);
          if (w >= 0 && toHex(batch.result(i, "open")) !== toHex(corpus.plain[w]!))
            problems.push(`round ${round} packet ${i}: valid message ${w} not opened`);
        }
      }
      batch.dispose();
      console.log(
        `fuzz batch.open (${build}): ${tried} inputs, ${accepted} accepted (valid copies)`,
      );
      expect(problems.slice(0, 20)).toEqual([]);
      expect(tried).toBe(INPUTS);
      expectStillWorks();
    });

    it("argument checks: wrong types and lengths throw a TypeError naming the parameter", () => {
      const ri = seededInts(0xf0224000);
      const notBytes: unknown[] = [
        null,
        0,
        32,
        Number.NaN,
        "",
        "k".repeat(32),
        true,
        {},
        [],
        new Array(32).fill(7),
        new ArrayBuffer(32),
        new DataView(new ArrayBuffer(32)),
        new Uint16Array(16),
        new Int8Array(32),
        new Uint8ClampedArray(32),
        new Uint32Array(8),
        new Float64Array(4),
        32n,
        Symbol("key"),
        () => new Uint8Array(32),
        new Map(),
        Object.create(null),
        { length: 32 },
      ];
      const notInts: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "1", 1n, null, {}];
      const b = c.createAeadBatch({ capacity: 1, maxPacket: 16 });
      const ok: Record<string, Uint8Array> = { key: rnd(32), n12: rnd(12), n24: rnd(24) };
      // Each target: function name, parameters as [name, required length, or "bytes" (any
      // length), "int" (an integer parameter), "short-key" (0..32 bytes)], and the call.
      type Kind = number | "bytes" | "int" | "short-key";
      type Target = [string, [string, Kind][], (a: unknown[]) => unknown];
      const u8 = (v: unknown) => v as Uint8Array;
      const num = (v: unknown) => v as number;
      const targets: Target[] = [
        ...(["aeadSeal", "aeadOpen", "xaeadSeal", "xaeadOpen"] as const).map(
          (fn): Target => [
            fn,
            [
              ["key", 32],
              ["nonce", fn.startsWith("x") ? 24 : 12],
              [fn.endsWith("Seal") ? "plaintext" : "sealed", "bytes"],
              ["ad", "bytes"],
            ],
            (a) => c[fn](u8(a[0]), u8(a[1]), u8(a[2]), u8(a[3])),
          ],
        ),
        [
          "chacha20",
          [
            ["key", 32],
            ["nonce", 12],
            ["counter", "int"],
            ["data", "bytes"],
          ],
          (a) => c.chacha20(u8(a[0]), u8(a[1]), num(a[2]), u8(a[3])),
        ],
        [
          "hchacha20",
          [
            ["key", 32],
            ["nonce", 16],
          ],
          (a) => c.hchacha20(u8(a[0]), u8(a[1])),
        ],
        [
          "poly1305",
          [
            ["key", 32],
            ["message", "bytes"],
          ],
          (a) => c.poly1305(u8(a[0]), u8(a[1])),
        ],
        [
          "blake2s",
          [
            ["data", "bytes"],
            ["outLen", "int"],
            ["key", "short-key"],
          ],
          (a) => c.blake2s(u8(a[0]), num(a[1]), u8(a[2])),
        ],
        [
          "hmacBlake2s",
          [
            ["key", "bytes"],
            ["data", "bytes"],
          ],
          (a) => c.hmacBlake2s(u8(a[0]), u8(a[1])),
        ],
        [
          "kdf",
          [
            ["n", "int"],
            ["key", "bytes"],
            ["input", "bytes"],
          ],
          (a) => c.kdf(num(a[0]) as 1, u8(a[1]), u8(a[2])),
        ],
        ["AeadBatch.setKey", [["key", 32]], (a) => b.setKey(0, u8(a[0]))],
      ];
      const good = (fn: string, kind: Kind): unknown => {
        if (kind === "int") return fn === "kdf" ? 2 : fn === "blake2s" ? 16 : 3;
        if (kind === "bytes") return rnd(ri(40));
        if (kind === "short-key") return rnd(ri(33));
        return kind === 32 ? ok.key : kind === 12 ? ok.n12 : kind === 24 ? ok.n24 : rnd(kind);
      };
      const problems: string[] = [];
      const tries = 4000;
      for (let n = 0; n < tries; n++) {
        const [fn, params, call] = targets[ri(targets.length)]!;
        const bad = ri(params.length);
        const [param, kind] = params[bad]!;
        let value: unknown;
        if (kind === "int") value = notInts[ri(notInts.length)];
        else if (kind === "bytes" || ri(2) === 0) value = notBytes[ri(notBytes.length)];
        else {
          const want = kind === "short-key" ? 33 : kind;
          let len = ri(100);
          if (kind === "short-key") len += 33;
          else if (len === want) len++;
          value = ri(4) === 0 ? Buffer.alloc(len) : new Uint8Array(len);
        }
        const args = params.map(([, k], i) => (i === bad ? value : good(fn, k)));
        const label = `${fn} ${param} = ${describeValue(value)}`;
        try {
          call(args);
          problems.push(`${label}: did not throw`);
        } catch (e) {
          if (!(e instanceof TypeError)) problems.push(`${label}: threw ${String(e)}`);
          else if (!e.message.startsWith(`${fn}: ${param} must be`))
            problems.push(`${label}: message "${e.message}"`);
        }
      }
      b.dispose();
      console.log(`fuzz argument checks (${build}): ${tries} calls`);
      expect(problems.slice(0, 20)).toEqual([]);
      expectStillWorks();
    });
  });
}

function describeValue(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
  if (typeof v === "symbol" || typeof v === "bigint") return `${typeof v} ${String(v)}`;
  if (typeof v === "object" && v !== null) return Object.prototype.toString.call(v);
  return String(v);
}
