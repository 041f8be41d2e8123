// Crypto core benchmark (`npm run bench:crypto`): corridor's wasm core, both builds, against
// node:crypto (OpenSSL), libsodium-wrappers (wasm) and @noble (JS), all measured in this process.
// Every corridor function is checked against node:crypto before anything is timed; a mismatch
// exits 1. Targets are printed as PASS/MISS for information only and never fail the process.

import { createCipheriv, createDecipheriv, createHash, createHmac } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { hmac as nobleHmac } from "@noble/hashes/hmac.js";
import sodium from "libsodium-wrappers";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { x25519Providers } from "../../worker/crypto/x25519.ts";
import {
  type BenchCase,
  createPrng,
  formatPercent,
  formatRate,
  formatRatio,
  formatSize,
  type Measurement,
  measureGroup,
  measureGroupAsync,
  printTable,
  verdict,
} from "./harness.ts";
import { measureOpenSsl128 } from "./openssl-128.ts";

type CryptoCore = Awaited<ReturnType<typeof loadCryptoCore>>;
type AeadBatch = ReturnType<CryptoCore["createAeadBatch"]>;
type X25519Provider = ReturnType<typeof x25519Providers>[number];
type Build = "simd" | "scalar";

const BUILDS: Build[] = ["simd", "scalar"];
const AEAD_SIZES = [64, 1420, 65536];
const HASH_SIZES = [64, 1024, 65536];
const HEADROOM = 16;
const TAG = 16;
const BATCH_MAX = 65535; // AeadBatch's largest packet: its "64 KiB" rows use 65535-byte packets
const batchSize = (size: number): number => Math.min(size, BATCH_MAX);
const POOL = 16; // distinct packets per size, cycled by the one-call-per-packet implementations
const EMPTY = new Uint8Array(0);
const root = fileURLToPath(new URL("../..", import.meta.url));
const prng = createPrng(0x636f7272); // "corr"

function fail(message: string): never {
  console.error(`crypto.bench: correctness check failed: ${message}`);
  process.exit(1);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** WireGuard's nonce: four zero bytes, then the 64-bit little-endian counter. */
function wgNonce(counter: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, counter, true);
  return nonce;
}

function nodeSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG });
  c.setAAD(EMPTY, { plaintextLength: pt.length });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

// ---------------------------------------------------------------------------------------------
// Setup and correctness

// Sizes of the files scripts/build-wasm.ts writes, read before loading (the core itself loads
// the same bytes, embedded in worker/crypto/generated/).
const wasmSizes = BUILDS.map((build): [Build, number] => {
  const file = join(root, "build", "wasm", `corridor-${build}.wasm`);
  return [build, existsSync(file) ? statSync(file).size : Number.NaN];
});
await sodium.ready;
const cores = new Map<Build, CryptoCore>();
for (const build of BUILDS) cores.set(build, await loadCryptoCore({ build }));
const coreOf = (build: Build): CryptoCore => cores.get(build)!;

const key = prng.bytes(32);
const pools = new Map<number, { nonces: Uint8Array[]; pts: Uint8Array[]; sealed: Uint8Array[] }>();
for (const size of new Set([...AEAD_SIZES, ...AEAD_SIZES.map(batchSize)])) {
  const nonces = Array.from({ length: POOL }, (_, i) => wgNonce(BigInt(1000 + i)));
  const pts = Array.from({ length: POOL }, () => prng.bytes(size));
  const sealed = pts.map((pt, i) => nodeSeal(key, nonces[i]!, pt));
  pools.set(size, { nonces, pts, sealed });
}
const poolOf = (size: number) => pools.get(size)!;

/** A batch for packets of batchSize(size) bytes: 64 packets per call, 16 for the large ones. */
function makeBatch(core: CryptoCore, size: number): { batch: AeadBatch; n: number } {
  const n = size > 1440 ? 16 : 64;
  const batch = core.createAeadBatch({
    capacity: n,
    maxPacket: size > 1440 ? BATCH_MAX : 1440,
    keySlots: 1,
    headroom: HEADROOM,
  });
  batch.setKey(0, key);
  return { batch, n };
}

/** Loads packets into a batch: plaintexts for seal, node-sealed ciphertexts for open. */
function loadBatch(batch: AeadBatch, n: number, size: number, mode: "seal" | "open") {
  const { pts, sealed } = poolOf(batchSize(size));
  for (let i = 0; i < n; i++) {
    const src = mode === "seal" ? pts[i % POOL]! : sealed[i % POOL]!;
    batch.input(i).set(src);
    batch.setPacket(i, 0, BigInt(1000 + (i % POOL)), src.length);
  }
}

function verify() {
  for (const build of BUILDS) {
    const core = coreOf(build);
    for (const size of [0, 1, 63, 64, 65, ...AEAD_SIZES]) {
      const pt = prng.bytes(size);
      const nonce = wgNonce(BigInt(size) * 7n + 1n);
      const expected = nodeSeal(key, nonce, pt);
      const got = core.aeadSeal(key, nonce, pt);
      if (!equal(got, expected)) fail(`${build} aeadSeal(${size} B) differs from node:crypto`);
      const back = core.aeadOpen(key, nonce, expected);
      if (back === null || !equal(back, pt)) fail(`${build} aeadOpen(${size} B) round trip`);
      const bad = Uint8Array.from(expected);
      bad[0] = (bad[0] ?? 0) ^ 1;
      if (core.aeadOpen(key, nonce, bad) !== null) fail(`${build} aeadOpen accepted a forgery`);
    }
    for (const size of AEAD_SIZES) {
      const { batch, n } = makeBatch(core, size);
      const bsize = batchSize(size);
      const { pts, sealed } = poolOf(bsize);
      loadBatch(batch, n, size, "seal");
      batch.seal(n);
      for (let i = 0; i < n; i++) {
        const out = batch.output(i).subarray(HEADROOM, HEADROOM + bsize + TAG);
        if (!equal(out, sealed[i % POOL]!)) fail(`${build} batch seal(${size} B) packet ${i}`);
      }
      loadBatch(batch, n, size, "open");
      const failures = batch.open(n);
      if (failures !== 0) fail(`${build} batch open(${size} B): ${failures} failures`);
      for (let i = 0; i < n; i++) {
        const out = batch.output(i).subarray(HEADROOM, HEADROOM + bsize);
        if (!batch.ok(i) || !equal(out, pts[i % POOL]!)) fail(`${build} batch open packet ${i}`);
      }
      batch.dispose();
    }
    for (const size of [0, 1, 64, 65, ...HASH_SIZES]) {
      const data = prng.bytes(size);
      const want = createHash("blake2s256").update(data).digest();
      if (!equal(core.blake2s(data), want)) fail(`${build} blake2s(${size} B)`);
      const hkey = prng.bytes(32);
      const mac = createHmac("blake2s256", hkey).update(data).digest();
      if (!equal(core.hmacBlake2s(hkey, data), mac)) fail(`${build} hmacBlake2s(${size} B)`);
    }
  }
  // The anchors must compute the same thing, or the comparison means nothing.
  const { nonces, pts, sealed } = poolOf(1420);
  const [pt, nonce] = [pts[0]!, nonces[0]!];
  const sod = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, null, null, nonce, key);
  if (!equal(sod, sealed[0]!)) fail("libsodium-wrappers differs from node:crypto");
  if (!equal(chacha20poly1305(key, nonce).encrypt(pt), sealed[0]!)) {
    fail("@noble/ciphers differs from node:crypto");
  }
}
verify();
console.log("correctness: corridor (simd, scalar), libsodium, @noble agree with node:crypto");

// ---------------------------------------------------------------------------------------------
// AEAD

interface Row {
  group: string;
  op: string;
  size: number;
  impl: string;
  m: Measurement;
}
const rows: Row[] = [];
/** Measures a group of comparable cases with interleaved rounds and records them. */
function runGroup(group: string, op: string, size: number, cases: BenchCase[]) {
  measureGroup(cases).forEach((m, i) => {
    rows.push({ group, op, size, impl: cases[i]!.name, m });
  });
}

type PerPacket = (key: Uint8Array, nonce: Uint8Array, input: Uint8Array) => unknown;
const corridorOneShot = (op: "seal" | "open") =>
  BUILDS.map((b): [string, PerPacket] => {
    const core = coreOf(b);
    const fn: PerPacket =
      op === "seal" ? (k, n, pt) => core.aeadSeal(k, n, pt) : (k, n, s) => core.aeadOpen(k, n, s);
    return [`corridor one-shot ${b}`, fn];
  });
const perPacketSeal: [string, PerPacket][] = [
  ...corridorOneShot("seal"),
  [
    "node:crypto",
    (k, nonce, pt) => {
      const c = createCipheriv("chacha20-poly1305", k, nonce, { authTagLength: TAG });
      c.setAAD(EMPTY, { plaintextLength: pt.length });
      const ct = c.update(pt);
      c.final();
      return [ct, c.getAuthTag()];
    },
  ],
  [
    "libsodium-wrappers",
    (k, n, pt) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, null, null, n, k),
  ],
  ["@noble/ciphers", (k, nonce, pt) => chacha20poly1305(k, nonce).encrypt(pt)],
];
const perPacketOpen: [string, PerPacket][] = [
  ...corridorOneShot("open"),
  [
    "node:crypto",
    (k, nonce, sealed) => {
      const d = createDecipheriv("chacha20-poly1305", k, nonce, { authTagLength: TAG });
      const ctLen = sealed.length - TAG;
      d.setAAD(EMPTY, { plaintextLength: ctLen });
      d.setAuthTag(sealed.subarray(ctLen));
      const pt = d.update(sealed.subarray(0, ctLen));
      d.final();
      return pt;
    },
  ],
  [
    "libsodium-wrappers",
    (k, n, s) => sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, s, null, n, k),
  ],
  ["@noble/ciphers", (k, nonce, sealed) => chacha20poly1305(k, nonce).decrypt(sealed)],
];

for (const size of AEAD_SIZES) {
  const { nonces, pts, sealed } = poolOf(size);
  for (const [op, impls, inputs] of [
    ["seal", perPacketSeal, pts],
    ["open", perPacketOpen, sealed],
  ] as const) {
    const cases: BenchCase[] = [];
    const batches: AeadBatch[] = [];
    for (const build of BUILDS) {
      const { batch, n } = makeBatch(coreOf(build), size);
      batches.push(batch);
      loadBatch(batch, n, size, op);
      const per = { bytesPerCall: n * batchSize(size), opsPerCall: n };
      const fn = op === "seal" ? () => batch.seal(n) : () => batch.open(n);
      cases.push({ name: `corridor batch ${build}`, fn, ...per });
      if (op === "seal" && build === "simd" && size <= 1440) {
        // The data path also sets every packet's counter and length on each call.
        const counters = Array.from({ length: n }, (_, i) => BigInt(1000 + (i % POOL)));
        const withSet = () => {
          for (let i = 0; i < n; i++) batch.setPacket(i, 0, counters[i]!, size);
          batch.seal(n);
        };
        cases.push({ name: "corridor batch simd +setPacket", fn: withSet, ...per });
      }
    }
    for (const [name, fn] of impls) {
      let i = 0;
      const next = () => {
        i = (i + 1) % POOL;
        return fn(key, nonces[i]!, inputs[i]!);
      };
      cases.push({ name, fn: next, bytesPerCall: size });
    }
    runGroup("aead", op, size, cases);
    for (const batch of batches) {
      // Still opening authentically after all those calls: the timing measured working code.
      if (op === "open" && batch.open(batch.capacity) !== 0)
        fail(`batch open(${size} B) after timing`);
      batch.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BLAKE2s and HMAC-BLAKE2s

for (const size of HASH_SIZES) {
  const data = prng.bytes(size);
  runGroup(
    "hash",
    "blake2s-256",
    size,
    [
      ...BUILDS.map((b) => ({ name: `corridor ${b}`, fn: () => coreOf(b).blake2s(data) })),
      { name: "node:crypto", fn: () => createHash("blake2s256").update(data).digest() },
      { name: "@noble/hashes", fn: () => nobleBlake2s(data) },
    ].map((c) => ({ ...c, bytesPerCall: size })),
  );
}
const hkey = prng.bytes(32);
const hmsg = prng.bytes(64);
runGroup(
  "hash",
  "hmac-blake2s",
  64,
  [
    ...BUILDS.map((b) => ({ name: `corridor ${b}`, fn: () => coreOf(b).hmacBlake2s(hkey, hmsg) })),
    { name: "node:crypto", fn: () => createHmac("blake2s256", hkey).update(hmsg).digest() },
    { name: "@noble/hashes", fn: () => nobleHmac(nobleBlake2s, hkey, hmsg) },
  ].map((c) => ({ ...c, bytesPerCall: 64 })),
);

// ---------------------------------------------------------------------------------------------
// X25519

const providers: X25519Provider[] = [];
for (const p of x25519Providers()) if (await p.available()) providers.push(p);
if (!providers.some((p) => p.name === nodeX25519.name)) providers.push(nodeX25519);
const privA = prng.bytes(32);
const pubB = await nodeX25519.publicKey(prng.bytes(32));
const wantShared = await nodeX25519.sharedSecret(privA, pubB);
for (const p of providers) {
  const shared = await p.sharedSecret(privA, pubB);
  if (!equal(shared, wantShared)) fail(`x25519 ${p.name} disagrees with ${nodeX25519.name}`);
}
const x25519Cases = providers.map((p) => ({ name: p.name, fn: () => p.sharedSecret(privA, pubB) }));
(await measureGroupAsync(x25519Cases, { roundMs: 120 })).forEach((m, i) => {
  rows.push({ group: "x25519", op: "sharedSecret", size: 0, impl: x25519Cases[i]!.name, m });
});

// ---------------------------------------------------------------------------------------------
// Report

const find = (group: string, op: string, size: number, impl: string): Row | undefined =>
  rows.find((r) => r.group === group && r.op === op && r.size === size && r.impl === impl);
const anchorOf = (r: Row): string => (r.group === "x25519" ? nodeX25519.name : "node:crypto");

function tableRows(group: string, columns?: number[]): string[][] {
  return rows
    .filter((r) => r.group === group)
    .map((r) => {
      const anchor = find(group, r.op, r.size, anchorOf(r));
      const byBytes = (anchor?.m.mbPerSec ?? 0) > 0;
      const ratio = !anchor
        ? Number.NaN
        : byBytes
          ? r.m.mbPerSec / anchor.m.mbPerSec
          : r.m.opsPerSec / anchor.m.opsPerSec;
      const cells = [
        r.op,
        formatSize(r.size),
        r.impl,
        formatRate(r.m.mbPerSec),
        formatRate(r.m.opsPerSec),
        formatRatio(ratio),
        formatPercent(r.m.spread),
      ];
      return columns ? columns.map((c) => cells[c] ?? "") : cells;
    });
}
const header = ["op", "size", "implementation", "MB/s", "ops/s", "vs anchor", "spread"];
printTable(
  "ChaCha20-Poly1305, empty AD (anchor: node:crypto at the same op and size)",
  header,
  tableRows("aead"),
);
console.log(
  "\nbatch: one seal(n)/open(n) call over n = 64 packets (16 at 64 KiB, of 65535 B, the batch's" +
    "\nlargest); others: one call per packet. node:crypto = createCipheriv + setAAD + update +" +
    "\nfinal + getAuthTag. Rounds of a group are interleaved. spread = (max - min) / median.",
);
printTable("BLAKE2s-256 and HMAC-BLAKE2s (32-byte key)", header, tableRows("hash"));
const x25519Columns = [0, 2, 4, 5, 6];
printTable(
  `X25519 (anchor: ${nodeX25519.name})`,
  x25519Columns.map((c) => header[c] ?? ""),
  tableRows("x25519", x25519Columns),
);

const mb = (op: string, size: number, impl: string) =>
  find("aead", op, size, impl)?.m.mbPerSec ?? 0;
const batch1420 = mb("seal", 1420, "corridor batch simd");
const best64k = rows
  .filter((r) => r.group === "aead" && r.op === "seal" && r.size === 65536)
  .filter((r) => r.impl.startsWith("corridor"))
  .sort((a, b) => b.m.mbPerSec - a.m.mbPerSec)[0];
const hmacOps = (impl: string) => find("hash", "hmac-blake2s", 64, impl)?.m.opsPerSec ?? 0;

const targets: string[][] = [];
const target = (metric: string, value: number, atLeast: number, unit: "x" | " MB/s") => {
  const shown = unit === "x" ? formatRatio(value) : `${formatRate(value)}${unit}`;
  const ok = Number.isFinite(value) && value > 0 ? verdict(value, atLeast) : "n/a";
  targets.push([metric, shown, `>= ${atLeast}${unit}`, ok]);
};
for (const [anchor, goal] of [
  ["node:crypto", 3],
  ["libsodium-wrappers", 2.5],
  ["@noble/ciphers", 9],
] as const) {
  target(`batch seal @1420 B (simd) vs ${anchor}`, batch1420 / mb("seal", 1420, anchor), goal, "x");
}
target("batch seal @1420 B (simd), absolute (aim)", batch1420, 900, " MB/s");
if (best64k) {
  const r = best64k.m.mbPerSec / mb("seal", 65536, "node:crypto");
  target(`seal @64 KiB, best corridor (${best64k.impl}) vs node:crypto`, r, 0.5, "x");
}
// Context for the two ratios above: the same OpenSSL held to 128-bit SIMD, as wasm is.
const openssl128 = measureOpenSsl128([1420, 65536]);
for (const [size, label, corridor] of [
  [1420, "batch seal @1420 B (simd)", batch1420],
  [65536, "seal @64 KiB, best corridor", best64k?.m.mbPerSec ?? 0],
] as const) {
  const anchor = openssl128.get(size) ?? Number.NaN;
  targets.push([
    `${label} vs node:crypto at 128-bit SIMD (${formatRate(anchor)} MB/s)`,
    formatRatio(corridor / anchor),
    "(context)",
    "",
  ]);
}
for (const build of BUILDS) {
  const r = hmacOps(`corridor ${build}`) / hmacOps("@noble/hashes");
  target(`HMAC-BLAKE2s 64 B (${build}) vs @noble/hashes`, r, 3, "x");
}
for (const [build, size] of wasmSizes) {
  const simd = build === "simd";
  const ok = Number.isNaN(size) ? "n/a" : size <= 24576 ? "PASS" : "MISS";
  targets.push([
    `wasm size corridor-${build}.wasm`,
    `${size} B`,
    simd ? "<= 24576 B" : "",
    simd ? ok : "",
  ]);
}
printTable(
  "Targets (information only; never fail the run)",
  ["metric", "measured", "target", ""],
  targets,
  ["left", "right", "left", "left"],
);
