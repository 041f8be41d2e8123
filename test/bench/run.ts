// `npm run bench`: runs every test/bench/*.bench.ts in sequence, each in its own tsx child process
// (so one benchmark's JIT state, heap and wasm memory never colour the next one's numbers).
//
//   npm run bench              every benchmark
//   npm run bench -- crypto    only benchmarks whose file name contains "crypto"
//
// Exits non-zero when a benchmark process fails (e.g. its correctness check before timing);
// timing itself never fails anything.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, "..", "..");
const tsx = join(root, "node_modules", ".bin", process.platform === "win32" ? "tsx.cmd" : "tsx");

if (!existsSync(tsx)) {
  console.error(`bench: ${relative(root, tsx)} not found; run npm install`);
  process.exit(2);
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filters.length === 0 || filters.some((needle) => f.includes(needle)))
  .sort();

if (files.length === 0) {
  console.error(`bench: no benchmark matches ${filters.join(", ") || "*.bench.ts"}`);
  process.exit(2);
}

const outcomes: { file: string; status: string; seconds: number }[] = [];
for (const file of files) {
  const path = join(benchDir, file);
  console.log(`\n=== ${relative(root, path)} ===`);
  const start = performance.now();
  const result = spawnSync(tsx, [path], { cwd: root, stdio: "inherit", env: process.env });
  const seconds = (performance.now() - start) / 1000;
  let status = "ok";
  if (result.error) status = `error: ${result.error.message}`;
  else if (result.signal) status = `killed by ${result.signal}`;
  else if (result.status !== 0) status = `exit ${result.status}`;
  outcomes.push({ file, status, seconds });
}

console.log("\n=== summary ===");
for (const o of outcomes) {
  console.log(`${o.file.padEnd(32)} ${o.status.padEnd(16)} ${o.seconds.toFixed(1)} s`);
}
process.exit(outcomes.every((o) => o.status === "ok") ? 0 : 1);
