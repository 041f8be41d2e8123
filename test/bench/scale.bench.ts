// Scale-out benchmark (`npm run bench:scale`, issue 18). N simulated nodes (10,000 x
// BENCH_SCALE, at least 200, capped by the open-file limit, which this raises to the hard limit
// first) over two control servers on one PostgreSQL (a throwaway cluster from
// test/helpers/postgres.ts), node i on server i mod 2, from 4 worker processes (test/load/);
// then the same N on one control server on a SQLite file (bench:control's setup) as the anchor.
// The mesh is bench:control's company shape: 10 tagged servers every member reaches, clients in
// groups of 20.
//
// Measured in each run: join time (first connection until every node joined and every map held
// its peers) and rate; change fan-out, a tagged node's endpoint change (half made on each
// control server) until every peer that must have it got it, p50/p99 over (change, peer) pairs,
// split into peers on the server where the change was made and on the other one; a policy PUT
// (through each server in turn) until every node on both got its new filter; server RSS per
// connected node (growth after a forced GC / the nodes it holds). On PostgreSQL also database
// transactions per change: pg_stat_database.xact_commit (pg_stat_statements is not loaded by
// default) over a window with the changes minus an idle window of the same length, each read
// after the backends flushed their counters (up to 10 s late when idle); a transaction may hold
// several statements. An endpoint change is volatile (it travels as a notification, no row), so
// expect about one; the servers' own polling makes the count noisy by a few.
//
// While nodes join, progress lines (stderr) say where registration's time goes: what
// PostgreSQL's busy backends wait on (sampleWaits) and, per server, the database calls per node
// joined with their mean times (the rig servers' instrumented store, dbSummary).
//
// Relays: each run has two relay children (test/load/relay-server.ts) that verify the control
// servers' tokens. After the changes every node connects to its home relay (node i to relay
// i mod 2) with the real relay hello and its map's token and reports it as homeRelay; measured:
// the time until every node was welcomed, then (the reports made once all were welcomed) until
// every map held every peer's home relay (the reports' fan-out; a map still missing one after
// the hang guard fails the run), relay RSS per connection (growth after a forced GC /
// clients), and forwarding with all nodes connected: 200 pairs (a client and a node of its
// group, half with the same home relay, half across relays: the sender connects to the
// receiver's home relay, found in its map, as the data plane does) send 20 pings of 64 bytes
// each (round trip: sender, relay, receiver, the same relay, sender; all pairs at once, 20 ms
// apart) and then a burst of 100 packets of 1200 bytes each (all pairs at once; packets/s and
// MB/s over the bursts' wall time). bench:relay measures a relay alone in depth.
//
// Timing never fails the run; a node that cannot connect to its relay or a lost packet in the
// sample does, as a lost change (a node that never gets one it must, or gets one it must not), a
// wrong final peer set (compared with the topology), a sequence gap or any protocol error does
// (exit 1).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import pg from "pg";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { type DbTally, epochNow } from "../load/protocol.ts";
import { LoadRig, type Observed } from "../load/rig.ts";
import { BASE_POLICY, CHANGED_POLICY } from "../load/topology.ts";
import { formatRate, printTable, timeScale } from "./harness.ts";
import { measureRelays, RELAYS, type RelayResult, relayRows } from "./scale-relays.ts";

const TAGGED = 10;
const GROUP = 20;
const WORKERS = 4;
const JOIN_CONCURRENCY = 32;
const CHANGES = 6;
/** pg_stat_database lags an idle backend's commits by up to PGSTAT_IDLE_INTERVAL (10 s). */
const STATS_FLUSH_MS = 11_000;
const COUNT_WINDOW_MS = 4_000;
// The transaction count waits ~41 s for PostgreSQL's counters; CI, which only needs the run to
// pass its checks, skips it (BENCH_COUNT_TX=1 asks for it anyway).
const COUNT_TX = process.env.CI !== "true" || process.env.BENCH_COUNT_TX === "1";
const started = performance.now();
const problems: string[] = [];

function fileLimits(): { soft?: number; hard?: number } {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const [, soft, hard] = line?.split(/\s{2,}/) ?? [];
    const num = (v?: string) => (v === undefined || v === "unlimited" ? undefined : Number(v));
    return { soft: num(soft), hard: num(hard) };
  } catch {
    return {};
  }
}

// Node has no setrlimit: run again under a shell that raised the soft limit to the hard one
// (the children inherit it).
const limits = fileLimits();
if (
  limits.soft !== undefined &&
  (limits.hard === undefined || limits.hard > limits.soft) &&
  process.env.CORRIDOR_SCALE_NOFILE === undefined
) {
  const raised = spawnSync(
    "sh",
    [
      "-c",
      `ulimit -n ${limits.hard ?? "unlimited"} 2>/dev/null; exec "$@"`,
      "sh",
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: "inherit", env: { ...process.env, CORRIDOR_SCALE_NOFILE: "1" } },
  );
  process.exit(raised.status ?? 1);
}

// Without Debian's PostgreSQL there is nothing to scale out on: say so (fail in CI, where it
// must be installed).
const pgNeed = postgresPrereq();
if (!pgNeed.ok) {
  console.log(`scale bench: skipped: ${pgNeed.reason}`);
  process.exit(pgNeed.fail ? 1 : 0);
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "-");
const kib = (b: number) => (Number.isFinite(b) ? (b / 1024).toFixed(1) : "-");
/** Progress on stderr (a run takes minutes at full scale). */
const progress = (text: string) =>
  console.error(`scale bench: ${((performance.now() - started) / 1000).toFixed(1)} s: ${text}`);
const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

const wanted = Math.max(200, Math.round(10_000 * timeScale));
// A server holds one socket per node (its own process, the same limit); keep a margin.
const total = limits.soft === undefined ? wanted : Math.min(wanted, limits.soft - 512);

/** What one run (one topology, one or two control servers) came to. */
interface RunResult {
  joinSeconds: number;
  /** Per server: nodes held and RSS growth per node. */
  perServer: { nodes: number; rssPerNode: number }[];
  same: number[];
  other: number[];
  /** Time until the last peer, per change. */
  lasts: number[];
  policyLasts: number[];
  policyPerNode: number[];
  /** Database transactions per endpoint change, and in the idle window (PostgreSQL only). */
  txPerChange?: number;
  idleTx?: number;
  resumed: number;
  relay?: RelayResult;
}

async function run(label: string, databaseUrl: string | undefined): Promise<RunResult | undefined> {
  const servers = databaseUrl === undefined ? 1 : 2;
  const rig = await LoadRig.start({
    total,
    servers: TAGGED,
    groupSize: GROUP,
    workers: WORKERS,
    hangAfterMs: 30_000,
    relays: RELAYS,
    ...(databaseUrl === undefined ? {} : { databaseUrl, controlServers: servers }),
  });
  const t = rig.topology;
  const note = (what: string, list: string[]) => {
    for (const p of list) problems.push(`${label}: ${what}: ${p}`);
  };
  const db =
    databaseUrl === undefined ? undefined : new pg.Client({ connectionString: databaseUrl });
  await db?.connect();
  const commits = async (): Promise<number> => {
    const r = await db!.query<{ n: string }>(
      "SELECT sum(xact_commit)::text AS n FROM pg_stat_database WHERE datname = current_database()",
    );
    return Number(r.rows[0]!.n);
  };
  try {
    const before = await Promise.all(rig.servers.map((_, k) => rig.serverMemory(k)));
    const waits = db === undefined ? undefined : sampleWaits(databaseUrl!);
    const dbBefore = await Promise.all(rig.servers.map((_, k) => rig.serverDb(k)));
    const t0 = epochNow();
    const tagged = await rig.join(
      Array.from({ length: t.servers }, (_, i) => i),
      4,
    );
    const clients = await rig.join(
      Array.from({ length: t.clients }, (_, i) => t.servers + i),
      JOIN_CONCURRENCY,
    );
    progress(`${label}: ${tagged.length + clients.length} joined`);
    if (waits !== undefined) progress(`${label}: while joining, ${await waits.stop()}`);
    for (const [k, b] of dbBefore.entries()) {
      const joined = (await rig.serverStats(k)).attached;
      progress(
        `${label}: server ${k}, database while joining: ${dbSummary(b, await rig.serverDb(k), joined)}`,
      );
    }
    if (tagged.length + clients.length !== t.total) {
      problems.push(`${label}: ${t.total - tagged.length - clients.length} nodes failed to join`);
    }
    const wrong = await rig.settle();
    const joinSeconds = (epochNow() - t0) / 1000;
    progress(`${label}: settled in ${joinSeconds.toFixed(1)} s`);
    if (wrong.length > 0) {
      const w = wrong[0]!;
      problems.push(
        `${label}: ${wrong.length} maps wrong after joining (node ${w.index}: ${w.count} peers, want ${w.want})`,
      );
    }
    const perServer = await Promise.all(
      rig.servers.map(async (_, k) => {
        const after = await rig.serverMemory(k);
        const nodes = (await rig.serverStats(k)).attached;
        return { nodes, rssPerNode: (after.rss - before[k]!.rss) / nodes };
      }),
    );

    // Idle window for the transaction count, once the joins' commits are flushed.
    let idleTx = 0;
    if (db !== undefined && COUNT_TX) {
      await sleep(STATS_FLUSH_MS);
      const x0 = await commits();
      await sleep(COUNT_WINDOW_MS + STATS_FLUSH_MS);
      idleTx = (await commits()) - x0;
    }
    const x1 = db === undefined || !COUNT_TX ? 0 : await commits();
    const windowStart = performance.now();
    const changes: Observed[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const o = await rig.endpointChange(k % t.servers, [`198.51.100.${k + 1}:41641`]);
      note(`endpoint change of tagged node ${k}`, o.problems);
      changes.push(o);
    }
    let txPerChange: number | undefined;
    if (db !== undefined && COUNT_TX) {
      await sleep(Math.max(0, COUNT_WINDOW_MS - (performance.now() - windowStart)));
      await sleep(STATS_FLUSH_MS);
      txPerChange = ((await commits()) - x1 - idleTx) / CHANGES;
    }
    progress(`${label}: ${CHANGES} changes observed`);
    const same: number[] = [];
    const other: number[] = [];
    for (const [k, o] of changes.entries()) {
      const origin = rig.serverOf(k % t.servers);
      for (const r of o.receipts)
        (rig.serverOf(r.index) === origin ? same : other).push(r.at - o.t0);
    }
    const lasts = changes.map((o) => Math.max(...o.receipts.map((r) => r.at - o.t0)));

    const policyLasts: number[] = [];
    const policyPerNode: number[] = [];
    for (const [i, text] of [CHANGED_POLICY, BASE_POLICY].entries()) {
      const o = await rig.policyChange(text, i % servers);
      note(`policy through server ${i % servers}`, o.problems);
      policyLasts.push(Math.max(...o.receipts.map((r) => r.at - o.t0)));
      policyPerNode.push(...o.receipts.map((r) => r.at - o.t0));
    }

    const relay = await measureRelays(rig, label, {
      problem: (p) => problems.push(`${label}: ${p}`),
      progress,
    });

    const stats = await rig.stats();
    note(
      "worker",
      stats.flatMap((s) => s.errors),
    );
    note("final maps", (await rig.checkMaps()).slice(0, 20));
    const resumed = stats.reduce((n, s) => n + s.resumedAfterClose, 0);
    return {
      joinSeconds,
      perServer,
      same,
      other,
      lasts,
      policyLasts,
      policyPerNode,
      resumed,
      ...(relay === undefined ? {} : { relay }),
      ...(txPerChange === undefined ? {} : { txPerChange, idleTx }),
    };
  } catch (error) {
    problems.push(`${label}: the run stopped: ${(error as Error).stack ?? String(error)}`);
    return undefined;
  } finally {
    await db?.end();
    await rig.stop();
  }
}

/**
 * Samples pg_stat_activity every 50 ms until stopped: what the busy backends wait on while nodes
 * join (a lock, the client: "idle in transaction", or nothing: "CPU"), as backends per sample,
 * and which statements the lock waits are in. Where a PostgreSQL registration spends its time.
 */
function sampleWaits(url: string): { stop(): Promise<string> } {
  const client = new pg.Client({ connectionString: url });
  const counts = new Map<string, number>();
  let samples = 0;
  let running = true;
  // A failed sample ends the sampling, not the run (stop says so).
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ w: string; q: string }>(
        `SELECT CASE WHEN state <> 'active' THEN state
             ELSE coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') END AS w,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 48) AS q
         FROM pg_stat_activity
         WHERE state <> 'idle' AND pid <> pg_backend_pid() AND datname = current_database()
           AND query NOT LIKE 'LISTEN%'`,
      );
      samples++;
      for (const r of rows) {
        const key = r.w.startsWith("Lock:") ? `${r.w} in "${r.q}"` : r.w;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      await sleep(50);
    }
  })().then(
    () => "",
    (error: unknown) => ` (sampling stopped: ${String(error)})`,
  );
  return {
    async stop() {
      running = false;
      const failed = await loop;
      await client.end().catch(() => {});
      const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 6);
      const shown = top.map(([k, n]) => `${k} ${(n / Math.max(1, samples)).toFixed(2)}`);
      return `busy backends per sample by wait (${samples} samples${failed}): ${shown.join("; ") || "none"}`;
    },
  };
}

/**
 * A server's database calls between two tallies per node it joined: calls, and the
 * transactions' mean time (BEGIN to COMMIT, registration's) with the calls taking most time.
 */
function dbSummary(before: DbTally, after: DbTally, joined: number): string {
  const diff = Object.entries(after).map(([op, a]) => {
    const b = before[op] ?? { calls: 0, seconds: 0, errors: 0 };
    return {
      op,
      calls: a.calls - b.calls,
      seconds: a.seconds - b.seconds,
      errors: a.errors - b.errors,
    };
  });
  const calls = diff.reduce((n, d) => n + (d.op === "transaction" ? 0 : d.calls), 0);
  const tx = diff.find((d) => d.op === "transaction");
  const top = diff
    .filter((d) => d.op !== "transaction" && d.calls > 0)
    .sort((x, y) => y.seconds - x.seconds)
    .slice(0, 6)
    .map(
      (d) =>
        `${d.op} ${d.calls} x ${((1000 * d.seconds) / d.calls).toFixed(1)} ms${d.errors > 0 ? ` (${d.errors} failed)` : ""}`,
    );
  const txText =
    tx === undefined || tx.calls === 0
      ? "no transactions"
      : `${tx.calls} transactions, mean ${((1000 * tx.seconds) / tx.calls).toFixed(1)} ms`;
  return `${joined} nodes, ${(calls / Math.max(1, joined)).toFixed(1)} calls per node; ${txText}; most time: ${top.join(", ")}`;
}

let cluster: PgCluster | undefined;
let multi: RunResult | undefined;
let single: RunResult | undefined;
try {
  cluster = await startPostgres();
  multi = await run("two servers", await cluster.createDatabase("scale_bench"));
  await cluster.stop();
  cluster = undefined;
  single = await run("one server", undefined);
} catch (error) {
  problems.push(`the bench stopped: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cluster?.stop();
}

if (multi !== undefined && single !== undefined) {
  const m = multi;
  const s = single;
  const all = (r: RunResult) => [...r.same, ...r.other];
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "-");
  const row = (name: string, a: number, b: number, fmt: (v: number) => string): string[] => [
    name,
    fmt(a),
    fmt(b),
    ratio(a, b),
  ];
  const msf = (v: number) => `${ms(v)} ms`;
  const rate = (r: RunResult) => total / r.joinSeconds;
  const rssRow = (k: number) => m.perServer[k]?.rssPerNode ?? Number.NaN;
  printTable(
    `Scale-out: ${total} nodes (wanted ${wanted} = 10,000 x BENCH_SCALE; open-file limit ${limits.soft ?? "unlimited"}), ${TAGGED} tagged, groups of ${GROUP}, ${WORKERS} worker processes; two servers on one PostgreSQL vs one server on SQLite`,
    ["measure", "two servers (PostgreSQL)", "one server (SQLite)", "ratio"],
    [
      row(
        "join: all joined, every map complete",
        m.joinSeconds,
        s.joinSeconds,
        (v) => `${v.toFixed(2)} s`,
      ),
      row("join rate", rate(m), rate(s), (v) => `${formatRate(v)} nodes/s`),
      row("fan-out p50, every peer", percentile(all(m), 0.5), percentile(all(s), 0.5), msf),
      row("fan-out p99, every peer", percentile(all(m), 0.99), percentile(all(s), 0.99), msf),
      row(
        "fan-out p50, peers on the same server",
        percentile(m.same, 0.5),
        percentile(s.same, 0.5),
        msf,
      ),
      row(
        "fan-out p99, peers on the same server",
        percentile(m.same, 0.99),
        percentile(s.same, 0.99),
        msf,
      ),
      row(
        "fan-out p50, peers on the other server",
        percentile(m.other, 0.5),
        percentile(s.same, 0.5),
        msf,
      ),
      row(
        "fan-out p99, peers on the other server",
        percentile(m.other, 0.99),
        percentile(s.same, 0.99),
        msf,
      ),
      row("fan-out, last peer (max over changes)", Math.max(...m.lasts), Math.max(...s.lasts), msf),
      row(
        "policy PUT until every node has its filter (max)",
        Math.max(...m.policyLasts),
        Math.max(...s.policyLasts),
        msf,
      ),
      row(
        "policy PUT, p99 over nodes",
        percentile(m.policyPerNode, 0.99),
        percentile(s.policyPerNode, 0.99),
        msf,
      ),
      [
        "database transactions per change (xact_commit)",
        m.txPerChange === undefined
          ? COUNT_TX
            ? "-"
            : "not counted (CI; BENCH_COUNT_TX=1)"
          : `${m.txPerChange.toFixed(1)} (idle window: ${m.idleTx} in ${(COUNT_WINDOW_MS + STATS_FLUSH_MS) / 1000} s)`,
        "- (SQLite, in process)",
        "",
      ],
      row(
        `RSS per connected node, server A (${m.perServer[0]?.nodes} nodes)`,
        rssRow(0),
        s.perServer[0]!.rssPerNode,
        (v) => `${kib(v)} KiB`,
      ),
      row(
        `RSS per connected node, server B (${m.perServer[1]?.nodes} nodes)`,
        rssRow(1),
        s.perServer[0]!.rssPerNode,
        (v) => `${kib(v)} KiB`,
      ),
      ["streams closed by a server and resumed", String(m.resumed), String(s.resumed), ""],
      ...relayRows(m.relay, s.relay, row),
    ],
    ["left", "right", "right", "right"],
  );
  const crossP99 = percentile(m.other, 0.99);
  const singleP99 = percentile(all(s), 0.99);
  const budget = 60 * (total / 10_000);
  console.log("");
  console.log(
    `cross-server fan-out p99 <= 1.5x single-server: ${crossP99 <= 1.5 * singleP99 ? "PASS" : "MISS"} (${ms(crossP99)} vs ${ms(singleP99)} ms, ${ratio(crossP99, singleP99)})`,
  );
  console.log(
    `10,000 nodes joined in <= 60 s: ${m.joinSeconds <= budget ? "PASS" : "MISS"} (scaled: N = ${total}, ${m.joinSeconds.toFixed(2)} s against ${budget.toFixed(1)} s = 60 s x N / 10,000)`,
  );
}
console.log(`no error and no lost change: ${problems.length === 0 ? "PASS" : "MISS"}`);
console.log(`\nscale bench: ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (problems.length > 0) {
  console.error(`scale bench: FAILED (${problems.length} problems):`);
  for (const p of problems.slice(0, 30)) console.error(`  ${p}`);
  process.exit(1);
}
process.exit(0);
