// Presence across control servers, driven directly (no database): changes waiting for a node
// never land over newer ones, claims carry attach times (a late hello answer from a stale
// stream takes nothing), a server declared dead but alive is asked again for what it holds and
// only the leader orphans, payloads are bounded in bytes, removed nodes are forgotten.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { NOTIFY_PAYLOAD_LIMIT } from "../../server/control/cluster/pg-bus.ts";
import { Presence, type PresenceHooks } from "../../server/control/cluster/presence.ts";
import {
  decodePresence,
  encodeChanges,
  type PresenceEntry,
} from "../../server/control/cluster/presence-wire.ts";
import type { Volatile, VolatileChange } from "../../server/control/state/volatile.ts";

/** A Presence with recording hooks; `known` nodes accept patches, `held` is what the hub holds. */
function member(serverId: string, options: { known?: number[]; leading?: () => boolean } = {}) {
  const known = new Set(options.known ?? []);
  const patched: [number, VolatileChange][] = [];
  const claimed: number[] = [];
  const orphaned: number[] = [];
  const held = new Map<number, [Volatile, number]>();
  const sent: string[] = [];
  const clock = { now: 1000 };
  const hooks: PresenceHooks = {
    patch(nodeId, change) {
      if (!known.has(nodeId)) return false;
      patched.push([nodeId, change]);
      return true;
    },
    claimedElsewhere(nodeId) {
      claimed.push(nodeId);
      held.delete(nodeId); // the hub closes its stream
    },
    *held() {
      for (const [nodeId, [facts, at]] of held) yield [nodeId, facts, at];
    },
    orphaned: (nodeId) => orphaned.push(nodeId),
  };
  const presence = new Presence({
    serverId,
    hooks,
    send: async (payload) => void sent.push(payload),
    now: () => clock.now,
    leading: options.leading,
  });
  return { presence, known, patched, claimed, orphaned, held, sent, clock };
}

const p = (s: string, n: PresenceEntry[]) => JSON.stringify({ t: "p", s, n });
const facts = (endpoints: string[]): Volatile => ({
  online: true,
  lastSeen: 1,
  endpoints,
  homeRelay: "r1",
});

/** The entries of every "p" payload in `sent`. */
function entries(sent: string[]): PresenceEntry[] {
  const out: PresenceEntry[] = [];
  for (const payload of sent) {
    const message = decodePresence(payload);
    if (message?.t === "p") out.push(...(message.n as PresenceEntry[]));
  }
  return out;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Presence: waiting changes", () => {
  it("never applies a waiting change over a newer one of the node", () => {
    const a = member("a");
    a.presence.received(p("b", [[5, { online: true, endpoints: [] }, 10]]));
    expect(a.patched).toEqual([]); // node 5 not known yet: waits
    a.known.add(5);
    a.presence.received(p("b", [[5, { online: false, endpoints: ["192.0.2.1:1"] }]]));
    // The newer patch lands with the waiting one under it, and the waiting one is gone.
    expect(a.patched).toEqual([[5, { online: false, endpoints: ["192.0.2.1:1"] }]]);
    a.presence.tick();
    expect(a.patched).toHaveLength(1);
  });

  it("applies a waiting change on the heartbeat, and drops one from a server no longer holding", () => {
    const a = member("a");
    a.presence.received(p("b", [[6, { online: true, homeRelay: "x" }, 10]]));
    a.presence.received(p("b", [[7, { online: true }, 10]]));
    a.presence.received(p("c", [[7, { online: true, homeRelay: "y" }, 20]])); // c took 7 later
    a.known.add(6).add(7);
    a.presence.tick();
    // 7 gets c's facts alone: b's, older, were dropped when c's claim came.
    expect(a.patched).toEqual([
      [6, { online: true, homeRelay: "x" }],
      [7, { online: true, homeRelay: "y" }],
    ]);
    a.presence.tick();
    expect(a.patched).toHaveLength(2);
  });

  it("applies a waiting change as soon as the node is known, not at the next heartbeat", () => {
    const a = member("a");
    a.presence.received(p("b", [[9, { online: true, endpoints: ["192.0.2.9:1"] }, 10]]));
    expect(a.patched).toEqual([]);
    a.known.add(9);
    a.presence.nodeKnown(9); // the follower applied node 9's row
    expect(a.patched).toEqual([[9, { online: true, endpoints: ["192.0.2.9:1"] }]]);
    a.presence.nodeKnown(9);
    a.presence.tick();
    expect(a.patched).toHaveLength(1);
  });

  it("drops a waiting change once this server holds the node", () => {
    const a = member("a");
    a.presence.received(p("b", [[8, { online: true }, 10]]));
    a.known.add(8);
    a.presence.local(8, { online: true, lastSeen: 2000 }, 2000);
    a.presence.tick();
    expect(a.patched).toEqual([]);
    expect(a.presence.holder(8)).toBe("a");
  });
});

describe("Presence: attach times", () => {
  it("sends online claims with their attach time, in changes and in hello answers", async () => {
    const a = member("a");
    a.presence.local(1, { online: true, lastSeen: 2000 }, 2000);
    a.presence.local(1, { endpoints: ["192.0.2.1:1"] });
    await vi.advanceTimersByTimeAsync(50);
    expect(entries(a.sent)).toEqual([
      [1, { online: true, lastSeen: 2000, endpoints: ["192.0.2.1:1"] }, 2000],
    ]);
    a.sent.length = 0;
    a.held.set(1, [facts(["192.0.2.1:1"]), 2000]);
    a.presence.received(JSON.stringify({ t: "hello", s: "b" }));
    await vi.advanceTimersByTimeAsync(0);
    expect(entries(a.sent)).toEqual([[1, facts(["192.0.2.1:1"]), 2000]]);
  });

  it("gives up a stream only to a newer claim (ties: the higher server id)", () => {
    const b = member("b", { known: [1] });
    b.presence.local(1, { online: true }, 2000);
    b.presence.received(p("a", [[1, { online: true, endpoints: ["old"] }, 1000]]));
    expect(b.claimed).toEqual([]); // older: ignored, facts and all
    expect(b.patched).toEqual([]);
    expect(b.presence.holder(1)).toBe("b");
    b.presence.received(p("a", [[1, { online: true }, 2000]])); // tie, "a" < "b"
    expect(b.presence.holder(1)).toBe("b");
    b.presence.received(p("c", [[1, { online: true }, 2000]])); // tie, "c" > "b"
    expect(b.claimed).toEqual([1]);
    expect(b.presence.holder(1)).toBe("c");
    // An older claim after the newer one does not take it back, nor does c's rival's offline.
    b.presence.received(p("a", [[1, { online: true }, 1500]]));
    b.presence.received(p("a", [[1, { online: false }]]));
    expect(b.presence.holder(1)).toBe("c");
    expect(b.patched).toEqual([[1, { online: true }]]);
  });

  it("makes its own claim newer than any heard, whatever its clock says", async () => {
    const a = member("a", { known: [1] });
    a.presence.received(p("b", [[1, { online: true }, 5000]]));
    a.presence.local(1, { online: true }, 4000); // the node came here after, a's clock behind
    await vi.advanceTimersByTimeAsync(50);
    expect(entries(a.sent)).toEqual([[1, { online: true }, 5001]]);
    a.held.set(1, [facts([]), 4000]);
    a.sent.length = 0;
    a.presence.received(JSON.stringify({ t: "hello", s: "c" }));
    await vi.advanceTimersByTimeAsync(0);
    expect(entries(a.sent)[0]?.[2]).toBe(5001);
  });

  it("a late hello answer from a stale stream's server ends nothing; the offline still comes", async () => {
    // A holds an old, half-open stream of node 1 (attached at 1000); the node attaches on B.
    const a = member("a", { known: [1] });
    const b = member("b", { known: [1] });
    a.presence.local(1, { online: true }, 1000);
    a.held.set(1, [facts([]), 1000]);
    await vi.advanceTimersByTimeAsync(50);
    for (const payload of a.sent.splice(0)) b.presence.received(payload);
    b.claimed.length = 0;
    b.clock.now = 3000;
    b.presence.local(1, { online: true }, 3000);
    b.held.set(1, [facts(["192.0.2.9:1"]), 3000]);
    // Someone said hello: A answers before it hears B's claim, and B's answer crosses it.
    a.presence.received(JSON.stringify({ t: "hello", s: "c" }));
    await vi.advanceTimersByTimeAsync(50);
    const fromA = a.sent.splice(0);
    for (const payload of b.sent.splice(0)) a.presence.received(payload);
    for (const payload of fromA) b.presence.received(payload);
    expect(a.claimed).toEqual([1]); // A closes its stale stream
    expect(b.claimed).toEqual([]); // B keeps its new one
    expect(a.presence.holder(1)).toBe("b");
    expect(b.presence.holder(1)).toBe("b");
    expect(a.presence.mayMarkOffline(1)).toBe(false);
    // B's stream ends: its offline reaches A.
    b.presence.local(1, { online: false, lastSeen: 4000 });
    await vi.advanceTimersByTimeAsync(50);
    for (const payload of b.sent.splice(0)) a.presence.received(payload);
    expect(a.patched.at(-1)).toEqual([1, { online: false, lastSeen: 4000 }]);
    expect(a.presence.holder(1)).toBeUndefined();
  });
});

describe("Presence: a server declared dead but alive", () => {
  it("orphans only on the leader, and asks a server heard from again for what it holds", () => {
    let leading = false;
    const a = member("a", { known: [1], leading: () => leading });
    a.presence.received(p("b", [[1, { online: true }, 500]]));
    a.clock.now += 20_000;
    a.presence.tick();
    expect(a.patched.at(-1)).toEqual([1, { online: false, lastSeen: 1000 }]);
    expect(a.orphaned).toEqual([]); // not the leader: the leader's sweep does it
    expect(a.presence.holder(1)).toBeUndefined();
    // b was only stalled: its next word gets a re-announce request, and its answer restores 1.
    a.sent.length = 0;
    a.presence.received(JSON.stringify({ t: "alive", s: "b" }));
    expect(a.sent.map((x) => JSON.parse(x))).toContainEqual({ t: "hello", s: "a", to: "b" });
    a.presence.received(p("b", [[1, { online: true }, 500]]));
    expect(a.presence.holder(1)).toBe("b");
    expect(a.claimed).toEqual([1, 1]); // its removal, if pending, is called off
    expect(a.presence.mayMarkOffline(1)).toBe(false);
    // The leader orphans.
    leading = true;
    a.clock.now += 20_000;
    a.presence.tick();
    expect(a.orphaned).toEqual([1]);
  });

  it("answers a hello meant for it or for all, not one meant for another", async () => {
    const a = member("a");
    a.held.set(1, [facts([]), 10]);
    a.presence.received(JSON.stringify({ t: "hello", s: "b", to: "c" }));
    await vi.advanceTimersByTimeAsync(0);
    expect(entries(a.sent)).toEqual([]);
    a.presence.received(JSON.stringify({ t: "hello", s: "b", to: "a" }));
    await vi.advanceTimersByTimeAsync(0);
    expect(entries(a.sent)).toHaveLength(1);
  });

  it("asks no server again right after asking every server", () => {
    const a = member("a");
    a.presence.rejoined();
    a.sent.length = 0;
    a.presence.received(JSON.stringify({ t: "alive", s: "b" }));
    expect(a.sent.some((x) => x.includes('"to"'))).toBe(false);
  });
});

describe("Presence: payload bytes and forgetting", () => {
  it("keeps every payload within the limit in bytes, with multi-byte strings", async () => {
    const items: PresenceEntry[] = [];
    for (let id = 1; id <= 200; id++) {
      items.push([id, { online: true, endpoints: ["€".repeat(64), "😀".repeat(32)] }, id]);
    }
    const payloads = encodeChanges("a", items);
    expect(payloads.length).toBeGreaterThan(1);
    for (const payload of payloads) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_LIMIT);
    }
    expect(entries(payloads)).toEqual(items);
    // One entry too large for any payload is left out; the flush goes on.
    const small = encodeChanges(
      "a",
      [
        [1, { homeRelay: "€".repeat(64) }],
        [2, { online: true }],
      ],
      100,
    );
    expect(entries(small)).toEqual([[2, { online: true }]]);
    // Through a flush.
    const a = member("a");
    for (let id = 1; id <= 100; id++) a.presence.local(id, { homeRelay: "€".repeat(64) });
    await vi.advanceTimersByTimeAsync(50);
    expect(a.sent.length).toBeGreaterThan(1);
    for (const payload of a.sent) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(NOTIFY_PAYLOAD_LIMIT);
    }
    expect(entries(a.sent)).toHaveLength(100);
  });

  it("forgets a removed node's holder and waiting change", () => {
    const a = member("a");
    a.presence.received(p("b", [[1, { online: true }, 10]]));
    a.presence.local(2, { online: true }, 20);
    expect(a.presence.holder(1)).toBe("b");
    a.presence.forget(1);
    a.presence.forget(2);
    expect(a.presence.holder(1)).toBeUndefined();
    expect(a.presence.holder(2)).toBeUndefined();
    a.known.add(1);
    a.presence.tick();
    expect(a.patched).toEqual([]);
  });
});
