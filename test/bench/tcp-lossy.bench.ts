// TCP through loss (`npm run bench -- tcp-lossy`): our engine and TCP in this process against
// the Linux kernel's TCP (python3 in a wireguard-go namespace), on a clean path and through a
// seeded UDP proxy that drops 3% of the datagrams and reorders 3% (test/interop/mesh-rig.ts).
// Each round sends the same seeded bytes both ways over one connection: ours → kernel measures
// our sender's recovery (RACK, tail loss probes, RTOs), kernel → ours the kernel's sender on
// the very same path, which is the anchor. test/interop/tcp-kernel.test.ts checks that these
// transfers are correct; how fast they go is measured here only.
//
// Needs root, wireguard-go, wg, ip, /dev/net/tun and python3: without them it is skipped
// (exit 0), except under CI=true, where it fails (DESIGN.md §5).

import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { check, executable, inCI, prereq } from "../helpers/prereq.ts";
import {
  createMeshRig,
  HOST_V4,
  MiB,
  PYTHON3,
  runInitiator,
  seededSha,
  startKernelPeer,
} from "../interop/mesh-rig.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { benchRounds, formatRatio, printTable, timeScale } from "./harness.ts";

const BYTES = Math.max(8, Math.round(32 * timeScale)) * MiB; // each way, per round
/** Rounds per path (BENCH_ROUNDS overrides; CI runs 1). */
const ROUNDS = benchRounds(3);
const PORT = 5101;
const PATHS = [
  { name: "clean", lossy: undefined },
  { name: "3% loss, 3% reordering", lossy: { seed: 5, loss: 0.03, reorder: 0.03 } },
] as const;

const need = prereq(...wgHostPrereq().missing.map((w) => check(w, false)), executable(PYTHON3));
if (!need.ok) {
  if (inCI()) {
    console.error(`tcp-lossy bench: ${need.reason}`);
    process.exit(1);
  }
  console.log(`tcp-lossy bench: skipped, ${need.reason}`);
  process.exit(0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mbps = (bytesPerSecond: number) => (bytesPerSecond / 1e6).toFixed(1);

/** One connection: our client uploads, then the kernel server sends; rates in bytes/s. */
async function round(
  path: (typeof PATHS)[number],
  index: number,
): Promise<{ ours: number; kernel: number }> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const rig = await createMeshRig((close) => closers.push(close), { lossy: path.lossy });
    const seeds = { ours: `bench-up-${index}`, theirs: `bench-down-${index}` };
    const server = startKernelPeer(rig.host, {
      role: "serve",
      address: HOST_V4,
      port: PORT,
      size: BYTES,
      seed: seeds.theirs,
    });
    await server.listening;
    const remote = parseIp(HOST_V4);
    const conn = await rig.net.tcp.connect(rig.net.sourceFor(remote), remote, PORT, {
      timeoutMs: 10_000,
    });
    try {
      const ours = await runInitiator(conn, seeds.ours, BYTES);
      const theirs = await server.report;
      // Timing a wrong transfer would mean nothing: both ends got the seeded streams.
      if (
        theirs.received_sha !== seededSha(seeds.ours, BYTES) ||
        ours.sentSha !== theirs.received_sha
      )
        throw new Error(`${path.name}: the kernel received other bytes than we sent`);
      if (ours.receivedSha !== seededSha(seeds.theirs, BYTES))
        throw new Error(`${path.name}: we received other bytes than the kernel sent`);
      return { ours: (BYTES * 1000) / ours.sendMs, kernel: (BYTES * 1000) / ours.receiveMs };
    } finally {
      conn.abort("bench over");
    }
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

const rows: string[][] = [];
for (const path of PATHS) {
  const ours: number[] = [];
  const kernel: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(path, i);
    ours.push(r.ours);
    kernel.push(r.kernel);
  }
  const k = median(kernel);
  const o = median(ours);
  rows.push([path.name, "kernel TCP sending (anchor)", mbps(k), "1.00x"]);
  rows.push([path.name, "our TCP sending", mbps(o), formatRatio(o / k)]);
}
printTable(
  `Bulk TCP through wireguard-go, ${BYTES / MiB} MiB each way (median of ${ROUNDS})`,
  ["path", "sender", "MB/s", "ratio"],
  rows,
  ["left", "left", "right", "right"],
);
process.exit(0);
