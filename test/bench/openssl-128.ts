// node:crypto's ChaCha20-Poly1305 with OpenSSL held to 128-bit SIMD (no AVX2, no AVX-512).
// wasm SIMD is 128 bits wide, so this is the like-for-like native anchor; on a machine whose
// OpenSSL uses AVX-512 the plain node:crypto anchor measures a wider machine. OpenSSL reads
// OPENSSL_ia32cap once at start-up, hence a child process; ":0" clears the CPUID leaf-7 bits.

import { spawnSync } from "node:child_process";

// Runs in the child: median MB/s of 5 rounds of ~150 ms per size, after a warm-up round.
const CHILD = `
const c = require("node:crypto");
const key = Buffer.alloc(32, 7), nonce = Buffer.alloc(12, 1), out = {};
for (const size of JSON.parse(process.argv[1])) {
  const pt = Buffer.alloc(size, 3), rates = [];
  for (let round = 0; round < 6; round++) {
    const t0 = performance.now(); let n = 0;
    while (performance.now() - t0 < 150) {
      const s = c.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
      s.update(pt); s.final(); s.getAuthTag(); n++;
    }
    if (round > 0) rates.push((n * size) / ((performance.now() - t0) / 1000) / 1e6);
  }
  rates.sort((a, b) => a - b);
  out[size] = rates[2];
}
process.stdout.write(JSON.stringify(out));
`;

/** MB/s of node:crypto seal per size with OpenSSL limited to 128-bit SIMD; empty on failure. */
export function measureOpenSsl128(sizes: number[]): Map<number, number> {
  const run = spawnSync(process.execPath, ["-e", CHILD, JSON.stringify(sizes)], {
    env: { ...process.env, OPENSSL_ia32cap: ":0" },
    encoding: "utf8",
    timeout: 60_000,
  });
  const result = new Map<number, number>();
  if (run.status !== 0) return result;
  const parsed = JSON.parse(run.stdout) as Record<string, number>;
  for (const size of sizes) {
    const rate = parsed[String(size)];
    if (typeof rate === "number") result.set(size, rate);
  }
  return result;
}
