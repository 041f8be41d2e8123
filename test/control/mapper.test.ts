// The mapper on a policy double (an explicit reachability table): full maps list exactly the
// visible peers; a change reaches only the attached nodes whose principal sees the changed
// node's principal; a policy or user change sends the peers that appear and disappear and the
// filters that changed; resume builds a delta from the ring or asks for a full map.

import { beforeEach, describe, expect, it } from "vitest";
import { Mapper } from "../../server/control/mapper/mapper.ts";
import type { DeltaParts } from "../../server/control/mapper/pending-delta.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import { node, TablePolicy, user } from "./mapper-fixture.ts";

const relays: RelayInfo[] = [
  { id: "default", region: "local", url: "ws://127.0.0.1:1/relay", key: "K" },
];
const token = { token: "t", expiresAt: 1 };

// alice (1) has a1, a2; bob (2) has b1; carol (3) has c1; s1 is tag:server.
// alice reaches her own nodes and the servers; bob his own; carol nobody.
const BASE = ["u:1>u:1", "u:2>u:2", "u:1>t:tag:server"];

let mapper: Mapper;
let policy: TablePolicy;
let sent: { to: number; parts: DeltaParts; seq: number }[];

function setUp(pairs = BASE, ringSize?: number): void {
  policy = new TablePolicy(pairs);
  mapper = new Mapper(policy, { domain: "mesh.test", relays, ringSize });
  mapper.load(
    [user(1, "alice"), user(2, "bob"), user(3, "carol")],
    [
      node(1, 1, "a1"),
      node(2, 1, "a2"),
      node(3, 2, "b1"),
      node(4, ["tag:server"], "s1"),
      node(5, 3, "c1"),
    ],
  );
  sent = [];
  mapper.onDeliver((to, parts, seq) => sent.push({ to, parts, seq }));
}

function peerIds(nodeId: number): number[] {
  return mapper
    .fullMap(nodeId, token)
    .peers.map((p) => p.id)
    .sort();
}

function recipients(): number[] {
  return [...new Set(sent.map((s) => s.to))].sort();
}

beforeEach(() => setUp());

describe("full maps", () => {
  it("lists the peers either side may reach, and nothing else", () => {
    expect(peerIds(1)).toEqual([2, 4]);
    expect(peerIds(4)).toEqual([1, 2]); // the server is reached by alice: it sees her nodes
    expect(peerIds(3)).toEqual([]);
    expect(peerIds(5)).toEqual([]);
    const map = mapper.fullMap(1, token);
    expect(map.self).toMatchObject({ id: 1, name: "a1", addresses: ["100.64.0.1", "fd00:1::01"] });
    expect(map.self.user).toEqual({
      id: 1,
      name: "alice",
      email: "alice@example.com",
      signedInAt: null,
    });
    expect(map.domain).toBe("mesh.test");
    expect(map.relays).toEqual(relays);
    expect(map.token).toBe(token);
    expect(mapper.fullMap(4, token).filter).toEqual([
      { src: { users: [1], tags: [] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
    ]);
    expect(mapper.fullMap(4, token).peers.find((p) => p.id === 1)?.tags).toEqual([]);
    expect(mapper.fullMap(1, token).peers.find((p) => p.id === 4)).toMatchObject({
      user: null,
      tags: ["tag:server"],
    });
  });

  it("asks the policy per pair of principals, not per pair of nodes", () => {
    // 400 nodes of 4 principals: every full map costs at most 4x4 canReach pairs in all.
    const many = new TablePolicy(BASE);
    const big = new Mapper(many, { domain: "d", relays });
    const owners: (number | string[])[] = [1, 2, 3, ["tag:server"]];
    big.load(
      [user(1, "alice"), user(2, "bob"), user(3, "carol")],
      Array.from({ length: 400 }, (_, i) => node(i + 1, owners[i % 4]!)),
    );
    let peers = 0;
    for (let id = 1; id <= 400; id++) peers += big.fullMap(id, token).peers.length;
    expect(peers).toBe(100 * 199 + 100 * 99 + 0 + 100 * 100); // alice, bob, carol, servers
    expect(many.canReachCalls).toBeLessThanOrEqual(2 * 4 * 4);
  });
});

describe("deltas reach only the nodes concerned", () => {
  beforeEach(() => {
    for (const id of [1, 2, 3, 4, 5]) mapper.attach(id);
  });

  it("a patch of the server goes to alice's nodes only, latest fields only", () => {
    mapper.patch(4, { online: true, endpoints: ["192.0.2.1:51820"] });
    expect(recipients()).toEqual([1, 2]);
    expect(sent[0]!.parts).toEqual({
      patches: [{ id: 4, online: true, endpoints: ["192.0.2.1:51820"] }],
    });
    sent = [];
    mapper.patch(4, { online: true, endpoints: ["192.0.2.1:51820"] });
    expect(sent).toEqual([]); // nothing really changed: nobody is told
    mapper.patch(3, { homeRelay: "default" });
    expect(sent).toEqual([]); // bob's only node: nobody attached sees it
  });

  it("a new node reaches the viewers of its principal; a removal too", () => {
    mapper.upsertNode(node(6, 1, "a3"));
    expect(recipients()).toEqual([1, 2, 4]);
    expect(sent.every((s) => s.parts.peersUpserted?.[0]?.id === 6)).toBe(true);
    sent = [];
    mapper.removeNode(2);
    expect(recipients()).toEqual([1, 4, 6].filter((id) => id !== 6)); // a3 is not attached
    expect(sent.map((s) => s.parts)).toEqual([{ peersRemoved: [2] }, { peersRemoved: [2] }]);
    expect(mapper.removeNode(2)).toBe(false);
  });

  it("a rename sends the node its new self and its viewers the new view", () => {
    mapper.upsertNode({ ...node(2, 1, "laptop") });
    const toSelf = sent.find((s) => s.to === 2)!.parts;
    expect(toSelf.self?.name).toBe("laptop");
    expect(
      sent
        .filter((s) => s.to !== 2)
        .map((s) => s.to)
        .sort(),
    ).toEqual([1, 4]);
    expect(sent.find((s) => s.to === 1)!.parts.peersUpserted?.[0]?.name).toBe("laptop");
  });

  it("a node re-tagged moves between principals: old viewers lose it, new ones gain it, it resyncs", () => {
    // carol's c1 becomes a server: alice's nodes now see it; c1 sees alice's nodes.
    mapper.upsertNode({ ...node(5, ["tag:server"], "c1") });
    expect(recipients()).toEqual([1, 2, 5]);
    expect(sent.find((s) => s.to === 1)!.parts.peersUpserted?.map((p) => p.id)).toEqual([5]);
    const own = sent.find((s) => s.to === 5)!.parts;
    expect(own.self?.tags).toEqual(["tag:server"]);
    expect(own.peersUpserted?.map((p) => p.id).sort()).toEqual([1, 2]);
    expect(own.filter).toEqual(mapper.fullMap(4, token).filter);
    sent = [];
    // and back to carol: alice's nodes lose it
    mapper.upsertNode(node(5, 3, "c1"));
    expect(sent.filter((s) => s.to !== 5).map((s) => [s.to, s.parts])).toEqual([
      [1, { peersRemoved: [5] }],
      [2, { peersRemoved: [5] }],
    ]);
    expect(sent.find((s) => s.to === 5)!.parts.peersRemoved?.sort()).toEqual([1, 2]);
  });

  it("a policy change sends appearing and disappearing peers and changed filters", () => {
    // bob may now reach the servers; alice no longer.
    mapper.setPolicy(new TablePolicy(["u:1>u:1", "u:2>u:2", "u:2>t:tag:server"]));
    const to = (id: number): DeltaParts =>
      Object.assign({}, ...sent.filter((s) => s.to === id).map((s) => s.parts));
    expect(to(1).peersRemoved).toEqual([4]);
    expect(to(2).peersRemoved).toEqual([4]);
    expect(to(3).peersUpserted?.map((p) => p.id)).toEqual([4]);
    expect(to(4).peersRemoved?.sort()).toEqual([1, 2]);
    expect(to(4).peersUpserted?.map((p) => p.id)).toEqual([3]);
    expect(to(4).filter).toEqual([
      { src: { users: [2], tags: [] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
    ]);
    expect(to(5)).toEqual({}); // carol: nothing changed for her
    expect(recipients()).not.toContain(5);
    expect(peerIds(3)).toEqual([4]);
  });

  it("a user's change recomputes that user's row only and re-sends their nodes' views", () => {
    for (const id of [1, 2, 3, 4, 5]) mapper.fullMap(id, token); // every pair answered once
    const before = policy.canReachCalls;
    const next = new TablePolicy([...BASE, "u:3>t:tag:server"]);
    mapper.upsertUser({ ...user(3, "carol"), email: "carol@new.example" }, next);
    // carol's row against the 4 principals (each pair asks canReach at most twice)
    expect(next.canReachCalls).toBeLessThanOrEqual(2 * 4);
    expect(policy.canReachCalls).toBe(before);
    const parts = (id: number) => sent.filter((s) => s.to === id).map((s) => s.parts);
    expect(parts(4)).toContainEqual({
      peersUpserted: [
        expect.objectContaining({
          id: 5,
          user: { id: 3, name: "carol", email: "carol@new.example", signedInAt: null },
        }),
      ],
    });
    expect(parts(5)).toContainEqual({ peersUpserted: [expect.objectContaining({ id: 4 })] });
    expect(parts(5)).toContainEqual({ self: expect.objectContaining({ id: 5 }) });
    expect(parts(4)).toContainEqual({
      filter: next.filterFor({ kind: "tags", tags: ["tag:server"] }),
    });
    expect(parts(3)).toEqual([]); // bob: nothing
  });

  it("numbers every change in the global sequence", () => {
    const start = mapper.log.seq;
    mapper.patch(4, { online: true });
    mapper.patch(4, { online: false });
    expect(mapper.log.seq).toBe(start + 2);
    expect(sent.map((s) => s.seq)).toEqual([start + 1, start + 1, start + 2, start + 2]);
  });
});

describe("resume", () => {
  it("builds a delta of what changed since, from the current state", () => {
    mapper.attach(1);
    const from = mapper.log.seq;
    mapper.detach(1);
    mapper.patch(4, { endpoints: ["192.0.2.1:1"] });
    mapper.patch(4, { endpoints: ["192.0.2.1:2"], homeRelay: "default" });
    mapper.upsertNode({ ...node(3, 2, "b1-renamed") }); // invisible to a1
    mapper.removeNode(2);
    mapper.upsertNode(node(6, 1, "a3"));
    mapper.upsertNode({ ...node(1, 1, "a1-new") });
    expect(mapper.resume(1, from)).toEqual({
      self: expect.objectContaining({ id: 1, name: "a1-new" }),
      peersUpserted: [expect.objectContaining({ id: 6, name: "a3" })],
      peersRemoved: [3, 2],
      patches: [
        { id: 4, online: false, lastSeen: null, endpoints: ["192.0.2.1:2"], homeRelay: "default" },
      ],
    });
    expect(mapper.resume(1, mapper.log.seq)).toEqual({});
  });

  it("asks for a full map after a policy change, its own principal's change, or past the ring", () => {
    const from = mapper.log.seq;
    mapper.setPolicy(new TablePolicy(BASE));
    expect(mapper.resume(1, from)).toBeNull();
    const afterPolicy = mapper.log.seq;
    mapper.upsertUser(user(2, "bob", "admin"), new TablePolicy(BASE));
    expect(mapper.resume(1, afterPolicy)).toMatchObject({ filter: expect.any(Array) });
    expect(mapper.resume(3, afterPolicy)).toBeNull(); // bob's own node
    const beforeRetag = mapper.log.seq;
    mapper.upsertNode(node(5, ["tag:server"], "c1"));
    expect(mapper.resume(5, beforeRetag)).toBeNull();
    expect(mapper.resume(1, beforeRetag)?.peersUpserted?.map((p) => p.id)).toEqual([5]);
    expect(mapper.resume(1, mapper.log.seq + 1)).toBeNull(); // from the future
    setUp(BASE, 4);
    const old = mapper.log.seq;
    for (let i = 0; i < 5; i++) mapper.patch(4, { endpoints: [`192.0.2.1:${i}`] });
    expect(mapper.resume(1, old)).toBeNull();
    expect(mapper.resume(1, old + 1)?.patches?.[0]?.endpoints).toEqual(["192.0.2.1:4"]);
  });
});

describe("at 10,000 nodes", () => {
  it("a patch costs one delivery per viewer and no policy query; a policy change is per principal", () => {
    // 100 users with 100 nodes each; every user reaches their own nodes; user 1 reaches all.
    const pairs = Array.from({ length: 100 }, (_, i) => `u:${i + 1}>u:${i + 1}`);
    for (let i = 2; i <= 100; i++) pairs.push(`u:1>u:${i}`);
    const table = new TablePolicy(pairs);
    const big = new Mapper(table, { domain: "d", relays });
    const users = Array.from({ length: 100 }, (_, i) => user(i + 1, `u${i + 1}`));
    const all = Array.from({ length: 10_000 }, (_, i) => node(i + 1, (i % 100) + 1));
    big.load(users, all);
    let deliveries = 0;
    big.onDeliver(() => deliveries++);
    for (const n of all) big.attach(n.id);
    big.patch(5000, { online: true }); // a node of user 100
    const warm = table.canReachCalls;
    deliveries = 0;
    big.patch(5000, { endpoints: ["192.0.2.1:1"] });
    expect(deliveries).toBe(99 + 100); // its 99 siblings and user 1's 100 nodes
    expect(table.canReachCalls).toBe(warm);

    const next = new TablePolicy(pairs.filter((p) => !p.startsWith("u:1>u:") || p === "u:1>u:1"));
    const started = performance.now();
    big.setPolicy(next);
    const ms = performance.now() - started;
    console.log(`mapper: policy change at 10,000 nodes / 100 principals: ${ms.toFixed(1)} ms`);
    expect(next.canReachCalls).toBeLessThanOrEqual(2 * 100 * 100);
  });
});
