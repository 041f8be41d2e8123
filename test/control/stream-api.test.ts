// The HTTP API (api/app.ts, as startControl builds it) driving the map side: an admin removes
// a node (its stream is refused `node_removed`, its peers lose it), expires one (refused
// `key_expired` at once), and replaces the policy (peers leave maps, filters change).

import { afterEach, expect, it } from "vitest";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

async function join(userId: number): Promise<[RawNode, number]> {
  const node = await RawNode.create(h);
  nodes.push(node);
  await node.login({ authKey: await h.authKey({ userId }) });
  return [node, (await node.expect("map")).map.self.id];
}

it("node removal, expiry and a new policy through the API reach the streams", async () => {
  h = await startHarness({ keepaliveMs: 3600_000 });
  const { key } = await createApiKeyLocal(h.store, h.alice.id, { now: h.clock.now() });
  const call = (method: string, path: string, body?: unknown) =>
    h.control.api.request(path, {
      method,
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const [a1, a1Id] = await join(h.alice.id);
  const [b1, b1Id] = await join(h.bob.id);
  const [b2, b2Id] = await join(h.bob.id);
  expect((await a1.expect("delta")).peersUpserted?.[0]?.id).toBe(b1Id); // the owner sees all
  await a1.expect("delta");
  await b1.expect("delta");

  const removed = await call("DELETE", `/api/v1/nodes/${b1Id}`);
  expect(removed.status).toBe(200);
  expect(await b1.next()).toMatchObject({ type: "refused", code: "node_removed" });
  expect((await b1.closed).code).toBe(4403);
  expect(await a1.expect("delta")).toMatchObject({ peersRemoved: [b1Id] });
  expect(await b2.expect("delta")).toMatchObject({ peersRemoved: [b1Id] });

  const expired = await call("POST", `/api/v1/nodes/${b2Id}/expire`);
  expect(expired.status).toBe(200);
  expect(await b2.next()).toMatchObject({ type: "refused", code: "key_expired" });
  expect((await b2.closed).code).toBe(4403);
  await a1.expect("delta"); // b2 went offline

  const [b3, b3Id] = await join(h.bob.id);
  await a1.expect("delta");
  const put = await call("PUT", "/api/v1/policy", {
    text: `{ "acls": [ { "action": "accept", "src": ["bob@example.com"], "dst": ["alice@example.com:22"] } ] }`,
  });
  expect(put.status).toBe(200);
  // bob's nodes no longer reach each other (b2 leaves b3's map); alice's stays (bob reaches it)
  expect(await b3.expect("delta")).toEqual({
    type: "delta",
    seq: 2,
    peersRemoved: [b2Id],
    filter: [],
    ssh: [],
  });
  const toAlice = await a1.expect("delta");
  expect(toAlice.filter).toEqual([
    { src: { users: [h.bob.id] }, ports: [{ proto: "*", first: 22, last: 22 }] },
  ]);
  expect(toAlice.peersRemoved).toBeUndefined(); // bob's nodes reach alice: she still sees them
  expect(toAlice.peersUpserted).toBeUndefined();
  expect(b3Id).not.toBe(a1Id);
});
