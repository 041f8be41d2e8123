// A sign-in reaches the agents: UserRef.signedInAt (what SSH `check` rules compare against) is
// in the maps, and signing in again (a new owner link, through the real HTTP route) sends every
// node that sees one of the user's nodes a delta with the new time, and the user's own nodes a
// new self view. Real SQLite store, codec and map stream; time is the harness's manual clock.

import { afterEach, describe, expect, it } from "vitest";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import type { MapMessage } from "../../worker/control/messages.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

/** Opens a fresh owner link through POST /api/v1/login/link; returns the owner's user id. */
async function signInOwner(): Promise<number> {
  const url = await createOwnerLink(h.store, `${h.origin}/`, h.clock.now());
  const token = url.slice(url.indexOf("#") + 1);
  const res = await h.control.api.request(`${h.origin}/api/v1/login/link`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: h.origin },
    body: JSON.stringify({ token }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { user: { id: number } }).user.id;
}

async function join(userId: number, hostname: string): Promise<[RawNode, MapMessage]> {
  const node = await RawNode.create(h);
  nodes.push(node);
  await node.login({
    authKey: await h.authKey({ userId }),
    hostinfo: { hostname, os: "linux" },
  });
  return [node, await node.expect("map")];
}

describe("signedInAt in the maps", () => {
  it("carries the owner's sign-in time, and a new sign-in reaches viewers as a delta", async () => {
    h = await startHarness({ keepaliveMs: 100 * 3600_000 });
    const firstAt = h.clock.now();
    const owner = await signInOwner();
    const [mine, mineMap] = await join(owner, "owner-box");
    const [bobs, bobsMap] = await join(h.bob.id, "bob-box");
    expect(mineMap.map.self.user).toMatchObject({ id: owner, signedInAt: firstAt });
    // The default policy lets the owner reach every node, so bob's node sees the owner's.
    const seen = bobsMap.map.peers.find((p) => p.id === mineMap.map.self.id);
    expect(seen?.user).toMatchObject({ id: owner, signedInAt: firstAt });
    // Bob never signed in.
    expect(bobsMap.map.self.user).toMatchObject({ id: h.bob.id, signedInAt: null });

    h.clock.advance(90_000);
    const againAt = h.clock.now();
    expect(await signInOwner()).toBe(owner);

    const toBob = await bobs.expect("delta");
    expect(toBob.peersUpserted?.map((p) => [p.id, p.user?.signedInAt])).toEqual([
      [mineMap.map.self.id, againAt],
    ]);
    expect(toBob.self).toBeUndefined();
    // The owner's node first hears of bob's node joining, then of its own new view.
    let toMine = await mine.expect("delta");
    if (toMine.self === undefined) {
      expect(toMine.peersUpserted?.map((p) => p.id)).toEqual([bobsMap.map.self.id]);
      toMine = await mine.expect("delta");
    }
    expect(toMine.self?.user).toMatchObject({ id: owner, signedInAt: againAt });
    expect((await h.store.userById(owner))?.lastLoginAt).toBe(againAt);
  });
});
