// The map side's metrics on the registry it is given: streams attached, logins by result,
// full maps against resumed ones, deltas sent, and the policy recompute's duration.

import { afterEach, expect, it } from "vitest";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

it("counts streams, logins, maps, deltas and policy recomputes", async () => {
  const metrics = new MetricsRegistry({ processMetrics: false });
  // One delta per change (no interval): the count below is of changes, not of a timing.
  h = await startHarness({
    metrics,
    keepaliveMs: 3600_000,
    outbox: { highWaterBytes: 256 * 1024, maxPendingEntries: 20_000, minIntervalMs: 0 },
  });
  const key = await h.authKey({ userId: h.bob.id, reusable: true });
  const a = await RawNode.create(h);
  nodes.push(a);
  await a.login({ authKey: key });
  const first = await a.expect("map");
  const b = await RawNode.create(h);
  nodes.push(b);
  await b.login({ authKey: key });
  await b.expect("map");
  await a.expect("delta");
  expect(await metrics.value("corridor_control_streams")).toBe(2);

  a.close();
  await a.closed;
  await waitUntil(() => h.control.hub.attachedCount === 1, "a detached");
  await a.login({ resume: { session: first.session, seq: 2 } });
  await a.expect("delta");
  const bad = await RawNode.create(h);
  nodes.push(bad);
  await bad.login({ authKey: "cak_nope" });
  await bad.closed;

  expect(await metrics.byLabel("corridor_control_logins_total", "result")).toEqual({
    registered: 2,
    known: 1,
    authkey_invalid: 1,
  });
  expect(await metrics.byLabel("corridor_control_maps_total", "kind")).toEqual({
    full: 2,
    resumed: 1,
  });
  // to a: b joined; to b: a went offline, a came back
  expect(await metrics.value("corridor_control_deltas_total")).toBe(3);

  await h.store.setPolicy(`{ "acls": [] }`, h.alice.id);
  await h.control.meshChanges.policyChanged();
  expect(await metrics.value("corridor_control_policy_recompute_seconds_count")).toBe(1);
});
