// Child process of the load rig: hosts many simulated nodes (sim-node.ts) against one control
// server, so that the load comes from several processes. argv[2] is the map stream's URL. The
// parent drives it over IPC (protocol.ts): join nodes, wait until their maps hold the peers the
// topology says, arm a watch for a change and collect who received it (and when, and in how
// many bytes), make a node send an update, drop or reconnect, and report counters and errors.
// Decoding is batched per event-loop turn (see sim-node.ts: receive times are stamped first).
// With relays (relay-plane.ts) its nodes also connect to their home relays and, for a sample of
// pairs, exchange packets through them.

import { initCrypto } from "../../worker/crypto/index.ts";
import type {
  JoinResult,
  NodeSpec,
  Receipt,
  Reconnected,
  WatchSpec,
  WorkerReply,
  WorkerRequest,
} from "./protocol.ts";
import { RelayPlane } from "./relay-plane.ts";
import { type Applied, SimNode } from "./sim-node.ts";

const urls = JSON.parse(process.argv[2] ?? "[]") as string[];
const core = await initCrypto();
const nodes = new Map<number, SimNode>();
const errors: string[] = [];
const MAX_ERRORS = 200;
let applied = 0;
const relayPlane = new RelayPlane(nodes, core, (text) => problem(text));

// ---- batched decoding ----

let queue: (() => void)[] = [];
let draining = false;
function defer(work: () => void): void {
  queue.push(work);
  if (draining) return;
  draining = true;
  setImmediate(() => {
    draining = false;
    const batch = queue;
    queue = [];
    for (const fn of batch) fn();
  });
}

// ---- watches ----

interface Watch {
  spec: WatchSpec;
  expected: Set<number>;
  receipts: Map<number, Receipt>;
  onProgress?: () => void;
}
const watches = new Map<number, Watch>();

function matches(spec: WatchSpec, { diff }: Applied): "yes" | "no" | "unexpected" {
  if (spec.kind === "filter") return diff.filterChanged ? "yes" : "no";
  if (diff.peersAdded.some((p) => p.id === spec.peerId)) return "unexpected";
  const change = diff.peersChanged.find((c) => c.after.id === spec.peerId);
  if (change === undefined) return "no";
  if (spec.kind === "online") return change.after.online === spec.online ? "yes" : "no";
  const got = change.after.endpoints;
  return got.length === spec.endpoints.length && got.every((e, i) => e === spec.endpoints[i])
    ? "yes"
    : "no";
}

// ---- settling ----

let settleCheck: (() => void) | undefined;

function onApplied(node: SimNode, event: Applied): void {
  applied++;
  for (const [id, watch] of watches) {
    if (watch.receipts.has(node.index)) continue;
    const verdict = matches(watch.spec, event);
    if (verdict === "no") continue;
    if (verdict === "unexpected" || !watch.expected.has(node.index)) {
      problem(
        `node ${node.index}: watch ${id} (${JSON.stringify(watch.spec)}) reached a node that did not hold the peer`,
      );
      continue;
    }
    watch.receipts.set(node.index, { index: node.index, at: event.at, bytes: event.bytes });
    watch.onProgress?.();
  }
  settleCheck?.();
}

function problem(text: string): void {
  if (errors.length < MAX_ERRORS) errors.push(text);
}

function node(index: number): SimNode {
  const found = nodes.get(index);
  if (found === undefined) throw new Error(`no node ${index} in this worker`);
  return found;
}

/** Runs `work` over `items` with at most `limit` at once. */
async function pool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      out.push(await work(item));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

async function join(specs: NodeSpec[], concurrency: number): Promise<JoinResult[]> {
  const results = await pool(specs, concurrency, async (spec) => {
    const sim = new SimNode({
      index: spec.index,
      urls,
      core,
      authKey: spec.authKey,
      hostname: spec.hostname,
      defer,
      onApplied,
      onError: (_, text) => problem(text),
    });
    nodes.set(spec.index, sim);
    try {
      const first = await sim.connect();
      return {
        index: spec.index,
        id: sim.id,
        startedAt: first.startedAt,
        mappedAt: first.at,
        mapBytes: first.bytes,
        peers: sim.map.peers.size,
      };
    } catch (error) {
      problem(`node ${spec.index}: join failed: ${(error as Error).message}`);
      return undefined;
    }
  });
  return results.filter((r): r is JoinResult => r !== undefined);
}

function settle(
  want: { index: number; count: number }[],
  hangAfterMs: number,
): Promise<{ index: number; count: number }[]> {
  const wrong = () =>
    want
      .map(({ index }) => ({ index, count: nodes.get(index)?.map.peers.size ?? -1 }))
      .filter((got, i) => got.count !== want[i]!.count);
  return new Promise((resolve) => {
    const finish = () => {
      settleCheck = undefined;
      clearTimeout(timer);
      resolve(wrong());
    };
    const timer = setTimeout(finish, hangAfterMs);
    settleCheck = () => {
      if (wrong().length === 0) finish();
    };
    settleCheck();
  });
}

function arm(id: number, spec: WatchSpec): number[] {
  const expected = new Set<number>();
  for (const [index, sim] of nodes) {
    if (!sim.connected || !sim.map.ready) continue;
    if (spec.kind === "filter" || sim.map.peerById(spec.peerId) !== undefined) expected.add(index);
  }
  watches.set(id, { spec, expected, receipts: new Map() });
  return [...expected];
}

function collect(
  id: number,
  hangAfterMs: number,
): Promise<{ receipts: Receipt[]; missing: number[] }> {
  const watch = watches.get(id);
  if (watch === undefined) throw new Error(`no watch ${id}`);
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      watches.delete(id);
      const missing = [...watch.expected].filter((i) => !watch.receipts.has(i));
      resolve({ receipts: [...watch.receipts.values()], missing });
    };
    const timer = setTimeout(finish, hangAfterMs);
    watch.onProgress = () => {
      if (watch.receipts.size >= watch.expected.size) finish();
    };
    watch.onProgress();
  });
}

async function rejoin(indices: number[], resume: boolean): Promise<Reconnected[]> {
  return pool(indices, 16, async (index) => {
    const sim = node(index);
    if (sim.connected) sim.drop();
    const first = await sim.connect(resume);
    return {
      index,
      startedAt: first.startedAt,
      kind: first.kind,
      bytes: first.bytes,
      peers: sim.map.peers.size,
    };
  });
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  const id = request.id;
  switch (request.op) {
    case "join":
      return { id, ok: true, op: "join", results: await join(request.nodes, request.concurrency) };
    case "settle":
      return {
        id,
        ok: true,
        op: "settle",
        wrong: await settle(request.peers, request.hangAfterMs),
      };
    case "peers":
      return { id, ok: true, op: "peers", ids: [...node(request.index).map.peers.keys()] };
    case "peerSets":
      return {
        id,
        ok: true,
        op: "peerSets",
        sets: request.indices.map((index) => {
          const peers = [...node(index).map.peers.values()];
          return {
            index,
            ids: peers.map((p) => p.id),
            offline: peers.filter((p) => !p.online).map((p) => p.id),
          };
        }),
      };
    case "arm":
      return { id, ok: true, op: "arm", expected: arm(request.watch, request.spec) };
    case "collect":
      return {
        id,
        ok: true,
        op: "collect",
        ...(await collect(request.watch, request.hangAfterMs)),
      };
    case "update":
      return {
        id,
        ok: true,
        op: "update",
        at: node(request.index).update({ endpoints: request.endpoints }),
      };
    case "drop":
      return { id, ok: true, op: "drop", at: node(request.index).drop() };
    case "rejoin":
      return { id, ok: true, op: "rejoin", results: await rejoin(request.indices, request.resume) };
    case "stats": {
      let resumed = 0;
      let fullMaps = 0;
      let deltaResumes = 0;
      const onUrl = urls.map(() => 0);
      for (const sim of nodes.values()) {
        resumed += sim.resumed;
        fullMaps += sim.fullMaps;
        deltaResumes += sim.deltaResumes;
        if (sim.connected) onUrl[sim.urlAt]!++;
      }
      const stats = {
        nodes: nodes.size,
        applied,
        resumedAfterClose: resumed,
        fullMaps,
        deltaResumes,
        onUrl,
        errors: [...errors],
        rss: process.memoryUsage().rss,
      };
      return { id, ok: true, op: "stats", stats };
    }
    case "relayConnect": {
      const linked = await relayPlane.connect(request.indices, request.relays, request.concurrency);
      const homes = await relayPlane.homesKnown(request.hangAfterMs);
      return {
        id,
        ok: true,
        op: "relayConnect",
        ...linked,
        homesAt: homes.at,
        homesMissing: homes.missing,
      };
    }
    case "relayPing":
      return {
        id,
        ok: true,
        op: "relayPing",
        sample: await relayPlane.sample(
          request.pairs,
          request.pings,
          request.burst,
          request.packetBytes,
          request.hangAfterMs,
        ),
      };
    case "exit":
      relayPlane.close();
      for (const sim of nodes.values()) sim.terminate();
      return { id, ok: true, op: "exit" };
  }
}

process.on("message", (raw) => {
  const request = raw as WorkerRequest;
  handle(request).then(
    (reply) => {
      process.send?.(reply);
      if (request.op === "exit") {
        process.disconnect?.();
        process.exit(0);
      }
    },
    (error: unknown) =>
      process.send?.({
        id: request.id,
        ok: false,
        error: (error as Error).message,
      } satisfies WorkerReply),
  );
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready", pid: process.pid });
