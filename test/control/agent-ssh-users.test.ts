// Hostinfo.sshUsers (docs/control.md): a non-root agent reports the local users its SSH server
// can be; the server stores them with the node, shows them in GET /api/v1/nodes, and narrows
// the node's SSH rules to them ("autogroup:nonroot" -> those that are not root, named users ->
// the intersection, a rule left with no user dropped). Unit table of the narrowing, then the
// real map stream: at login, on an `update` that changes them, and back to "any" when a later
// hostinfo has none.

import { afterEach, describe, expect, it } from "vitest";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { narrowSshRules } from "../../server/control/policy/ssh-users.ts";
import type { SshRule } from "../../worker/control/types.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

const SRC = { users: [2] };

describe("narrowSshRules", () => {
  const rules: SshRule[] = [
    { src: SRC, users: ["autogroup:nonroot"], action: "accept" },
    { src: SRC, users: ["root", "deploy"], action: "accept" },
    { src: SRC, users: ["root"], action: "check", checkPeriodMs: 3_600_000 },
    { src: SRC, users: ["deploy", "autogroup:nonroot"], action: "accept" },
  ];

  it("keeps the rules as compiled when the node reported no users (any)", () => {
    expect(narrowSshRules(rules, null)).toBe(rules);
  });

  it("narrows nonroot to the node's users but root, named users to the intersection", () => {
    expect(narrowSshRules(rules, ["ada", "deploy", "root"])).toEqual([
      { src: SRC, users: ["ada", "deploy"], action: "accept" },
      { src: SRC, users: ["root", "deploy"], action: "accept" },
      { src: SRC, users: ["root"], action: "check", checkPeriodMs: 3_600_000 },
      { src: SRC, users: ["deploy", "ada"], action: "accept" },
    ]);
  });

  it("drops a rule left with no user", () => {
    expect(narrowSshRules(rules, ["ada"])).toEqual([
      { src: SRC, users: ["ada"], action: "accept" },
      { src: SRC, users: ["ada"], action: "accept" },
    ]);
    expect(narrowSshRules(rules, ["root"])).toEqual([
      { src: SRC, users: ["root"], action: "accept" },
      { src: SRC, users: ["root"], action: "check", checkPeriodMs: 3_600_000 },
    ]);
    expect(narrowSshRules(rules, [])).toEqual([]);
  });

  it("never changes the rules it was given (they are shared between nodes)", () => {
    const copy = structuredClone(rules);
    narrowSshRules(rules, ["ada"]);
    expect(rules).toEqual(copy);
  });
});

const POLICY = `{
  "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "ssh": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["root", "deploy"] },
    { "action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["root"], "checkPeriod": "12h" },
  ],
}`;

let h: Harness;
let started: Harness | undefined;
const nodes: RawNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await started?.close();
  started = undefined;
});

async function start(): Promise<void> {
  h = await startHarness({ keepaliveMs: 100 * 3600_000 });
  started = h;
}

describe("sshUsers on the map stream", () => {
  it("narrows the node's SSH rules at login and on update, stores the users and shows them", async () => {
    await start();
    await h.store.setPolicy(POLICY, h.alice.id);
    await h.control.meshChanges.policyChanged();
    const node = await RawNode.create(h);
    nodes.push(node);
    await node.login({
      authKey: await h.authKey({ userId: h.bob.id }),
      hostinfo: { hostname: "bob-box", os: "linux", sshUsers: ["bob"] },
    });
    const map = await node.expect("map");
    const bobs = { users: [h.bob.id] };
    expect(map.map.ssh).toEqual([{ src: bobs, users: ["bob"], action: "accept" }]);
    expect((await h.store.nodeByKey(node.publicKey))?.sshUsers).toEqual(["bob"]);

    // GET /api/v1/nodes shows them (bob's own API key).
    const { key } = await createApiKeyLocal(h.store, h.bob.id, { now: h.clock.now() });
    const res = await h.control.api.request(`${h.origin}/api/v1/nodes`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    const listed = ((await res.json()) as { nodes: { name: string; sshUsers: unknown }[] }).nodes;
    expect(listed.map((n) => [n.name, n.sshUsers])).toEqual([["bob-box", ["bob"]]]);

    // The agent now can be deploy too: its rules widen.
    node.send({
      type: "update",
      hostinfo: { hostname: "bob-box", os: "linux", sshUsers: ["bob", "deploy"] },
    });
    const widened = await node.expect("delta");
    expect(widened.ssh).toEqual([
      { src: bobs, users: ["bob", "deploy"], action: "accept" },
      { src: bobs, users: ["deploy"], action: "accept" },
    ]);
    expect(widened.self?.name).toBe("bob-box");

    // A hostinfo with no sshUsers (the agent runs as root now): the rules as compiled.
    node.send({ type: "update", hostinfo: { hostname: "bob-box", os: "linux" } });
    const full = await node.expect("delta");
    expect(full.ssh).toEqual([
      { src: bobs, users: ["autogroup:nonroot"], action: "accept" },
      { src: bobs, users: ["root", "deploy"], action: "accept" },
      { src: bobs, users: ["root"], action: "check", checkPeriodMs: 43_200_000 },
    ]);
    expect((await h.store.nodeByKey(node.publicKey))?.sshUsers).toBeNull();
  });

  it("narrows the rules of a policy change per node, and on resume", async () => {
    await start();
    const node = await RawNode.create(h);
    nodes.push(node);
    await node.login({
      authKey: await h.authKey({ userId: h.bob.id }),
      hostinfo: { hostname: "bob-box", os: "linux", sshUsers: ["bob"] },
    });
    const map = await node.expect("map");
    // The default policy: nonroot on one's own devices.
    expect(map.map.ssh.map((r) => r.users)).toEqual([["bob"]]);

    await h.store.setPolicy(POLICY, h.alice.id);
    await h.control.meshChanges.policyChanged();
    const changed = await node.expect("delta");
    expect(changed.ssh?.map((r) => r.users)).toEqual([["bob"]]);

    // Reconnect with the last sequence number: the delta's self brings its narrowed rules.
    node.close();
    await node.closed;
    await node.login({
      resume: { session: map.session, seq: changed.seq },
      hostinfo: { hostname: "bob-box", os: "linux", sshUsers: ["bob", "root"] },
    });
    const resumed = await node.next();
    const ssh =
      resumed.type === "map" ? resumed.map.ssh : resumed.type === "delta" ? resumed.ssh : [];
    expect(ssh?.map((r) => r.users)).toEqual([["bob"], ["root"], ["root"]]);
  });
});
