// The client-side map: full maps and deltas applied in order, sequence gaps detected, peers by
// id, key and name, names resolved as NAME and NAME.<domain>, and a diff per application that
// names exactly what changed (so the engine leaves unchanged peers alone).

import { describe, expect, it } from "vitest";
import { ControlProtocolError } from "../../worker/control/errors.ts";
import { diffIsEmpty, MapState, SequenceGapError } from "../../worker/control/map-state.ts";
import type { DeltaMessage, MapMessage } from "../../worker/control/messages.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { fullDelta, key, mapMessage, networkMap, peer } from "./codec-fixtures.ts";

function started(n = 3, seq = 10): MapState {
  const state = new MapState();
  state.apply(mapMessage(n, seq, "s-1"));
  return state;
}

function delta(seq: number, fields: Omit<DeltaMessage, "type" | "seq"> = {}): DeltaMessage {
  return { type: "delta", seq, ...fields };
}

function errorOf(fn: () => unknown): ControlProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ControlProtocolError);
    return error as ControlProtocolError;
  }
  throw new Error("nothing thrown");
}

describe("full maps", () => {
  it("the first map adds every peer and marks every rule set as new", () => {
    const state = new MapState();
    expect(state.ready).toBe(false);
    expect(state.resumePoint()).toBeUndefined();
    const diff = state.apply(mapMessage(3, 10, "s-1"));
    expect(diff.full).toBe(true);
    expect(diff.seq).toBe(10);
    expect(diff.peersAdded.map((p) => p.id)).toEqual([2, 3, 4]);
    expect(diff.peersRemoved).toEqual([]);
    expect(diff.peersChanged).toEqual([]);
    expect([diff.filterChanged, diff.sshChanged, diff.relaysChanged, diff.tokenChanged]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(state.ready).toBe(true);
    expect(state.resumePoint()).toEqual({ session: "s-1", seq: 10 });
    expect(state.self.id).toBe(1);
    expect([...state.peers.keys()]).toEqual([2, 3, 4]);
    expect(state.snapshot()).toEqual(networkMap(3));
  });

  it("a later full map (a resync) reports only what differs from the state before it", () => {
    const state = started(3);
    const next = mapMessage(3, 3, "s-2");
    next.map.peers[0] = peer(2, { online: false });
    next.map.peers.splice(1, 1); // peer 3 gone
    next.map.peers.push(peer(9));
    next.map.token = { token: "a.b", expiresAt: 5 };
    const diff = state.apply(next);
    expect(diff.full).toBe(true);
    expect(diff.peersAdded.map((p) => p.id)).toEqual([9]);
    expect(diff.peersRemoved.map((p) => p.id)).toEqual([3]);
    expect(diff.peersChanged).toEqual([
      { before: peer(2), after: peer(2, { online: false }), fields: ["online"] },
    ]);
    expect(diff.selfChanged).toEqual([]);
    expect(diff.filterChanged || diff.sshChanged || diff.relaysChanged || diff.domainChanged).toBe(
      false,
    );
    expect(diff.tokenChanged).toBe(true);
    expect(state.resumePoint()).toEqual({ session: "s-2", seq: 3 });
  });

  it("the same full map again changes nothing", () => {
    const state = started(3);
    expect(diffIsEmpty(state.apply(mapMessage(3, 11, "s-1")))).toBe(true);
  });
});

describe("deltas", () => {
  it("apply upserts, removals, patches, self and rules, and report each", () => {
    const state = started(3, 10);
    const diff = state.apply(fullDelta(11));
    expect(diff.full).toBe(false);
    expect(diff.seq).toBe(11);
    expect(diff.peersAdded.map((p) => p.id)).toEqual([50]);
    expect(diff.peersRemoved.map((p) => p.id)).toEqual([2]);
    expect(diff.peersChanged.map((c) => [c.after.id, c.fields])).toEqual([
      [3, ["name"]],
      [4, ["online", "lastSeen", "endpoints", "homeRelay"]],
    ]);
    expect(diff.selfChanged).toEqual(["name"]);
    expect(diff.filterChanged && diff.sshChanged && diff.relaysChanged && diff.tokenChanged).toBe(
      true,
    );
    expect(diff.domainChanged).toBe(false);
    expect(state.peerById(2)).toBeUndefined();
    expect(state.peerById(4)).toEqual({
      ...peer(4),
      online: false,
      lastSeen: 1_770_000_000_000,
      endpoints: [],
      homeRelay: "",
    });
    expect(state.filter).toEqual([]);
    expect(state.seq).toBe(11);
    expect(state.resumePoint()).toEqual({ session: "s-1", seq: 11 });
  });

  it("a patch with the values already known, or for an unknown id, changes nothing", () => {
    const state = started(3, 10);
    const diff = state.apply(
      delta(11, {
        patches: [
          { id: 2, online: true },
          { id: 999, online: false },
        ],
      }),
    );
    expect(diffIsEmpty(diff)).toBe(true);
    expect(state.seq).toBe(11);
  });

  it("a patch only sets the fields it carries", () => {
    const state = started(3, 10);
    const diff = state.apply(delta(11, { patches: [{ id: 3, lastSeen: null }] }));
    expect(diff.peersChanged.map((c) => c.fields)).toEqual([["lastSeen"]]);
    expect(state.peerById(3)).toEqual({ ...peer(3), lastSeen: null });
  });

  it("a patch of this node's own id changes self", () => {
    const state = started(3, 10);
    const diff = state.apply(delta(11, { patches: [{ id: 1, endpoints: ["192.0.2.200:1"] }] }));
    expect(diff.selfChanged).toEqual(["endpoints"]);
    expect(diff.peersChanged).toEqual([]);
    expect(state.self.endpoints).toEqual(["192.0.2.200:1"]);
  });

  it("a peer removed and upserted in one delta is a change, not a removal and an addition", () => {
    const state = started(3, 10);
    const diff = state.apply(
      delta(11, { peersRemoved: [3], peersUpserted: [peer(3, { tags: ["tag:db"] })] }),
    );
    expect(diff.peersAdded).toEqual([]);
    expect(diff.peersRemoved).toEqual([]);
    expect(diff.peersChanged.map((c) => [c.after.id, c.fields])).toEqual([[3, ["tags"]]]);
  });

  it("rules sent again unchanged are not reported", () => {
    const state = started(3, 10);
    const map = networkMap(3);
    const diff = state.apply(delta(11, { filter: map.filter, ssh: map.ssh, token: map.token }));
    expect(diffIsEmpty(diff)).toBe(true);
  });

  it("an upsert of an unchanged peer is not reported", () => {
    const state = started(3, 10);
    expect(diffIsEmpty(state.apply(delta(11, { peersUpserted: [peer(2)] })))).toBe(true);
  });
});

describe("sequence", () => {
  it("a gap is a SequenceGapError: the state asks for a full map but keeps its data", () => {
    const state = started(3, 10);
    state.apply(delta(11));
    const error = errorOf(() => state.apply(delta(13, { peersRemoved: [2] })));
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error.message).toBe("seq: expected 12, got 13: reconnect and resume");
    expect((error as SequenceGapError).expected).toBe(12);
    expect((error as SequenceGapError).got).toBe(13);
    expect(state.ready).toBe(false);
    expect(state.resumePoint()).toBeUndefined();
    expect(state.peerById(2)).toEqual(peer(2));
    expect(errorOf(() => state.apply(delta(12))).message).toBe("type: a delta before a full map");
    // The resync's diff is against the data kept.
    const diff = state.apply(mapMessage(3, 0, "s-2"));
    expect(diffIsEmpty(diff)).toBe(true);
    expect(state.resumePoint()).toEqual({ session: "s-2", seq: 0 });
  });

  it("a repeated sequence number is a gap too", () => {
    const state = started(3, 10);
    expect(errorOf(() => state.apply(delta(10))).message).toBe(
      "seq: expected 11, got 10: reconnect and resume",
    );
  });

  it("a delta before any map is refused", () => {
    expect(errorOf(() => new MapState().apply(delta(1))).message).toBe(
      "type: a delta before a full map",
    );
  });

  it("forgetSession asks for a full map without dropping data", () => {
    const state = started(3, 10);
    state.forgetSession();
    expect(state.resumePoint()).toBeUndefined();
    expect(state.peers.size).toBe(3);
  });
});

describe("names and keys", () => {
  it("resolves NAME and NAME.<domain>, ignoring case and a trailing dot, self included", () => {
    const state = started(3);
    const addresses = peer(3).addresses;
    for (const name of ["node-3", "NODE-3", "node-3.mesh.example", "Node-3.Mesh.Example."]) {
      expect(state.resolve(name)).toEqual(addresses);
    }
    expect(state.resolve("node-1")).toEqual(peer(1).addresses);
    expect(state.resolve("node-3.other.example")).toBeUndefined();
    expect(state.resolve("node-99")).toBeUndefined();
    expect(state.resolve("mesh.example")).toBeUndefined();
    expect(state.nodeByName("node-4")?.id).toBe(4);
  });

  it("finds peers by key but not this node", () => {
    const state = started(3);
    expect(state.peerByKey(key(3))?.id).toBe(3);
    expect(state.peerByKey(key(1))).toBeUndefined();
    expect(state.peerByKey(key(77))).toBeUndefined();
  });

  it("follows renames, key rotations and removals", () => {
    const state = started(3, 10);
    state.apply(
      delta(11, {
        peersUpserted: [peer(3, { name: "db", key: key(33) })],
        peersRemoved: [4],
      }),
    );
    expect(state.resolve("node-3")).toBeUndefined();
    expect(state.resolve("db")).toEqual(peer(3).addresses);
    expect(state.peerByKey(key(3))).toBeUndefined();
    expect(state.peerByKey(key(33))?.id).toBe(3);
    expect(state.resolve("node-4")).toBeUndefined();
    expect(state.peerByKey(key(4))).toBeUndefined();
  });

  it("two peers may swap names in one delta", () => {
    const state = started(3, 10);
    const diff = state.apply(
      delta(11, { peersUpserted: [peer(2, { name: "node-3" }), peer(3, { name: "node-2" })] }),
    );
    expect(diff.peersChanged.map((c) => [c.after.id, c.fields])).toEqual([
      [2, ["name"]],
      [3, ["name"]],
    ]);
    expect(state.nodeByName("node-3")?.id).toBe(2);
    expect(state.nodeByName("node-2")?.id).toBe(3);
  });

  it("a peer may take this node's old name in the delta that renames this node", () => {
    const state = started(3, 10);
    state.apply(
      delta(11, {
        self: peer(1, { os: "browser", ephemeral: true, name: "me" }),
        peersUpserted: [peer(2, { name: "node-1" })],
      }),
    );
    expect(state.nodeByName("node-1")?.id).toBe(2);
    expect(state.nodeByName("me")?.id).toBe(1);
  });

  it("self renamed through `self` resolves under its new name", () => {
    const state = started(3, 10);
    state.apply(delta(11, { self: peer(1, { os: "browser", ephemeral: true, name: "me" }) }));
    expect(state.resolve("me")).toEqual(peer(1).addresses);
    expect(state.resolve("node-1")).toBeUndefined();
  });
});

describe("contradictions", () => {
  const cases: [string, DeltaMessage, string][] = [
    [
      "a key another peer holds",
      delta(11, { peersUpserted: [peer(9, { key: key(2) })] }),
      `peersUpserted[0].key: ${key(2)} is the key of node 2`,
    ],
    [
      "this node's key",
      delta(11, { peersUpserted: [peer(9, { key: key(1) })] }),
      `peersUpserted[0].key: ${key(1)} is the key of node 1`,
    ],
    [
      "a name another node holds, in another case",
      delta(11, { peersUpserted: [peer(9, { name: "NODE-1" })] }),
      'peersUpserted[0].name: "NODE-1" is the name of node 1',
    ],
    [
      "this node's own id as a peer",
      delta(11, { peersUpserted: [peer(1)] }),
      "peersUpserted[0].id: 1 is this node's own id",
    ],
    ["a self with another id", delta(11, { self: peer(5) }), "self.id: 5 is not this node's id 1"],
  ];
  for (const [what, message, expected] of cases) {
    it(`refuses ${what} and asks for a full map`, () => {
      const state = started(3, 10);
      expect(errorOf(() => state.apply(message)).message).toBe(expected);
      expect(state.ready).toBe(false);
      expect(state.resumePoint()).toBeUndefined();
      // A full map repairs it.
      state.apply(mapMessage(3, 1, "s-3"));
      expect(state.ready).toBe(true);
      expect(state.nodeByName("node-2")?.id).toBe(2);
    });
  }

  it("refuses a delta that would hold more than 100,000 peers", () => {
    const state = new MapState();
    const big: MapMessage = mapMessage(0, 1);
    const peers: PeerView[] = [];
    for (let i = 0; i < 100_000; i++)
      peers.push({ ...peer(2), id: 10 + i, key: `k${i}`, name: `n${i}` });
    big.map.peers = peers;
    state.apply(big);
    expect(state.peers.size).toBe(100_000);
    expect(errorOf(() => state.apply(delta(2, { peersUpserted: [peer(2)] }))).message).toBe(
      "peersUpserted: the map would hold 100001 peers, over the limit of 100000",
    );
  });
});
