// GET /api/v1/nodes shows each node's live state from the map side (online, and a last seen
// fresher than the store's), for the admin view; without it every node is offline.

import { afterEach, expect, it } from "vitest";
import type { NodePresence } from "../../server/control/api/deps.ts";
import { type Harness, startHarness } from "./api-harness.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
});

it("online and last seen come from presence; the stored last seen when it knows none", async () => {
  const live = new Map<number, NodePresence>();
  h = await startHarness({
    inMemory: true,
    presence: (id) => live.get(id) ?? { online: false, lastSeen: null },
  });
  const owner = await h.signInOwner();
  const make = (n: number, lastSeen: number | null) =>
    h!.store.createNode({
      nodeKey: Buffer.alloc(32, n).toString("base64"),
      userId: owner.userId,
      tags: [],
      name: `n${n}`,
      hostname: `n${n}`,
      os: "linux",
      ipv4: `100.64.0.${n}`,
      ipv6: `fd00::${n}`,
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: [],
      lastSeen,
      authKeyId: null,
    });
  const up = await make(1, 5);
  const down = await make(2, 7);
  live.set(up.id, { online: true, lastSeen: 1234 });
  const nodes = (await h.call("GET", "/api/v1/nodes", { cookie: owner.cookie })).json.nodes;
  expect(
    nodes.map((n: { name: string; online: boolean; lastSeen: number }) => [
      n.name,
      n.online,
      n.lastSeen,
    ]),
  ).toEqual([
    ["n1", true, 1234],
    ["n2", false, 7],
  ]);
  expect(down.lastSeen).toBe(7);
});
