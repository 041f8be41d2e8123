// The operations metrics (docs/control.md, "Metrics"): database calls counted and timed by
// store operation (store/instrumented.ts, every Store and StoreTx method through one Proxy),
// the fan-out latency from MeshChanges to the outboxes, and the outbox depth gauges sampled at
// scrape; `corridor control`'s /metrics shows them.

import { afterEach, describe, expect, it } from "vitest";
import { startControlServer } from "../../server/control/http.ts";
import { ControlMetrics } from "../../server/control/metrics.ts";
import { instrumentStore, StoreMetrics } from "../../server/control/store/instrumented.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store } from "../../server/control/store/types.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import { createLogger } from "../../server/relay/index.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

const user = {
  issuer: "corridor:local",
  subject: "s",
  email: "s@example.com",
  name: "S",
  role: "member" as const,
  lastLoginAt: null,
};

describe("the instrumented store", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("counts and times every call by method name, inside transactions too, and errors apart", async () => {
    store = await openSqliteStore(":memory:");
    const metrics = new MetricsRegistry({ processMetrics: false });
    const db = instrumentStore(store, new StoreMetrics(metrics));
    expect(db.kind).toBe("sqlite");
    const made = await db.createUser(user);
    await db.userById(made.id);
    await db.userById(made.id);
    await db.ping();
    await db.transaction(async (tx) => {
      await tx.listUsers();
      await tx.updateUser(made.id, { name: "T" });
    });
    await expect(db.createUser(user)).rejects.toThrow(); // the same identity: a conflict
    await expect(
      db.transaction(async () => {
        throw new Error("work failed");
      }),
    ).rejects.toThrow("work failed");

    const calls = async (op: string, result = "ok") =>
      metrics.value("corridor_control_db_calls_total", { op, result });
    expect(await calls("userById")).toBe(2);
    expect(await calls("ping")).toBe(1);
    expect(await calls("createUser")).toBe(1);
    expect(await calls("createUser", "error")).toBe(1);
    expect(await calls("listUsers")).toBe(1);
    expect(await calls("updateUser")).toBe(1);
    expect(await calls("transaction")).toBe(1);
    expect(await calls("transaction", "error")).toBe(1);
    expect(await metrics.value("corridor_control_db_call_seconds_count", { op: "userById" })).toBe(
      2,
    );
    const sum = await metrics.value("corridor_control_db_call_seconds_sum", { op: "transaction" });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(10);
    // The write went through: the wrapper calls the store's own methods.
    expect((await store.userById(made.id))?.name).toBe("T");
  });
});

describe("fan-out and outbox metrics on the map side", () => {
  let h: Harness | undefined;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) node.close();
    await h?.close();
    h = undefined;
  });

  it("a committed change is timed until its deltas are queued; the outboxes hold it until sent", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    h = await startHarness({ metrics, keepaliveMs: 3600_000 });
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const a = await RawNode.create(h);
    const b = await RawNode.create(h);
    nodes.push(a, b);
    await a.login({ authKey: key });
    const mapA = await a.expect("map");
    await b.login({ authKey: key });
    const mapB = await b.expect("map");
    await a.expect("delta");
    expect(await metrics.value("corridor_control_fanout_seconds_count")).toBe(0);

    const bId = mapB.map.self.id;
    expect(bId).not.toBe(mapA.map.self.id);
    await h.store.updateNode(bId, { hostname: "renamed" });
    await h.control.meshChanges.nodeChanged(bId);
    expect(await metrics.value("corridor_control_fanout_seconds_count")).toBe(1);
    const seconds = await metrics.value("corridor_control_fanout_seconds_sum");
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(5);
    await a.expect("delta");

    // Queued, not yet sent (the outbox flushes in a microtask): a has b's change waiting.
    const node = h.control.mapper.node(bId)!;
    h.control.mapper.upsertNode({ ...node, hostname: "again" });
    expect(h.control.hub.outboxDepth()).toMatchObject({ backloggedStreams: 1, waitingPeers: 1 });
    await a.expect("delta");
    expect(h.control.hub.outboxDepth()).toMatchObject({ backloggedStreams: 0, waitingPeers: 0 });

    const text = await metrics.text();
    for (const name of [
      "corridor_control_streams",
      "corridor_control_fanout_seconds",
      "corridor_control_outbox_backlogged_streams",
      "corridor_control_outbox_waiting_peers",
      "corridor_control_outbox_buffered_bytes",
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"));
    }
    expect(await metrics.value("corridor_control_streams")).toBe(2);
  });

  it("the outbox gauges read the depth at scrape time", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    let depth = { backloggedStreams: 3, waitingPeers: 41, bufferedBytes: 300_000 };
    new ControlMetrics(
      metrics,
      () => 5,
      () => depth,
    );
    expect(await metrics.value("corridor_control_outbox_backlogged_streams")).toBe(3);
    expect(await metrics.value("corridor_control_outbox_waiting_peers")).toBe(41);
    expect(await metrics.value("corridor_control_outbox_buffered_bytes")).toBe(300_000);
    depth = { backloggedStreams: 0, waitingPeers: 0, bufferedBytes: 0 };
    await new Promise((resolve) => setTimeout(resolve, 150)); // one scrape reads it once
    expect(await metrics.value("corridor_control_outbox_waiting_peers")).toBe(0);
  });
});

it("corridor control's /metrics shows the database calls of its start", async () => {
  const store = await openSqliteStore(":memory:");
  const server = await startControlServer({
    host: "127.0.0.1",
    port: 0,
    store,
    relays: [
      { id: "default", region: "", url: "ws://127.0.0.1:9/relay", key: `${"A".repeat(43)}=` },
    ],
    metrics: new MetricsRegistry({ processMetrics: false }),
    log: createLogger({ level: "error", sink: () => {} }),
  });
  try {
    await fetch(new URL("/readyz", server.baseUrl));
    const text = await (await fetch(new URL("/metrics", server.baseUrl))).text();
    expect(text).toMatch(/^# TYPE corridor_control_db_calls_total counter$/m);
    expect(text).toMatch(/^corridor_control_db_calls_total\{op="listNodes",result="ok"\} [1-9]/m);
    expect(text).toMatch(/^corridor_control_db_calls_total\{op="ping",result="ok"\} 1$/m);
    expect(text).toMatch(
      /^corridor_control_db_call_seconds_bucket\{le="\+Inf",op="transaction"\} [1-9]/m,
    );
  } finally {
    await server.close();
    await store.close();
  }
});
