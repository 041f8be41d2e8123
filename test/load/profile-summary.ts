// Summarizes a V8 .cpuprofile (node --cpu-prof): self time by function and by file, and the
// total of the samples, so a load run's server profile reads as a table instead of a flame
// graph. Usage: tsx test/load/profile-summary.ts FILE.cpuprofile [ROWS]

import { readFileSync } from "node:fs";

/** The parts of a V8 CPU profile this summary reads. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (file === undefined) {
  console.error("usage: tsx test/load/profile-summary.ts FILE.cpuprofile [ROWS]");
  process.exit(2);
}
const rows = Number(process.argv[3] ?? 40);
const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;

// Self time per node: each sample's delta belongs to the node sampled.
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
let idle = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  total += us;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === "(idle)") {
    // Waiting for I/O is not work: reported in the header, kept out of the tables.
    idle += us;
    continue;
  }
  const short = url.replace(/^.*\/(node_modules|server|worker|test)\//, "$1/");
  const key = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const fileKey = short === "" ? functionName : short;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}

const busy = total - idle;
const table = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    const pct = ((100 * us) / busy).toFixed(1).padStart(5);
    console.log(`${pct}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  }
};
console.log(
  `${(total / 1e6).toFixed(1)} s sampled, idle ${(idle / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages of busy)`,
);
table("self time by function", byFunction);
table("self time by file", byFile);
