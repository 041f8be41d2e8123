// The mapper with the share overlay (server/control/shares/overlay.ts) in force: accepting a
// share (the share node created, then the overlay changed, or the other way round) and ending
// it go through the mapper's node and policy paths, and every streaming node's map, built from
// its deltas alone, equals its full map after each step: the recipient holds exactly the
// device, the device holds the recipient and the share's rules, nobody else is told anything.
// Also measures (prints, never asserts) a share change on a mesh of 2,000 nodes.

import { beforeEach, describe, expect, it } from "vitest";
import { Mapper } from "../../server/control/mapper/mapper.ts";
import type { DeltaParts } from "../../server/control/mapper/pending-delta.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import type { CompiledPolicy } from "../../server/control/policy/types.ts";
import {
  type ActiveShare,
  sameDocumentKeys,
  withShares,
} from "../../server/control/shares/overlay.ts";
import type { NodeRecord, UserRecord } from "../../server/control/store/types.ts";
import type { FilterRule, PeerView, SshRule } from "../../worker/control/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { node, user } from "./mapper-fixture.ts";

const token = { token: "t", expiresAt: 1 };
const POLICY = `{ "acls": [
  { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
  { "action": "accept", "src": ["bob@example.com"], "dst": ["alice@example.com:443"] } ] }`;
const ALLOW_ALL = `{ "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }] }`;

function compiled(text: string, users: readonly UserRecord[]): CompiledPolicy {
  const result = compilePolicy(
    text,
    users.map((u) => ({ id: u.id, email: u.email, role: u.role })),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

/** A share node (no user, no tags) for acceptance `acceptanceId`. */
function shareNode(id: number, acceptanceId: number): NodeRecord {
  return { ...node(id, []), tags: [], shareAcceptanceId: acceptanceId, ephemeral: true };
}

/** What a node has built from its full map and deltas. */
interface Built {
  peers: Map<number, PeerView>;
  filter: FilterRule[];
  ssh: SshRule[];
}

class Rig {
  readonly built = new Map<number, Built>();
  readonly told = new Set<number>();
  constructor(readonly mapper: Mapper) {
    mapper.onDeliver((id, parts) => this.apply(id, parts));
  }

  attach(id: number): void {
    this.mapper.attach(id);
    const map = this.mapper.fullMap(id, token);
    this.built.set(id, {
      peers: new Map(map.peers.map((p) => [p.id, p])),
      filter: map.filter,
      ssh: map.ssh,
    });
  }

  private apply(id: number, parts: DeltaParts): void {
    const b = this.built.get(id)!;
    if (Object.keys(parts).length > 0) this.told.add(id);
    for (const gone of parts.peersRemoved ?? []) b.peers.delete(gone);
    for (const view of parts.peersUpserted ?? []) b.peers.set(view.id, view);
    for (const patch of parts.patches ?? []) {
      const peer = b.peers.get(patch.id);
      if (peer !== undefined) b.peers.set(patch.id, { ...peer, ...patch });
    }
    if (parts.filter !== undefined) b.filter = parts.filter;
    if (parts.ssh !== undefined) b.ssh = parts.ssh;
  }

  peerIds(id: number): number[] {
    return [...this.built.get(id)!.peers.keys()].sort((a, b) => a - b);
  }

  /** Every attached node's built map equals its full map now. */
  checkAll(): void {
    for (const [id, b] of this.built) {
      if (this.mapper.node(id) === undefined) continue;
      const full = this.mapper.fullMap(id, token);
      expect(this.peerIds(id), `peers of ${id}`).toEqual(
        full.peers.map((p) => p.id).sort((a, c) => a - c),
      );
      expect(b.filter, `filter of ${id}`).toEqual(full.filter);
      expect(b.ssh, `ssh of ${id}`).toEqual(full.ssh);
    }
  }
}

const USERS = [user(1, "alice"), user(2, "bob")];
// alice: D (1), H (2); bob: B (3); a tagged server (4).
const NODES = [node(1, 1, "d"), node(2, 1, "h"), node(3, 2, "b"), node(4, ["tag:server"], "srv")];
const R = shareNode(10, 7);
const share = (recipients: NodeRecord[], sshUsers: string[] = ["alice"]): ActiveShare => ({
  shareId: "s1",
  deviceNodeId: 1,
  sshUsers,
  ports: [8080],
  recipients: recipients.map((n) => ({
    acceptanceId: n.shareAcceptanceId!,
    nodeId: n.id,
    addresses: [n.ipv4, n.ipv6],
  })),
});

describe("the mapper with shares", () => {
  let base: CompiledPolicy;
  let rig: Rig;
  beforeEach(() => {
    base = compiled(POLICY, USERS);
    const mapper = new Mapper(withShares(base, []), { domain: "d", relays: [] });
    mapper.load(USERS, NODES);
    rig = new Rig(mapper);
    for (const n of NODES) rig.attach(n.id);
  });

  it("node first, then the share: the recipient gets the device only, the device its rules", () => {
    rig.mapper.upsertNode(R);
    expect(rig.told.size).toBe(0); // nobody sees an acceptance the overlay does not know
    rig.attach(R.id);
    expect(rig.peerIds(R.id)).toEqual([]);
    rig.mapper.setPolicy(withShares(base, [share([R])]));
    expect([...rig.told].sort()).toEqual([1, 10]);
    expect(rig.peerIds(R.id)).toEqual([1]);
    expect(rig.peerIds(1)).toEqual([2, 3, 10]);
    expect(rig.built.get(1)!.filter.at(-1)).toEqual({
      src: { shares: [7] },
      ports: [
        { proto: "tcp", first: 22, last: 22 },
        { proto: "tcp", first: 8080, last: 8080 },
      ],
    });
    expect(rig.built.get(R.id)!.filter).toEqual([]);
    expect(rig.built.get(R.id)!.ssh).toEqual([]);
    // The device sees the recipient marked as one (enforcers match it by `shares` alone);
    // the recipient sees the device unmarked.
    expect(rig.built.get(1)!.peers.get(R.id)!.share).toEqual({ acceptanceId: 7 });
    expect(rig.built.get(R.id)!.peers.get(1)!.share).toBeUndefined();
    rig.checkAll();
  });

  it("the share first, then the node: the same maps", () => {
    rig.mapper.setPolicy(withShares(base, [share([R])]));
    rig.mapper.upsertNode(R);
    rig.attach(R.id);
    expect([...rig.told].sort()).toEqual([1]);
    expect(rig.peerIds(R.id)).toEqual([1]);
    rig.checkAll();
  });

  it("revoked: the node removed and the share gone, in either order, leave D as it was", () => {
    const before = rig.mapper.fullMap(1, token);
    for (const nodeFirst of [true, false]) {
      rig.mapper.setPolicy(withShares(base, [share([R])]));
      rig.mapper.upsertNode(R);
      rig.attach(R.id);
      rig.told.clear();
      if (nodeFirst) rig.mapper.removeNode(R.id);
      rig.mapper.setPolicy(withShares(base, []));
      if (!nodeFirst) rig.mapper.removeNode(R.id);
      rig.built.delete(R.id);
      // The recipient, still streaming when the share goes first, loses D before it is removed.
      expect([...rig.told].sort()).toEqual(nodeFirst ? [1] : [1, 10]);
      expect(rig.peerIds(1)).toEqual([2, 3]);
      expect(rig.built.get(1)!.filter).toEqual(before.filter);
      expect(rig.built.get(1)!.ssh).toEqual(before.ssh);
      rig.checkAll();
    }
  });

  it("a second acceptance and a second share on one device, under 'allow all'", () => {
    const all = compiled(ALLOW_ALL, USERS);
    rig.mapper.setPolicy(withShares(all, []));
    const R2 = shareNode(11, 8);
    const R3 = shareNode(12, 9);
    for (const r of [R, R2, R3]) {
      rig.mapper.upsertNode(r);
      rig.attach(r.id);
    }
    const other: ActiveShare = { ...share([R3], []), shareId: "s2", ports: [5432] };
    rig.mapper.setPolicy(withShares(all, [share([R, R2]), other]));
    for (const r of [R, R2, R3]) expect(rig.peerIds(r.id)).toEqual([1]);
    expect(rig.peerIds(1)).toEqual([2, 3, 4, 10, 11, 12]);
    for (const n of [2, 3, 4]) expect(rig.peerIds(n)).toEqual([1, 2, 3, 4].filter((i) => i !== n));
    rig.checkAll();
    // One acceptance ends: only D and that recipient hear of it.
    rig.told.clear();
    rig.mapper.removeNode(R2.id);
    rig.built.delete(R2.id);
    rig.mapper.setPolicy(withShares(all, [share([R]), other]));
    expect([...rig.told]).toEqual([1]);
    expect(rig.peerIds(1)).toEqual([2, 3, 4, 10, 12]);
    rig.checkAll();
  });

  it("seeded: random accepts, revokes, user and policy changes keep every built map equal to its full map", () => {
    const int = seededInts(0x5a4e);
    const docs = [POLICY, ALLOW_ALL];
    let doc = 0;
    let users = [...USERS];
    let docPolicy = compiled(docs[doc]!, users);
    rig.mapper.setPolicy(withShares(docPolicy, []));
    const open = new Map<number, { node: NodeRecord; device: number; ports: number[] }>();
    let nextId = 100;
    const active = (): ActiveShare[] =>
      [...open.values()].map((o) => ({
        shareId: `s${o.node.id}`,
        deviceNodeId: o.device,
        sshUsers: o.ports.includes(22) ? ["alice"] : [],
        ports: o.ports,
        recipients: [
          {
            acceptanceId: o.node.shareAcceptanceId!,
            nodeId: o.node.id,
            addresses: [o.node.ipv4, o.node.ipv6],
          },
        ],
      }));
    const apply = () => {
      const next = withShares(docPolicy, active());
      rig.mapper.setPolicy(next, sameDocumentKeys(rig.mapper.policy, next));
    };
    for (let step = 0; step < 300; step++) {
      const what = int(10);
      if (what < 4 || open.size === 0) {
        const id = nextId++;
        const n = shareNode(id, id + 1000);
        open.set(id, {
          node: n,
          device: 1 + int(4),
          ports: [22, 80, 443].filter(() => int(2) === 0),
        });
        // The service tells the node first, then the shares; either order must do.
        if (int(2) === 0) {
          rig.mapper.upsertNode(n);
          apply();
        } else {
          apply();
          rig.mapper.upsertNode(n);
        }
        if (int(3) > 0) rig.attach(id);
      } else if (what < 7) {
        const ids = [...open.keys()];
        const id = ids[int(ids.length)]!;
        open.delete(id);
        if (int(2) === 0) {
          rig.mapper.removeNode(id);
          apply();
        } else {
          apply();
          rig.mapper.removeNode(id);
        }
        rig.built.delete(id);
      } else if (what < 9) {
        // bob's role flips: the document binds users anew, the overlay stays.
        users = users.map((u) =>
          u.id === 2 ? { ...u, role: u.role === "admin" ? "member" : "admin" } : u,
        );
        docPolicy = docPolicy.withUsers(
          users.map((u) => ({ id: u.id, email: u.email, role: u.role })),
        );
        rig.mapper.upsertUser(users[1]!, withShares(docPolicy, active()));
      } else {
        doc = 1 - doc;
        docPolicy = compiled(docs[doc]!, users);
        rig.mapper.setPolicy(withShares(docPolicy, active()));
      }
      rig.checkAll();
      for (const [id, o] of open) {
        if (rig.built.has(id)) expect(rig.peerIds(id)).toEqual([o.device]);
      }
    }
  });

  it("measures a share change on a mesh of 2,000 nodes (printed, not asserted)", () => {
    const users = Array.from({ length: 500 }, (_, i) => user(i + 1, `u${i + 1}`));
    const nodes = Array.from({ length: 2000 }, (_, i) => {
      const id = i + 1;
      const n = node(id, (i % 500) + 1);
      return { ...n, ipv4: `100.64.${id >> 8}.${id & 255}`, ipv6: `fd00:1::${id.toString(16)}` };
    });
    const big = compiled(POLICY.replace("bob@example.com", "u2@example.com"), users);
    const mapper = new Mapper(withShares(big, []), { domain: "d", relays: [] });
    mapper.load(users, nodes);
    let deliveries = 0;
    mapper.onDeliver(() => deliveries++);
    for (const n of nodes) mapper.attach(n.id);
    const r = { ...shareNode(5000, 1), ipv4: "100.65.0.1", ipv6: "fd00:2::1" };
    mapper.upsertNode(r);
    mapper.attach(r.id);
    const times: Record<"full" | "shares", number[]> = { full: [], shares: [] };
    for (let round = 0; round < 24; round++) {
      const active = round % 2 === 0 ? [{ ...share([r]), deviceNodeId: 1 }] : [];
      const next = withShares(big, active);
      // The policy path as a document change takes it, and as a share change (mesh-changes.ts).
      const path = round < 4 ? "full" : "shares";
      const unchanged = path === "full" ? undefined : sameDocumentKeys(mapper.policy, next);
      const started = performance.now();
      mapper.setPolicy(next, unchanged);
      times[path].push(performance.now() - started);
      expect(mapper.fullMap(1, token).peers.some((p) => p.id === r.id)).toBe(round % 2 === 0);
    }
    // The first rounds include the JIT's warm-up: the median says what a warm server pays.
    const ms = (list: number[]) =>
      `${list.map((t) => t.toFixed(1)).join(", ")} (median ${[...list].sort((a, b) => a - b)[list.length >> 1]!.toFixed(1)})`;
    console.log(
      `share change on 2,000 nodes (500 users, all streaming): setPolicy as a policy change ${ms(times.full)} ms; as a share change ${ms(times.shares)} ms; ${deliveries} deliveries`,
    );
  });
});
