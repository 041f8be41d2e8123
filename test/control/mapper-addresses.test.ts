// The mapper on the real policy engine with rules that name mesh addresses (`hosts` aliases,
// CIDRs) as destination and as source: the node inside sees and is seen by exactly whom the
// rule says and gets the rule in its filter, other nodes of the same user do not; a node whose
// address moves into or out of such a range changes group (its peers and rules follow); a
// policy or user change reaches exactly the nodes concerned. A seeded model check replays
// random node, user and policy changes and compares what every streaming node has built from
// its deltas with its full map, and the full maps with the policy asked node by node.

import { beforeEach, describe, expect, it } from "vitest";
import { Mapper } from "../../server/control/mapper/mapper.ts";
import type { DeltaParts } from "../../server/control/mapper/pending-delta.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import type { CompiledPolicy, PolicyNode, PolicyUser } from "../../server/control/policy/types.ts";
import type { NodeRecord, UserRecord } from "../../server/control/store/types.ts";
import type { FilterRule, PeerView, SshRule } from "../../worker/control/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { node, user } from "./mapper-fixture.ts";

const token = { token: "t", expiresAt: 1 };
const ALL = { proto: "*", first: 0, last: 65535 } as const;
const tcp = (port: number) => ({ proto: "tcp", first: port, last: port }) as const;

const SELF = `{ "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] }`;

// db (100.64.0.20) takes postgres from alice and may scrape the metrics nodes.
const DB_POLICY = `{
  "hosts": { "db": "100.64.0.20/32" },
  "tagOwners": { "tag:metrics": [] },
  "acls": [
    ${SELF},
    { "action": "accept", "src": ["alice@example.com"], "dst": ["db:5432"], "proto": "tcp" },
    { "action": "accept", "src": ["db"], "dst": ["tag:metrics:9100"], "proto": "tcp" },
  ],
}`;

// The lab range (100.64.0.16/28): carol logs in there; the lab's nodes push metrics.
const LAB_POLICY = `{
  "hosts": { "lab": "100.64.0.16/28" },
  "tagOwners": { "tag:metrics": [] },
  "acls": [
    ${SELF},
    { "action": "accept", "src": ["carol@example.com"], "dst": ["lab:22"], "proto": "tcp" },
    { "action": "accept", "src": ["lab"], "dst": ["tag:metrics:9100"], "proto": "tcp" },
  ],
}`;

const NO_ADDRESSES = `{ "tagOwners": { "tag:metrics": [] }, "acls": [${SELF}] }`;

const USERS: UserRecord[] = [user(1, "alice"), user(2, "bob"), user(3, "carol")];

function policyUsers(users: readonly UserRecord[]): PolicyUser[] {
  return users.map((u) => ({ id: u.id, email: u.email, role: u.role }));
}

function compiled(text: string, users: readonly UserRecord[] = USERS): CompiledPolicy {
  const result = compilePolicy(text, policyUsers(users));
  if (!result.ok) throw new Error(`policy refused: ${JSON.stringify(result.errors)}`);
  return result.policy;
}

// a1: alice; b1: bob; m1: tag:metrics; c1: carol; db: bob's, at 100.64.0.20.
const NODES = [node(1, 1, "a1"), node(2, 2, "b1"), node(3, ["tag:metrics"], "m1")];
const ALL_NODES = [...NODES, node(4, 3, "c1"), node(20, 2, "db")];

let mapper: Mapper;
let sent: { to: number; parts: DeltaParts }[];

function setUp(text: string): void {
  mapper = new Mapper(compiled(text), { domain: "mesh.test", relays: [] });
  mapper.load(USERS, ALL_NODES);
  for (const n of ALL_NODES) mapper.attach(n.id);
  sent = [];
  mapper.onDeliver((to, parts) => sent.push({ to, parts }));
}

function peerIds(id: number): number[] {
  return mapper
    .fullMap(id, token)
    .peers.map((p) => p.id)
    .sort((a, b) => a - b);
}

function recipients(): number[] {
  return [...new Set(sent.map((s) => s.to))].sort((a, b) => a - b);
}

/** Everything sent to `id`, merged in order (lists concatenated, the latest of the rest). */
function to(id: number): DeltaParts {
  const out: DeltaParts = {};
  for (const { parts } of sent.filter((s) => s.to === id)) {
    const { peersUpserted, peersRemoved, patches, ...rest } = parts;
    Object.assign(out, rest);
    if (peersUpserted) out.peersUpserted = [...(out.peersUpserted ?? []), ...peersUpserted];
    if (peersRemoved) out.peersRemoved = [...(out.peersRemoved ?? []), ...peersRemoved];
    if (patches) out.patches = [...(out.patches ?? []), ...patches];
  }
  return out;
}

describe("a hosts alias of one address, as destination and as source", () => {
  beforeEach(() => setUp(DB_POLICY));

  it("the db node sees and is seen by exactly whom the rules say; bob's other node does not", () => {
    expect(peerIds(20)).toEqual([1, 2, 3]); // alice (5432), bob (self), the metrics node
    expect(peerIds(1)).toEqual([20]);
    expect(peerIds(3)).toEqual([20]);
    expect(peerIds(2)).toEqual([20]); // bob's own nodes only: not alice, not the metrics node
    expect(peerIds(4)).toEqual([]);
  });

  it("filters: postgres from alice on the db node only, the db's address on the metrics node", () => {
    expect(mapper.fullMap(20, token).filter).toEqual([
      { src: { users: [1] }, ports: [tcp(5432)] },
      { src: { users: [2] }, ports: [ALL] },
    ]);
    expect(mapper.fullMap(2, token).filter).toEqual([{ src: { users: [2] }, ports: [ALL] }]);
    expect(mapper.fullMap(3, token).filter).toEqual([
      { src: { cidrs: ["100.64.0.20/32"] }, ports: [tcp(9100)] },
    ]);
    expect(mapper.fullMap(1, token).filter).toEqual([{ src: { users: [1] }, ports: [ALL] }]);
  });

  it("changes reach only the viewers of the node's subject", () => {
    mapper.patch(20, { online: true });
    expect(recipients()).toEqual([1, 2, 3]);
    sent = [];
    mapper.patch(2, { online: true });
    expect(recipients()).toEqual([20]);
    sent = [];
    mapper.upsertNode(node(5, 2, "b2")); // a new node of bob's, outside the alias
    expect(recipients()).toEqual([2, 20]);
  });

  it("a user change: alice's new email no longer matches, she and the db lose each other", () => {
    const users = [{ ...USERS[0]!, email: "alice@elsewhere.example" }, USERS[1]!, USERS[2]!];
    mapper.upsertUser(users[0]!, mapper.policy.withUsers(policyUsers(users)));
    expect(to(1).peersRemoved).toEqual([20]);
    expect(to(20).peersRemoved).toEqual([1]);
    expect(to(20).filter).toEqual([{ src: { users: [2] }, ports: [ALL] }]);
    expect(to(2)).toEqual({}); // bob's other node: nothing changed for it
    expect(to(3)).toEqual({});
    expect(peerIds(20)).toEqual([2, 3]);
  });
});

describe("a user change, when the peers concerned have no stream", () => {
  it("alice's node is shown the db node that her new email lets her reach", () => {
    const elsewhere = { ...USERS[0]!, email: "alice@elsewhere.example" };
    mapper = new Mapper(compiled(DB_POLICY, [elsewhere, USERS[1]!, USERS[2]!]), {
      domain: "mesh.test",
      relays: [],
    });
    mapper.load([elsewhere, USERS[1]!, USERS[2]!], ALL_NODES);
    mapper.attach(1); // only a1 streams
    sent = [];
    mapper.onDeliver((to, parts) => sent.push({ to, parts }));
    expect(peerIds(1)).toEqual([]);
    mapper.upsertUser(USERS[0]!, mapper.policy.withUsers(policyUsers(USERS)));
    expect(to(1).peersUpserted?.map((p) => p.id)).toEqual([20]);
    expect(peerIds(1)).toEqual([20]);
  });
});

describe("a CIDR alias a node moves into and out of", () => {
  beforeEach(() => setUp(LAB_POLICY));

  it("moving in: carol and the metrics node gain it, it gains them and carol's rule", () => {
    expect(peerIds(2)).toEqual([20]);
    const before = mapper.log.seq;
    mapper.upsertNode({ ...node(2, 2, "b1"), ipv4: "100.64.0.17" });
    expect(recipients()).toEqual([2, 3, 4, 20]);
    expect(to(4).peersUpserted?.map((p) => p.id)).toEqual([2]);
    expect(to(3).peersUpserted?.map((p) => p.id)).toEqual([2]);
    expect(to(20).peersUpserted?.map((p) => p.id)).toEqual([2]); // bob's: a new view only
    const own = to(2);
    expect(own.self?.addresses).toEqual(["100.64.0.17", "fd00:1::02"]);
    expect(own.peersUpserted?.map((p) => p.id).sort((a, b) => a - b)).toEqual([3, 4, 20]);
    expect(own.filter).toEqual([
      { src: { users: [3] }, ports: [tcp(22)] },
      { src: { users: [2] }, ports: [ALL] },
    ]);
    expect(mapper.resume(2, before)).toBeNull(); // its subject changed: a full map
    expect(mapper.resume(4, before)?.peersUpserted?.map((p) => p.id)).toEqual([2]);
  });

  it("moving out: they lose it, it loses them", () => {
    mapper.upsertNode({ ...node(2, 2, "b1"), ipv4: "100.64.0.17" });
    sent = [];
    mapper.upsertNode(node(2, 2, "b1"));
    expect(to(4)).toEqual({ peersRemoved: [2] });
    expect(to(3)).toEqual({ peersRemoved: [2] });
    expect(to(2).peersRemoved?.sort((a, b) => a - b)).toEqual([3, 4]);
    expect(to(2).filter).toEqual([{ src: { users: [2] }, ports: [ALL] }]);
    expect(to(1)).toEqual({});
    expect(peerIds(2)).toEqual([20]);
  });

  it("the IPv6 address counts as well, and the order of a node's addresses does not", () => {
    const policy = compiled(`{
      "hosts": { "v6": "fd00:1::10/124", "v4": "100.64.0.16/28" },
      "acls": [{ "action": "accept", "src": ["v6", "v4"], "dst": ["carol@example.com:22"] }],
    }`);
    const at = (...addresses: string[]): PolicyNode => ({
      id: 9,
      principal: { kind: "user", userId: 2 },
      addresses,
    });
    expect(policy.subjectKey!(at("100.64.0.2", "fd00:1::2"))).toBe("u:2");
    const both = policy.subjectKey!(at("100.64.0.17", "fd00:1::11"));
    expect(policy.subjectKey!(at("fd00:1::11", "100.64.0.17"))).toBe(both);
    expect(policy.subjectKey!(at("100.64.0.2", "fd00:1::11"))).not.toBe(both);
    expect(policy.subjectKey!(at("100.64.0.2", "fd00:1::11"))).not.toBe("u:2");
  });
});

describe("a policy change that starts or stops naming addresses", () => {
  it("regroups the nodes: only the nodes the new rules concern are told", () => {
    setUp(NO_ADDRESSES);
    expect(peerIds(20)).toEqual([2]);
    mapper.setPolicy(compiled(DB_POLICY));
    expect(to(1).peersUpserted?.map((p) => p.id)).toEqual([20]);
    expect(to(3).peersUpserted?.map((p) => p.id)).toEqual([20]);
    expect(to(3).filter).toEqual([{ src: { cidrs: ["100.64.0.20/32"] }, ports: [tcp(9100)] }]);
    expect(
      to(20)
        .peersUpserted?.map((p) => p.id)
        .sort((a, b) => a - b),
    ).toEqual([1, 3]);
    expect(to(20).filter?.[0]).toEqual({ src: { users: [1] }, ports: [tcp(5432)] });
    expect(to(2)).toEqual({}); // bob's other node and carol: nothing changed
    expect(to(4)).toEqual({});
    sent = [];
    mapper.setPolicy(compiled(NO_ADDRESSES));
    expect(to(1)).toEqual({ peersRemoved: [20] });
    expect(to(20).peersRemoved?.sort((a, b) => a - b)).toEqual([1, 3]);
    expect(to(3)).toEqual({ peersRemoved: [20], filter: [] });
    expect(recipients()).toEqual([1, 3, 20]);
  });
});

// --- model check -------------------------------------------------------------------------

/** What one streaming node has built from its full map and deltas. */
interface Model {
  self: PeerView;
  peers: Map<number, PeerView>;
  filter: FilterRule[];
  ssh: SshRule[];
}

function apply(model: Model, parts: DeltaParts, id: number): void {
  if (parts.self !== undefined) model.self = parts.self;
  for (const gone of parts.peersRemoved ?? []) model.peers.delete(gone);
  for (const peer of parts.peersUpserted ?? []) model.peers.set(peer.id, peer);
  for (const patch of parts.patches ?? []) {
    const peer = model.peers.get(patch.id);
    // A patch of a peer it does not have: sent to a node that does not see it.
    if (peer === undefined) throw new Error(`node ${id} patched about unknown peer ${patch.id}`);
    model.peers.set(patch.id, { ...peer, ...patch });
  }
  if (parts.filter !== undefined) model.filter = parts.filter;
  if (parts.ssh !== undefined) model.ssh = parts.ssh;
}

function durable(view: PeerView): Partial<PeerView> {
  const { online, lastSeen, endpoints, homeRelay, ...rest } = view;
  return rest;
}

function sorted(peers: Iterable<PeerView>): PeerView[] {
  return [...peers].sort((a, b) => a.id - b.id);
}

const SELECTORS = [
  "alice@example.com",
  "bob@example.com",
  "autogroup:member",
  "tag:a",
  "tag:b",
  "h1",
  "h2",
  "h3",
  "100.64.0.8/29",
];

function randomPolicy(int: (n: number) => number): string {
  const prefix = () => {
    const len = 27 + int(6);
    const size = 2 ** (32 - len);
    return `100.64.0.${int(32 / size) * size}/${len}`;
  };
  const pick = (n: number) => Array.from({ length: n }, () => SELECTORS[int(SELECTORS.length)]!);
  const acls = Array.from({ length: 1 + int(4) }, () => ({
    action: "accept",
    src: int(8) === 0 ? ["*"] : pick(1 + int(2)),
    dst: pick(1 + int(2)).map((s) => `${s}:${int(2) === 0 ? "*" : "22"}`),
  }));
  if (int(3) === 0) acls.push(JSON.parse(SELF));
  const hosts = { h1: prefix(), h2: prefix(), h3: int(2) === 0 ? "fd00:1::10/124" : prefix() };
  return JSON.stringify({ hosts, tagOwners: { "tag:a": [], "tag:b": [] }, acls });
}

const OWNERS: (number | string[])[] = [1, 2, 3, ["tag:a"], ["tag:b"], ["tag:a", "tag:b"]];

describe("model check (seeded)", () => {
  it("streaming nodes' maps equal their full maps, and full maps equal the policy node by node", () => {
    let operations = 0;
    let policies = 0;
    let tried = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const int = seededInts(seed);
      let users = USERS.map((u) => ({ ...u }));
      const compileNew = (): CompiledPolicy | null => {
        tried++;
        const result = compilePolicy(randomPolicy(int), policyUsers(users));
        if (result.ok) policies++;
        return result.ok ? result.policy : null;
      };
      let policy = compileNew() ?? compiled(NO_ADDRESSES, users);
      const m = new Mapper(policy, { domain: "d", relays: [] });
      const randomNode = (id: number): NodeRecord => ({
        ...node(id, OWNERS[int(OWNERS.length)]!),
        ipv4: `100.64.0.${int(32)}`,
      });
      m.load(
        users,
        Array.from({ length: 8 }, (_, i) => randomNode(i + 1)),
      );
      const models = new Map<number, Model>();
      const attach = (id: number) => {
        m.attach(id);
        const map = m.fullMap(id, token);
        models.set(id, {
          self: map.self,
          peers: new Map(map.peers.map((p) => [p.id, p])),
          filter: map.filter,
          ssh: map.ssh,
        });
      };
      for (const n of m.allNodes()) if (int(4) !== 0) attach(n.id);
      m.onDeliver((id, parts) => {
        const model = models.get(id);
        if (model === undefined) throw new Error(`delivery to node ${id}, which is not attached`);
        apply(model, parts, id);
      });
      for (let step = 0; step < 30; step++) {
        operations++;
        const op = int(10);
        const id = 1 + int(14);
        if (op < 4) {
          const known = m.node(id) !== undefined;
          m.upsertNode(randomNode(id));
          if (!known) attach(id);
        } else if (op < 5) {
          m.removeNode(id);
          models.delete(id);
        } else if (op < 7) {
          if (m.node(id) !== undefined) m.patch(id, { endpoints: [`192.0.2.1:${int(65535)}`] });
        } else if (op < 8) {
          const next = compileNew();
          if (next !== null) {
            policy = next;
            m.setPolicy(policy);
          }
        } else {
          const u = int(3);
          const name = users[u]!.name;
          const email = int(2) === 0 ? `${name}@example.com` : `${name}@moved.example`;
          users = users.map((x, i) => (i === u ? { ...x, email } : x));
          policy = policy.withUsers(policyUsers(users));
          m.upsertUser(users[u]!, policy);
        }
        const context = `seed ${seed}, step ${step}`;
        for (const [nodeId, model] of models) {
          const map = m.fullMap(nodeId, token);
          expect(sorted(model.peers.values()), context).toEqual(sorted(map.peers));
          // A node's own volatile facts are its own news: only the durable ones are sent back.
          expect(durable(model.self), context).toEqual(durable(map.self));
          expect(model.filter, context).toEqual(map.filter);
          expect(model.ssh, context).toEqual(map.ssh);
        }
        const subject = (n: NodeRecord): PolicyNode => ({
          id: n.id,
          principal:
            n.userId !== null ? { kind: "user", userId: n.userId } : { kind: "tags", tags: n.tags },
          addresses: [n.ipv4, n.ipv6],
        });
        for (const a of m.allNodes()) {
          const map = m.fullMap(a.id, token);
          const expected = m
            .allNodes()
            .filter(
              (b) =>
                b.id !== a.id &&
                (policy.canReach(subject(a), subject(b)) ||
                  policy.canReach(subject(b), subject(a))),
            )
            .map((b) => b.id)
            .sort((x, y) => x - y);
          expect(
            map.peers.map((p) => p.id).sort((x, y) => x - y),
            context,
          ).toEqual(expected);
          expect(map.filter, context).toEqual(policy.filterFor(subject(a)));
          expect(map.ssh, context).toEqual(policy.sshFor(subject(a)));
        }
      }
    }
    console.log(
      `mapper addresses model check: 40 seeds, ${operations} operations, ${tried} random policies (${policies} compiled)`,
    );
    expect(policies).toBeGreaterThan(40);
  });
});
