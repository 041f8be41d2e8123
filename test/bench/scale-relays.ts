// bench:scale's relay part (scale.bench.ts, issue 18): with the rig's two relays, every node
// connects to its home relay and reports it, then a sample of pairs measures forwarding with all
// nodes connected (test/load/relay-rig.ts); and the rows it adds to the bench's table.

import { connectRelays, relayForwarding, relayMemory, relayPairs } from "../load/relay-rig.ts";
import type { LoadRig } from "../load/rig.ts";
import { formatRate } from "./harness.ts";

/** Relays per run (node i's home is relay i mod RELAYS). */
export const RELAYS = 2;
/** Relay hellos in flight per worker. */
const RELAY_CONCURRENCY = 64;
const RELAY_PAIRS = 200;
/** Per pair: round trips of 64-byte packets, then a burst of packets of `packetBytes`. */
export const RELAY_SAMPLE = { pings: 20, burst: 100, packetBytes: 1200 };

/** What one run's relay part came to. */
export interface RelayResult {
  connected: number;
  /**
   * Until every node was welcomed by its home relay; from the nodes' homeRelay reports (made
   * once they were welcomed) until every map held every peer's home.
   */
  connectSeconds: number;
  homesSeconds: number;
  /** Per relay: clients after the connect and RSS growth per client. */
  perRelay: { clients: number; rssPerClient: number }[];
  pairs: number;
  crossed: number;
  rtts: number[];
  packets: number;
  bytes: number;
  burstSeconds: number;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}

/**
 * Connects every node to its home relay and runs the forwarding sample; connection failures,
 * maps without their peers' homes and lost packets go to `problem`.
 */
export async function measureRelays(
  rig: LoadRig,
  label: string,
  report: { problem: (text: string) => void; progress: (text: string) => void },
): Promise<RelayResult> {
  const { problem, progress } = report;
  const before = await relayMemory(rig);
  const linked = await connectRelays(rig, RELAY_CONCURRENCY);
  progress(
    `${label}: ${linked.connected} nodes welcomed by their home relays in ${linked.seconds.toFixed(1)} s; every map held its peers' homes ${linked.homesSeconds.toFixed(1)} s after the reports`,
  );
  for (const f of linked.failed.slice(0, 20)) problem(`relay connect: ${f}`);
  if (linked.failed.length > 20) problem(`relay connect: ${linked.failed.length - 20} more failed`);
  for (const f of linked.homesMissing.slice(0, 20)) problem(`home relays: ${f}`);
  const after = await relayMemory(rig);
  const perRelay = after.map((a, k) => ({
    clients: a.clients,
    rssPerClient: (a.rss - before[k]!.rss) / Math.max(1, a.clients - before[k]!.clients),
  }));
  const pairs = relayPairs(rig, RELAY_PAIRS);
  const fwd = await relayForwarding(rig, pairs, RELAY_SAMPLE);
  progress(
    `${label}: relay sample: ${fwd.pairs} pairs (${fwd.crossed} across relays), ${fwd.rtts.length} round trips, ${fwd.packets} burst packets in ${fwd.burstSeconds.toFixed(2)} s`,
  );
  for (const p of fwd.problems.slice(0, 20)) problem(`relay sample: ${p}`);
  const want = fwd.pairs * RELAY_SAMPLE.burst;
  if (fwd.problems.length === 0 && fwd.packets !== want)
    problem(`relay sample: ${want - fwd.packets} of ${want} burst packets lost`);
  return {
    connected: linked.connected,
    connectSeconds: linked.seconds,
    homesSeconds: linked.homesSeconds,
    perRelay,
    pairs: fwd.pairs,
    crossed: fwd.crossed,
    rtts: fwd.rtts,
    packets: fwd.packets,
    bytes: fwd.bytes,
    burstSeconds: fwd.burstSeconds,
  };
}

/** The table's relay rows: `a` beside `b` (both runs ran the same relays and sample). */
export function relayRows(
  a: RelayResult | undefined,
  b: RelayResult | undefined,
  row: (name: string, a: number, b: number, fmt: (v: number) => string) => string[],
): string[][] {
  if (a === undefined || b === undefined) return [["relays", "-", "-", ""]];
  const { pings, burst, packetBytes } = RELAY_SAMPLE;
  const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : "-");
  const s = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} s` : "-");
  const kib = (v: number) => (Number.isFinite(v) ? `${(v / 1024).toFixed(1)} KiB` : "-");
  const pps = (r: RelayResult) => r.packets / r.burstSeconds;
  const mbps = (r: RelayResult) => r.bytes / r.burstSeconds / 1e6;
  return [
    row(
      `relay connect: ${a.connected} / ${b.connected} nodes welcomed by their home relay (of ${RELAYS})`,
      a.connectSeconds,
      b.connectSeconds,
      s,
    ),
    row(
      "relay homes: homeRelay reports until every map holds every peer's",
      a.homesSeconds,
      b.homesSeconds,
      s,
    ),
    row(
      `relay forwarding: RTT p50 with ${a.connected} / ${b.connected} connected (${a.pairs} pairs, ${a.crossed} across relays, ${pings} x 64 B)`,
      percentile(a.rtts, 0.5),
      percentile(b.rtts, 0.5),
      ms,
    ),
    row("relay forwarding: RTT p99", percentile(a.rtts, 0.99), percentile(b.rtts, 0.99), ms),
    row(
      `relay forwarding: burst, ${a.pairs} pairs x ${burst} x ${packetBytes} B at once`,
      pps(a),
      pps(b),
      (v) => `${formatRate(v)} packets/s`,
    ),
    row("relay forwarding: burst throughput", mbps(a), mbps(b), (v) =>
      Number.isFinite(v) ? `${v.toFixed(1)} MB/s` : "-",
    ),
    ...a.perRelay.map((r, k) =>
      row(
        `relay RSS per connection, relay ${k} (${r.clients} / ${b.perRelay[k]?.clients} clients)`,
        r.rssPerClient,
        b.perRelay[k]?.rssPerClient ?? Number.NaN,
        kib,
      ),
    ),
  ];
}
