// The load rig, as a benchmark or a test drives it: a control server child (control-server.ts)
// and `workers` simulated-node workers (sim-worker.ts), a topology (topology.ts) that says who
// must see whom, and the measurements built on them: join nodes, wait until every map holds the
// peers it should, and observe one change (an endpoint update, a drop, a reconnect, a policy
// PUT) from the moment it was made until every node that should have it has it. Nodes are
// spread over the workers round-robin (node i in worker i mod workers), so a group and the
// servers span processes.
//
// Several control servers (issue 18): with `databaseUrl` (PostgreSQL) and `controlServers` N,
// the rig starts N server children on that one database (the first seeds users, keys and the
// policy and is up before the others start) and node i starts on server i mod N; after a
// resumable close a node tries the servers in turn (sim-node.ts), so stopping one
// (stopControl) moves its nodes to the others.
//
// Relays (`relays` N): the rig starts N relay children (relay-server.ts) before the control
// servers, each verifying tokens with the public half of a token signing key the rig chose and
// the seeding server stores as the mesh's; the maps list those relays (so tokens name any
// relay, "*"). relay-rig.ts connects the nodes to them and measures forwarding.

import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RelayInfo } from "../../worker/control/types.ts";
import { ChildRpc } from "./child-rpc.ts";
import {
  type ControlServerReady,
  type ControlServerReply,
  type ControlServerRequest,
  type ControlServerSetup,
  type DbTally,
  epochNow,
  type JoinResult,
  type Receipt,
  type RelayServerReply,
  type RelayServerRequest,
  type WatchSpec,
  type WorkerReply,
  type WorkerRequest,
  type WorkerStats,
} from "./protocol.ts";
import { startRelays } from "./relay-rig.ts";
import {
  BASE_POLICY,
  groupOf,
  hostnameOf,
  isServer,
  peerCount,
  SERVER_TAG,
  type Topology,
  topology,
  viewersOf,
} from "./topology.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * CORRIDOR_LOAD_SERVER_CPU_PROF=DIR runs the server child under --cpu-prof, its profile
 * written into DIR when it exits (test/load/profile-summary.ts reads it): the server's own
 * share of a run, apart from the simulated clients that share the machine.
 */
function serverProfileArgs(): string[] {
  const dir = process.env.CORRIDOR_LOAD_SERVER_CPU_PROF;
  return dir === undefined || dir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

/** How to build a rig. */
export interface RigOptions {
  total: number;
  servers: number;
  groupSize: number;
  workers: number;
  /** Guard against a hang when waiting for a change or a settle (default 60 s). */
  hangAfterMs?: number;
  /** postgres://... for the servers (default: each its own SQLite file). */
  databaseUrl?: string;
  /** Control server children on `databaseUrl` (default 1; more needs PostgreSQL). */
  controlServers?: number;
  /** Server timers (keepalive, cluster heartbeat and catch-up, ms); default the server's. */
  timers?: { keepaliveMs?: number; heartbeatMs?: number; pollMs?: number };
  /** Relay children the maps list (default 0: one placeholder relay nobody runs). */
  relays?: number;
}

/** What one observed change came to. */
export interface Observed {
  /** When the change was made (epoch ms). */
  t0: number;
  /** The nodes that should have it, by the topology. */
  viewers: number[];
  /** The nodes that got it, with when and in how many bytes. */
  receipts: Receipt[];
  /** Correctness problems: a node that should have it did not (or the other way round). */
  problems: string[];
}

type Worker = ChildRpc<WorkerRequest, WorkerReply>;
type Server = ChildRpc<ControlServerRequest, ControlServerReply>;
type Relay = ChildRpc<RelayServerRequest, RelayServerReply>;

/** A running load rig. */
export class LoadRig {
  /** Node index → its id on the control server (after joining). */
  readonly ids = new Map<number, number>();
  private watchId = 0;

  private constructor(
    readonly topology: Topology,
    /** The control server children, in start order (the first seeded the database). */
    readonly servers: Server[],
    /** Their ready messages; only the first's keys are set. */
    readonly readies: ControlServerReady[],
    readonly workers: Worker[],
    readonly hangAfterMs: number,
    /** The relay children, and the relays as the maps list them (same order). */
    readonly relayServers: Relay[],
    readonly relays: RelayInfo[],
  ) {}

  /** The first (seeding) control server child. */
  get server(): Server {
    return this.servers[0]!;
  }

  /** The first server's ready message: the API key, the auth keys. */
  get ready(): ControlServerReady {
    return this.readies[0]!;
  }

  /** Starts the server children (the seeding one first) and the workers. */
  static async start(options: RigOptions): Promise<LoadRig> {
    const t = topology(options.total, options.servers, options.groupSize);
    const count = options.controlServers ?? 1;
    if (count > 1 && options.databaseUrl === undefined) {
      throw new RangeError("LoadRig: several control servers need a databaseUrl (PostgreSQL)");
    }
    const servers: Server[] = [];
    const readies: ControlServerReady[] = [];
    const workers: Worker[] = [];
    const relayServers: Relay[] = [];
    const relays: RelayInfo[] = [];
    const tokenSigningKey = randomBytes(32);
    try {
      await startRelays(options.relays ?? 0, tokenSigningKey, relayServers, relays);
      for (let k = 0; k < count; k++) {
        const setup: ControlServerSetup = {
          users: t.users,
          policy: BASE_POLICY,
          tagKey: [SERVER_TAG],
          seed: k === 0,
          ...(relays.length === 0
            ? {}
            : { relays, tokenSigningKey: tokenSigningKey.toString("base64") }),
          ...(options.databaseUrl === undefined
            ? {}
            : { databaseUrl: options.databaseUrl, serverId: `load-${k}` }),
          ...options.timers,
        };
        const started = await ChildRpc.start<
          ControlServerRequest,
          ControlServerReply,
          ControlServerReady
        >(
          join(here, "control-server.ts"),
          [JSON.stringify(setup)],
          count === 1 ? "control server" : `control server ${k}`,
          true,
          serverProfileArgs(),
        );
        servers.push(started.rpc);
        readies.push(started.ready);
      }
      const urls = JSON.stringify(readies.map((r) => r.controlUrl));
      for (let i = 0; i < options.workers; i++) {
        const started = await ChildRpc.start<WorkerRequest, WorkerReply, unknown>(
          join(here, "sim-worker.ts"),
          [urls],
          `sim worker ${i}`,
        );
        workers.push(started.rpc);
      }
    } catch (error) {
      for (const w of workers) await w.stop({ op: "exit" });
      for (const s of servers) await s.stop({ op: "exit" });
      for (const r of relayServers) await r.stop({ op: "exit" });
      throw error;
    }
    return new LoadRig(
      t,
      servers,
      readies,
      workers,
      options.hangAfterMs ?? 60_000,
      relayServers,
      relays,
    );
  }

  /** The control server node `index` joined (its first URL: index mod servers). */
  serverOf(index: number): number {
    return index % this.servers.length;
  }

  /** The worker that hosts node `index`. */
  workerOf(index: number): Worker {
    return this.workers[index % this.workers.length]!;
  }

  /**
   * Joins nodes `indices` (each worker its share, `concurrency` at once per worker); resolves
   * with every join that succeeded (failures are in the workers' errors).
   */
  async join(indices: number[], concurrency: number): Promise<JoinResult[]> {
    const t = this.topology;
    const shares = this.workers.map(() => [] as number[]);
    for (const i of indices) shares[i % this.workers.length]!.push(i);
    const replies = await Promise.all(
      this.workers.map((w, k) =>
        w.call({
          op: "join",
          concurrency,
          nodes: shares[k]!.map((index) => ({
            index,
            hostname: hostnameOf(t, index),
            authKey: isServer(t, index)
              ? this.ready.tagKey
              : this.ready.userKeys[groupOf(t, index)]!,
          })),
        }),
      ),
    );
    const results = replies.flatMap((r) => r.results);
    for (const r of results) this.ids.set(r.index, r.id);
    return results;
  }

  /**
   * Waits until every node's map holds the peers the topology gives it; resolves with the
   * nodes whose count is still wrong after the hang guard ([] when all are right).
   */
  async settle(): Promise<{ index: number; count: number; want: number }[]> {
    const t = this.topology;
    const replies = await Promise.all(
      this.workers.map((w, k) =>
        w.call({
          op: "settle",
          hangAfterMs: this.hangAfterMs,
          peers: [...this.ids.keys()]
            .filter((i) => i % this.workers.length === k)
            .map((index) => ({ index, count: peerCount(t, index) })),
        }),
      ),
    );
    return replies.flatMap((r) => r.wrong.map((w) => ({ ...w, want: peerCount(t, w.index) })));
  }

  /**
   * Arms a watch in every worker, makes the change (`trigger` resolves with when it was made),
   * and collects who got it. `viewers` are the nodes that must get it; `hangAfterMs` overrides
   * the rig's guard.
   */
  async observe(
    spec: WatchSpec,
    viewers: number[],
    trigger: () => Promise<number>,
    hangAfterMs = this.hangAfterMs,
  ): Promise<Observed> {
    const watch = ++this.watchId;
    const armed = await Promise.all(this.workers.map((w) => w.call({ op: "arm", watch, spec })));
    const expected = new Set(armed.flatMap((a) => a.expected));
    const problems: string[] = [];
    const want = new Set(viewers);
    const notHolding = viewers.filter((i) => !expected.has(i));
    const extra = [...expected].filter((i) => !want.has(i));
    if (notHolding.length > 0) {
      problems.push(
        `${notHolding.length} nodes that must see it did not hold the peer (e.g. node ${notHolding[0]})`,
      );
    }
    if (extra.length > 0) {
      problems.push(`${extra.length} nodes held the peer but must not (e.g. node ${extra[0]})`);
    }
    const t0 = await trigger();
    const collected = await Promise.all(
      this.workers.map((w) => w.call({ op: "collect", watch, hangAfterMs })),
    );
    const receipts = collected.flatMap((c) => c.receipts);
    const missing = collected.flatMap((c) => c.missing);
    if (missing.length > 0) {
      problems.push(
        `${missing.length} of ${expected.size} nodes never got it within ${hangAfterMs} ms (e.g. node ${missing[0]})`,
      );
    }
    return { t0, viewers, receipts, problems };
  }

  /** Node `index` reports new endpoints; observed at its viewers. */
  endpointChange(index: number, endpoints: string[]): Promise<Observed> {
    const peerId = this.idOf(index);
    return this.observe(
      { kind: "endpoints", peerId, endpoints },
      viewersOf(this.topology, index),
      async () => (await this.workerOf(index).call({ op: "update", index, endpoints })).at,
    );
  }

  /** Node `index` drops its stream; its viewers must see it go offline. */
  goOffline(index: number): Promise<Observed> {
    return this.observe(
      { kind: "online", peerId: this.idOf(index), online: false },
      viewersOf(this.topology, index),
      async () => (await this.workerOf(index).call({ op: "drop", index })).at,
    );
  }

  /** Node `index` reconnects and resumes; its viewers must see it online again. */
  comeOnline(index: number): Promise<Observed> {
    return this.observe(
      { kind: "online", peerId: this.idOf(index), online: true },
      viewersOf(this.topology, index),
      async () => {
        const reply = await this.workerOf(index).call({
          op: "rejoin",
          indices: [index],
          resume: true,
        });
        return reply.results[0]!.startedAt;
      },
    );
  }

  /**
   * PUTs a policy through the API (as the owner) of server `via`; every node must get a new
   * filter.
   */
  policyChange(text: string, via = 0): Promise<Observed & { putMs: number }> {
    let putMs = 0;
    return this.observe({ kind: "filter" }, [...this.ids.keys()], async () => {
      const t0 = epochNow();
      await this.putPolicy(text, via);
      putMs = epochNow() - t0;
      return t0;
    }).then((o) => ({ ...o, putMs }));
  }

  /** PUT /api/v1/policy; throws with the API's answer unless it is 200. */
  async putPolicy(text: string, via = 0): Promise<void> {
    const res = await fetch(`${this.readies[via]!.httpUrl}/api/v1/policy`, {
      method: "PUT",
      headers: { authorization: `Bearer ${this.ready.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (res.status !== 200)
      throw new Error(`PUT /api/v1/policy: ${res.status} ${await res.text()}`);
  }

  /** Reconnects nodes without resume (each gets a full map); sizes of those maps, in the order of `indices`. */
  async resync(
    indices: number[],
  ): Promise<{ index: number; bytes: number; peers: number; kind: string }[]> {
    const shares = this.workers.map(() => [] as number[]);
    for (const i of indices) shares[i % this.workers.length]!.push(i);
    const replies = await Promise.all(
      this.workers.map((w, k) =>
        shares[k]!.length === 0
          ? Promise.resolve({ results: [] })
          : w.call({ op: "rejoin", indices: shares[k]!, resume: false }),
      ),
    );
    // A worker answers in completion order; give them back in the order asked.
    return replies
      .flatMap((r) => r.results)
      .sort((a, b) => indices.indexOf(a.index) - indices.indexOf(b.index));
  }

  /**
   * Compares every joined node's peers with the topology's (the same set of ids, each online:
   * call it with every node connected); resolves with the differences ([] when all are right).
   */
  async checkMaps(): Promise<string[]> {
    const n = this.workers.length;
    const replies = await Promise.all(
      this.workers.map((w, k) =>
        w.call({ op: "peerSets", indices: [...this.ids.keys()].filter((i) => i % n === k) }),
      ),
    );
    const problems: string[] = [];
    for (const { index, ids, offline } of replies.flatMap((r) => r.sets)) {
      const want = new Set(
        viewersOf(this.topology, index).flatMap((i) => {
          const id = this.ids.get(i);
          return id === undefined ? [] : [id]; // a node that never joined (its failure is noted)
        }),
      );
      const got = new Set(ids);
      const missing = [...want].filter((id) => !got.has(id));
      const extra = ids.filter((id) => !want.has(id));
      if (missing.length > 0 || extra.length > 0) {
        problems.push(
          `node ${index}: ${missing.length} peers missing (e.g. id ${missing[0]}), ${extra.length} extra (e.g. id ${extra[0]})`,
        );
      }
      if (offline.length > 0) {
        problems.push(`node ${index}: ${offline.length} peers offline (e.g. id ${offline[0]})`);
      }
    }
    return problems;
  }

  /** Every worker's counters. */
  async stats(): Promise<WorkerStats[]> {
    return (await Promise.all(this.workers.map((w) => w.call({ op: "stats" })))).map(
      (r) => r.stats,
    );
  }

  /** Server `k`'s RSS and heap after a forced GC. */
  async serverMemory(k = 0): Promise<{ rss: number; heapUsed: number }> {
    return this.servers[k]!.call({ op: "rss" });
  }

  /** Server `k`'s attached streams and open connections. */
  async serverStats(k = 0): Promise<{ attached: number; connections: number }> {
    const { attached, connections } = await this.servers[k]!.call({ op: "stats" });
    return { attached, connections };
  }

  /** Server `k`'s database calls so far, by store operation. */
  async serverDb(k = 0): Promise<DbTally> {
    return (await this.servers[k]!.call({ op: "db" })).ops;
  }

  /**
   * Stops server `k` as an operator would (its streams closed with 1012, "come back"): its
   * nodes resume on the others. Resolves when the child has exited.
   */
  async stopServer(k: number): Promise<void> {
    await this.servers[k]!.stop({ op: "exit" }, 30_000);
    rmSync(this.readies[k]!.dataDir, { recursive: true, force: true });
  }

  /**
   * Stops the workers, then the servers (each removes its temp dir; so does this, for a server
   * that had to be killed: closing 10,000 streams can outlast the grace period), then the
   * relays.
   */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop({ op: "exit" })));
    for (let k = this.servers.length - 1; k >= 0; k--) await this.stopServer(k);
    await Promise.all(this.relayServers.map((r) => r.stop({ op: "exit" })));
  }

  private idOf(index: number): number {
    const id = this.ids.get(index);
    if (id === undefined) throw new Error(`node ${index} has not joined`);
    return id;
  }
}
