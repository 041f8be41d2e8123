// Control server benchmark (`npm run bench:control`, issue 13). N simulated nodes (10,000 x
// BENCH_SCALE, at least 200, capped by the open-file limit) join one control server over real
// WebSockets on loopback, from 4 worker processes (test/load/); the server runs in its own
// process on a SQLite file. The mesh is company-shaped (test/load/topology.ts): 10 tagged
// servers every member reaches, clients in groups of 20 owned by one user each.
//
// Measured: join rate (nodes/s over all client joins); propagation of one node's change
// (endpoints through `update`, offline by a dropped stream, online by a resumed one) from the
// moment it was made until each node that must have it got it: p50 and p99 over every
// (change, peer) pair, and the time until the last peer; bytes per change per node (the delta
// each peer received) against that node's full map (the anchor: full maps sent in the same
// run, by reconnecting a sample without resume); server RSS per connected node (growth after a
// forced GC / N); a policy change's recompute time (PUT /api/v1/policy until every node got its
// new filter). Headscale's figures are quoted from its issues, not measured.
//
// Timing never fails the run; a node that never gets a change it must get, a node that gets
// one it must not, a sequence gap or any other protocol error does (exit 1).

import { readFileSync } from "node:fs";
import type { Observed } from "../load/rig.ts";
import { LoadRig } from "../load/rig.ts";
import { BASE_POLICY, CHANGED_POLICY, groupMembers } from "../load/topology.ts";
import { formatRate, printTable, timeScale, verdict } from "./harness.ts";

const SERVERS = 10;
const GROUP = 20;
const WORKERS = 4;
const JOIN_CONCURRENCY = 32;
const CHANGES = 10;
const ONLINE_CYCLES = 3;
const ANCHOR_SAMPLE = 40;
const started = performance.now();
const problems: string[] = [];

function openFileLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}
const median = (values: number[]) => percentile(values, 0.5);
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "-");
const kib = (b: number) => (b / 1024).toFixed(1);

const wanted = Math.max(200, Math.round(10_000 * timeScale));
const fdLimit = openFileLimit();
// The server holds one socket per node (its own process, its own limit); keep a margin.
const total = fdLimit === undefined ? wanted : Math.min(wanted, fdLimit - 512);
const rig = await LoadRig.start({
  total,
  servers: SERVERS,
  groupSize: GROUP,
  workers: WORKERS,
  hangAfterMs: 60_000,
});
const t = rig.topology;

try {
  // ---- joins ----
  const before = await rig.serverMemory();
  const serverIdx = Array.from({ length: t.servers }, (_, i) => i);
  const clientIdx = Array.from({ length: t.clients }, (_, i) => t.servers + i);
  const servers = await rig.join(serverIdx, 4);
  const joins = await rig.join(clientIdx, JOIN_CONCURRENCY);
  if (servers.length + joins.length !== t.total) {
    problems.push(`${t.total - servers.length - joins.length} of ${t.total} nodes failed to join`);
  }
  const joinSeconds =
    (Math.max(...joins.map((j) => j.mappedAt)) - Math.min(...joins.map((j) => j.startedAt))) / 1000;
  const joinRate = joins.length / joinSeconds;
  const joinLatency = joins.map((j) => j.mappedAt - j.startedAt);
  const wrong = await rig.settle();
  if (wrong.length > 0) {
    const w = wrong[0]!;
    problems.push(
      `${wrong.length} maps hold the wrong peers after joining (node ${w.index}: ${w.count}, want ${w.want})`,
    );
  }
  const after = await rig.serverMemory();
  const rssPerNode = (after.rss - before.rss) / t.total;
  const heapPerNode = (after.heapUsed - before.heapUsed) / t.total;

  // ---- changes ----
  const collectProblems = (what: string, o: Observed) => {
    for (const p of o.problems) problems.push(`${what}: ${p}`);
  };
  const serverChanges: Observed[] = [];
  const clientChanges: Observed[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const server = k % t.servers;
    const o = await rig.endpointChange(server, [`198.51.100.${k + 1}:41641`]);
    collectProblems(`endpoint change of server ${server}`, o);
    serverChanges.push(o);
    // Clients spread over the groups.
    const group = Math.floor((k * t.users) / CHANGES);
    const client = groupMembers(t, group)[k % GROUP] ?? groupMembers(t, group)[0]!;
    const c = await rig.endpointChange(client, [`203.0.113.${k + 1}:41641`]);
    collectProblems(`endpoint change of client ${client}`, c);
    clientChanges.push(c);
  }
  const offline: Observed[] = [];
  const online: Observed[] = [];
  for (let k = 0; k < ONLINE_CYCLES; k++) {
    const server = k % t.servers;
    const off = await rig.goOffline(server);
    collectProblems(`server ${server} going offline`, off);
    offline.push(off);
    const on = await rig.comeOnline(server);
    collectProblems(`server ${server} coming back`, on);
    online.push(on);
  }

  // ---- the anchor: full maps, sent in this run ----
  const sample = Array.from(
    { length: Math.min(ANCHOR_SAMPLE, t.clients) },
    (_, i) => t.servers + Math.floor((i * t.clients) / Math.min(ANCHOR_SAMPLE, t.clients)),
  );
  const anchors = await rig.resync([...sample, 0]);
  for (const a of anchors) {
    if (a.kind !== "map") problems.push(`node ${a.index} asked for a full map and got a ${a.kind}`);
  }
  const clientMap = median(anchors.filter((a) => a.index !== 0).map((a) => a.bytes));
  const serverMap = anchors.find((a) => a.index === 0)?.bytes ?? Number.NaN;

  // ---- policy ----
  const policies: (Observed & { putMs: number })[] = [];
  for (const text of [CHANGED_POLICY, BASE_POLICY]) {
    const o = await rig.policyChange(text);
    collectProblems("policy change", o);
    policies.push(o);
  }

  const stats = await rig.stats();
  for (const s of stats) problems.push(...s.errors);
  const resumed = stats.reduce((n, s) => n + s.resumedAfterClose, 0);

  // ---- tables ----
  printTable(
    "Setup (simulated nodes over loopback WebSockets; control server in its own process, SQLite file)",
    ["", "value"],
    [
      ["nodes wanted (10,000 x BENCH_SCALE, >= 200)", String(wanted)],
      ["open-file limit (soft)", fdLimit === undefined ? "unlimited" : String(fdLimit)],
      ["nodes", `${t.total}${t.total < wanted ? " (capped by the fd limit)" : ""}`],
      ["tagged servers (every member reaches them)", String(t.servers)],
      ["clients, in groups of one user", `${t.clients} in ${t.users} groups of ${t.groupSize}`],
      ["worker processes", String(WORKERS)],
      ["streams the server closed and nodes resumed", String(resumed)],
    ],
    ["left", "right"],
  );

  printTable(
    `Joins: ${joins.length} clients, ${WORKERS} x ${JOIN_CONCURRENCY} at once (register by auth key, full map)`,
    ["measure", "value"],
    [
      ["nodes/s over all joins", formatRate(joinRate)],
      ["wall time", `${joinSeconds.toFixed(2)} s`],
      [
        "one join (connect to map applied) p50 / p99",
        `${ms(median(joinLatency))} / ${ms(percentile(joinLatency, 0.99))} ms`,
      ],
    ],
    ["left", "right"],
  );

  const propagation = (name: string, list: Observed[]) => {
    const all = list.flatMap((o) => o.receipts.map((r) => r.at - o.t0));
    const lasts = list.map((o) => Math.max(...o.receipts.map((r) => r.at - o.t0)));
    return [
      name,
      String(list.length),
      String(median(list.map((o) => o.viewers.length))),
      ms(percentile(all, 0.5)),
      ms(percentile(all, 0.99)),
      ms(median(lasts)),
      ms(Math.max(...lasts)),
    ];
  };
  printTable(
    "Propagation: from the change until each peer that must have it got it (ms; receive time at the peer's socket)",
    ["change", "changes", "peers each", "p50", "p99", "last peer (median)", "last peer (max)"],
    [
      propagation("server endpoints (update)", serverChanges),
      propagation("client endpoints (update)", clientChanges),
      propagation("server offline (stream dropped)", offline),
      propagation("server online (reconnect + resume)", online),
    ],
    ["left", "right", "right", "right", "right", "right", "right"],
  );

  const deltaAtClients = median(serverChanges.flatMap((o) => o.receipts.map((r) => r.bytes)));
  const serverIds = new Set(serverIdx);
  const deltaAtServers = median(
    clientChanges.flatMap((o) =>
      o.receipts.filter((r) => serverIds.has(r.index)).map((r) => r.bytes),
    ),
  );
  const clientRatio = deltaAtClients / clientMap;
  const serverRatio = deltaAtServers / serverMap;
  printTable(
    "Bytes per change per node: the delta a peer received vs that peer's full map (anchor, sent in this run)",
    ["peer", "delta (median)", "full map (median)", "peers in map", "delta / full map"],
    [
      [
        "client, a server's endpoint change",
        `${deltaAtClients} B`,
        `${kib(clientMap)} KiB`,
        String(t.servers + t.groupSize - 1),
        `${(clientRatio * 100).toFixed(2)}%`,
      ],
      [
        "server, a client's endpoint change",
        `${deltaAtServers} B`,
        `${kib(serverMap)} KiB`,
        String(t.clients),
        `${(serverRatio * 100).toFixed(4)}%`,
      ],
    ],
    ["left", "right", "right", "right", "right"],
  );

  printTable(
    "Server memory (RSS after a forced GC, before the first node and with every node connected)",
    ["measure", "value"],
    [
      [
        "RSS before / after",
        `${(before.rss / 2 ** 20).toFixed(1)} / ${(after.rss / 2 ** 20).toFixed(1)} MiB`,
      ],
      ["RSS per connected node", `${kib(rssPerNode)} KiB`],
      ["JS heap per connected node", `${kib(heapPerNode)} KiB`],
    ],
    ["left", "right"],
  );

  const policyLast = policies.map((o) => Math.max(...o.receipts.map((r) => r.at - o.t0)));
  printTable(
    "Policy change: PUT /api/v1/policy (compile, store, recompute) until every node got its new filter",
    ["change", "nodes", "PUT answered", "every node has it"],
    policies.map((o, i) => [
      i === 0 ? "servers reach members on 22; one more server port" : "back to the first policy",
      String(o.receipts.length),
      `${ms(o.putMs)} ms`,
      `${ms(policyLast[i]!)} ms`,
    ]),
    ["left", "right", "right", "right"],
  );

  const serverP99 = percentile(
    serverChanges.flatMap((o) => o.receipts.map((r) => r.at - o.t0)),
    0.99,
  );
  printTable(
    `Targets (information only; never fail the run) at ${t.total} nodes`,
    ["metric", "measured", "target", ""],
    [
      [
        `a server's change reaches its ${t.clients} peers, p99`,
        `${ms(serverP99)} ms`,
        "<= 1000 ms at 10,000",
        verdict(-serverP99, -1000),
      ],
      [
        "delta vs full map (client)",
        `${(clientRatio * 100).toFixed(2)}%`,
        "<= 2%",
        verdict(-clientRatio, -0.02),
      ],
      [
        "server RSS per connected node",
        `${kib(rssPerNode)} KiB`,
        "<= 32 KiB",
        verdict(-rssPerNode, -32 * 1024),
      ],
      [
        "joins (SQLite)",
        `${formatRate(joinRate)} nodes/s`,
        ">= 500 nodes/s",
        verdict(joinRate, 500),
      ],
    ],
    ["left", "right", "left", "left"],
  );
  printTable(
    "For reference (reported by Headscale's users, not measured here)",
    ["Headscale", "what users report"],
    [
      [
        "issues #2491, #1014",
        "unusable at 300-600 nodes: CPU pinned recomputing every pair of nodes per change",
      ],
      ["issue #3165", "registrations taking ~7 s at ~650 nodes"],
    ],
    ["left", "left"],
  );
} catch (error) {
  problems.push(`the run stopped: ${(error as Error).stack ?? String(error)}`);
} finally {
  await rig.stop();
}

console.log(`\ncontrol bench: ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (problems.length > 0) {
  console.error(`control bench: FAILED (${problems.length} problems):`);
  for (const p of problems.slice(0, 30)) console.error(`  ${p}`);
  process.exit(1);
}
process.exit(0);
