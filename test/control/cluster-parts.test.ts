// The parts of several control servers that need no database: cursors (which ring position a
// cursor resumes from, own changes pulling it back), presence (holders, stale offlines, a
// silent server's nodes, the hello answer, payload bounds) and the decoders of what comes from
// the database (presence payloads and cluster_changes rows), fuzzed with seeded inputs.

import { describe, expect, it } from "vitest";
import { CursorMap } from "../../server/control/cluster/cursor.ts";
import { NOTIFY_PAYLOAD_LIMIT, parseChangeRow } from "../../server/control/cluster/pg-bus.ts";
import { Presence, type PresenceHooks } from "../../server/control/cluster/presence.ts";
import { decodePresence, encodeChanges } from "../../server/control/cluster/presence-wire.ts";
import type { Volatile, VolatileChange } from "../../server/control/state/volatile.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("CursorMap", () => {
  it("names the newest row passed at or before a ring position", () => {
    const cursors = new CursorMap("abc");
    cursors.startAt(10, 0);
    cursors.passed(11, 3);
    cursors.passed(14, 7);
    expect(cursors.cursorAt(0)).toBe("abc-10");
    expect(cursors.cursorAt(6)).toBe("abc-11");
    expect(cursors.cursorAt(7)).toBe("abc-14");
    expect(cursors.cursorAt(100)).toBe("abc-14");
    expect(cursors.parse("abc-14")).toBe(14);
    expect(cursors.parse("xyz-14")).toBeNull();
    expect(cursors.parse("abc-1e3")).toBeNull();
    expect(cursors.parse("abc-")).toBeNull();
  });

  it("resumes from the ring position of a row, null for rows not passed or forgotten", () => {
    const cursors = new CursorMap("t", 3);
    cursors.startAt(5, 0);
    cursors.passed(6, 2);
    cursors.passed(8, 4);
    expect(cursors.localSeqOf(6)).toBe(2);
    expect(cursors.localSeqOf(7)).toBe(2); // a rolled-back number: the row before it
    expect(cursors.localSeqOf(9)).toBeNull(); // not read yet: wait or send a full map
    cursors.passed(9, 6);
    expect(cursors.localSeqOf(5)).toBeNull(); // out of the window of 3
    expect(cursors.localSeqOf(9)).toBe(6);
  });

  it("pulls the resume point back before own changes until a bound read after them passes", () => {
    const cursors = new CursorMap("t");
    cursors.startAt(0, 0);
    // Own change applied at ring 10..12, its row not known; another server's row 1 passed at 15.
    const before = cursors.ticket();
    cursors.ownApplying(10);
    cursors.passed(1, 15);
    expect(cursors.localSeqOf(1)).toBe(10);
    // A newest-row read that started before the change says nothing about it.
    cursors.bound(before, 1);
    expect(cursors.localSeqOf(1)).toBe(10);
    // One read after it: its row is at or before 2.
    cursors.bound(cursors.ticket(), 2);
    expect(cursors.localSeqOf(1)).toBe(10); // row 2 is after the cursor: still resent
    cursors.passed(2, 16);
    expect(cursors.localSeqOf(2)).toBe(16); // the node has row 2 itself
    // A later own change pulls back every cursor until bounded.
    const ticket = cursors.ticket();
    cursors.ownApplying(20);
    expect(cursors.localSeqOf(2)).toBe(16); // applied after the ring reached 16: nothing to add
    cursors.passed(3, 25);
    expect(cursors.localSeqOf(3)).toBe(20);
    cursors.bound(ticket + 1, 3);
    expect(cursors.localSeqOf(3)).toBe(25);
  });
});

function hooks(known: Set<number>) {
  const patched: [number, VolatileChange][] = [];
  const claimed: number[] = [];
  const orphaned: number[] = [];
  const held: [number, Volatile][] = [];
  const h: PresenceHooks = {
    patch(nodeId, change) {
      if (!known.has(nodeId)) return false;
      patched.push([nodeId, change]);
      return true;
    },
    claimedElsewhere: (nodeId) => claimed.push(nodeId),
    held: () => held,
    orphaned: (nodeId) => orphaned.push(nodeId),
  };
  return { h, patched, claimed, orphaned, held };
}

describe("Presence", () => {
  it("tracks holders: a stale offline is ignored, a node taken elsewhere ends here", () => {
    let now = 1000;
    const sent: string[] = [];
    const t = hooks(new Set([1, 2]));
    const p = new Presence({
      serverId: "a",
      hooks: t.h,
      send: async (payload) => void sent.push(payload),
      now: () => now,
    });
    p.local(1, { online: true });
    expect(p.holder(1)).toBe("a");
    // Server b took node 1: this server's stream of it must end.
    p.received(JSON.stringify({ t: "p", s: "b", n: [[1, { online: true, lastSeen: 5 }]] }));
    expect(t.claimed).toEqual([1]);
    expect(p.holder(1)).toBe("b");
    expect(p.mayMarkOffline(1)).toBe(false);
    // A late offline from c, which does not hold it, changes nothing.
    p.received(JSON.stringify({ t: "p", s: "c", n: [[1, { online: false }]] }));
    expect(t.patched).toEqual([[1, { online: true, lastSeen: 5 }]]);
    // b goes silent: its node goes offline at b's last word, and is orphaned.
    now += 20_000;
    p.tick();
    expect(t.patched.at(-1)).toEqual([1, { online: false, lastSeen: 1000 }]);
    expect(t.orphaned).toEqual([1]);
    expect(p.holder(1)).toBeUndefined();
    // A change for a node not known yet waits for it.
    p.received(JSON.stringify({ t: "p", s: "d", n: [[3, { online: true }]] }));
    expect(t.patched.some(([id]) => id === 3)).toBe(false);
  });

  it("answers a hello with what it holds, in payloads under the limit", async () => {
    const sent: string[] = [];
    const t = hooks(new Set());
    for (let id = 1; id <= 400; id++) {
      t.held.push([
        id,
        {
          online: true,
          lastSeen: 1,
          endpoints: ["[2001:db8::1234]:41641", "192.0.2.1:41641"],
          homeRelay: "r",
        },
      ]);
    }
    const p = new Presence({
      serverId: "a",
      hooks: t.h,
      send: async (x) => void sent.push(x),
      now: () => 0,
    });
    p.received(JSON.stringify({ t: "hello", s: "b" }));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sent.length).toBeGreaterThan(1);
    let count = 0;
    for (const payload of sent) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_LIMIT);
      const message = decodePresence(payload);
      expect(message?.t).toBe("p");
      if (message?.t === "p") count += message.n.length;
    }
    expect(count).toBe(400);
  });

  it("ignores its own messages and counts malformed ones", () => {
    const t = hooks(new Set([1]));
    const p = new Presence({ serverId: "a", hooks: t.h, send: async () => {}, now: () => 0 });
    p.received(JSON.stringify({ t: "p", s: "a", n: [[1, { online: true }]] }));
    p.received("not json");
    p.received(JSON.stringify({ t: "p", s: "b", n: [[0, {}]] }));
    p.received(JSON.stringify({ t: "p", s: "b", n: [[1, { online: "yes" }]] }));
    expect(t.patched).toEqual([]);
    expect(p.malformed).toBe(3);
  });
});

describe("decoders of what the database carries (seeded fuzz)", () => {
  const valid = [
    JSON.stringify({ t: "p", s: "srv-1", n: [[7, { online: true, endpoints: ["192.0.2.1:1"] }]] }),
    JSON.stringify({ t: "hello", s: "srv-1" }),
    JSON.stringify({ t: "alive", s: "x" }),
  ];

  it("decodePresence never throws and accepts only what the schema says (20,000 inputs)", () => {
    const int = seededInts(1818);
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const base = valid[int(valid.length)]!;
      const chars = [...base];
      const edits = 1 + int(4);
      for (let e = 0; e < edits; e++) {
        const at = int(chars.length + 1);
        const kind = int(3);
        const ch = String.fromCharCode(32 + int(95));
        if (kind === 0) chars.splice(at, 1);
        else if (kind === 1) chars.splice(at, 0, ch);
        else chars[at] = ch;
      }
      const message = decodePresence(chars.join(""));
      if (message !== null) {
        accepted++;
        expect(["p", "hello", "alive"]).toContain(message.t);
        expect(message.s).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it("parseChangeRow refuses rows no server writes", () => {
    expect(parseChangeRow({ seq: "4", kind: "node", node_id: "9", origin: "a" })).toEqual({
      seq: 4,
      kind: "node",
      nodeId: 9,
      origin: "a",
    });
    expect(
      parseChangeRow({
        seq: 5,
        kind: "removed",
        node_id: 2,
        refusal: JSON.stringify({ code: "share_revoked", message: "gone" }),
        origin: "b",
      }).refusal,
    ).toEqual({ code: "share_revoked", message: "gone" });
    expect(() => parseChangeRow({ seq: 0, kind: "node", node_id: 1 })).toThrow(/bad seq/);
    expect(() => parseChangeRow({ seq: 3, kind: "drop table", node_id: 1 })).toThrow(
      /unknown kind/,
    );
    expect(() => parseChangeRow({ seq: 3, kind: "node" })).toThrow(/without a node id/);
    expect(() => parseChangeRow({ seq: 3, kind: "user" })).toThrow(/without a user id/);
  });

  it("encodeChanges round-trips through decodePresence", () => {
    const items: [number, VolatileChange][] = [
      [1, { online: true, lastSeen: null }],
      [2, { endpoints: [] }],
      [3, { homeRelay: "eu" }],
    ];
    const [payload] = encodeChanges("s", items);
    const message = decodePresence(payload!);
    expect(message).toEqual({ t: "p", s: "s", n: items });
  });
});
