// The pieces under the mapper: coalescing of pending deltas (latest wins per peer and field),
// the bounded outbox (one delta per turn, held back while the socket is busy, 4429 when the
// coalesced backlog still overflows), the change ring, and map sessions for resume.

import { afterEach, describe, expect, it, vi } from "vitest";
import { Outbox, type OutboxSink } from "../../server/control/mapper/outbox.ts";
import { PendingDelta } from "../../server/control/mapper/pending-delta.ts";
import { peerView } from "../../server/control/mapper/views.ts";
import { ChangeLog } from "../../server/control/state/change-log.ts";
import { SessionTable } from "../../server/control/state/sessions.ts";
import type { DeltaMessage } from "../../worker/control/messages.ts";
import { node, user } from "./mapper-fixture.ts";

const offline = { online: false, lastSeen: null, endpoints: [], homeRelay: "" };
const view = (id: number, name = `n${id}`) =>
  peerView(node(id, 1, name), user(1, "alice"), offline);

describe("PendingDelta", () => {
  it("keeps the latest value per peer and per field", () => {
    const pending = new PendingDelta();
    pending.add({ patches: [{ id: 7, online: true, endpoints: ["192.0.2.1:1"] }] });
    pending.add({
      patches: [
        { id: 7, endpoints: ["192.0.2.1:2"] },
        { id: 8, homeRelay: "eu" },
      ],
    });
    pending.add({ patches: [{ id: 7, online: false }] });
    expect(pending.entries).toBe(2);
    expect(pending.take(5)).toEqual({
      type: "delta",
      seq: 5,
      patches: [
        { id: 7, online: false, endpoints: ["192.0.2.1:2"] },
        { id: 8, homeRelay: "eu" },
      ],
    });
    expect(pending.empty).toBe(true);
  });

  it("folds patches into a pending upsert, and a removal wins over both until re-added", () => {
    const pending = new PendingDelta();
    pending.add({ patches: [{ id: 1, online: true }] });
    pending.add({ peersUpserted: [view(1, "renamed")] }); // the view holds the volatile state
    pending.add({ patches: [{ id: 1, endpoints: ["192.0.2.9:9"] }] });
    pending.add({ peersUpserted: [view(2)] });
    pending.add({ peersRemoved: [2] });
    pending.add({ patches: [{ id: 2, online: true }] }); // for a peer already gone: dropped
    pending.add({ peersRemoved: [3] });
    pending.add({ peersUpserted: [view(3)] });
    pending.add({ filter: [] });
    pending.add({ token: { token: "a", expiresAt: 1 } });
    pending.add({ token: { token: "b", expiresAt: 2 } });
    const delta = pending.take(1);
    expect(delta.peersUpserted?.map((p) => [p.id, p.name, p.endpoints])).toEqual([
      [1, "renamed", ["192.0.2.9:9"]],
      [3, "n3", []],
    ]);
    expect(delta.peersRemoved).toEqual([2]);
    expect(delta.patches).toBeUndefined();
    expect(delta.filter).toEqual([]);
    expect(delta.token).toEqual({ token: "b", expiresAt: 2 });
  });
});

class FakeSink implements OutboxSink {
  bufferedAmount = 0;
  readonly messages: DeltaMessage[] = [];
  send(text: string): void {
    this.messages.push(JSON.parse(text) as DeltaMessage);
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function outbox(sink: FakeSink, maxPendingEntries = 3, minIntervalMs = 0) {
  let seq = 1;
  const covered: number[] = [];
  let overflows = 0;
  const box = new Outbox(
    sink,
    { highWaterBytes: 1000, maxPendingEntries, minIntervalMs },
    (globalSeq) => {
      covered.push(globalSeq);
      return ++seq;
    },
    () => overflows++,
  );
  return { box, covered, overflows: () => overflows };
}

describe("Outbox", () => {
  it("sends the changes of one turn as one delta, numbered after the session's last", async () => {
    const sink = new FakeSink();
    const { box, covered } = outbox(sink);
    box.add({ patches: [{ id: 1, online: true }] }, 10);
    box.add({ patches: [{ id: 2, online: true }] }, 11);
    expect(sink.messages).toEqual([]);
    await turn();
    expect(sink.messages).toEqual([
      {
        type: "delta",
        seq: 2,
        patches: [
          { id: 1, online: true },
          { id: 2, online: true },
        ],
      },
    ]);
    expect(covered).toEqual([11]);
  });

  it("holds back while the socket is busy, coalescing, and sends one delta when it drains", async () => {
    const sink = new FakeSink();
    const { box, overflows } = outbox(sink);
    sink.bufferedAmount = 5000;
    for (let i = 0; i < 100; i++) box.add({ patches: [{ id: 1 + (i % 3), lastSeen: i }] }, 20 + i);
    await turn();
    expect(sink.messages).toEqual([]);
    expect(box.waiting).toBe(3);
    sink.bufferedAmount = 0;
    box.flush();
    expect(sink.messages).toEqual([
      {
        type: "delta",
        seq: 2,
        patches: [
          { id: 1, lastSeen: 99 },
          { id: 2, lastSeen: 97 },
          { id: 3, lastSeen: 98 },
        ],
      },
    ]);
    expect(overflows()).toBe(0);
  });

  it("gives up once when the coalesced backlog passes the bound while the socket is busy", async () => {
    const sink = new FakeSink();
    const { box, overflows } = outbox(sink);
    sink.bufferedAmount = 5000;
    for (let id = 1; id <= 4; id++) box.add({ patches: [{ id, online: true }] }, id);
    expect(overflows()).toBe(1);
    box.add({ patches: [{ id: 9, online: true }] }, 9);
    sink.bufferedAmount = 0;
    box.flush();
    await turn();
    expect(overflows()).toBe(1);
    expect(sink.messages).toEqual([]);
  });

  it("does not give up over the bound when the socket takes it at once", async () => {
    const sink = new FakeSink();
    const { box, overflows } = outbox(sink);
    box.add({ patches: [1, 2, 3, 4, 5].map((id) => ({ id, online: true })) }, 1);
    await turn();
    expect(overflows()).toBe(0);
    expect(sink.messages[0]?.patches).toHaveLength(5);
  });
});

describe("Outbox interval", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends the first change at once and the rest of the interval's changes as one delta", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "performance"] });
    const sink = new FakeSink();
    const { box, covered } = outbox(sink, 100, 50);
    box.add({ patches: [{ id: 1, online: true }] }, 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.messages.map((m) => m.patches)).toEqual([[{ id: 1, online: true }]]);

    // A storm within the interval: held, coalesced (latest wins), and sent when it ends.
    box.add({ patches: [{ id: 2, online: true }] }, 2);
    await vi.advanceTimersByTimeAsync(10);
    box.add({ patches: [{ id: 3, online: true }] }, 3);
    box.add({ patches: [{ id: 2, online: false }] }, 4);
    await vi.advanceTimersByTimeAsync(39);
    expect(sink.messages).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.messages.map((m) => [m.seq, m.patches])).toEqual([
      [2, [{ id: 1, online: true }]],
      [
        3,
        [
          { id: 2, online: false },
          { id: 3, online: true },
        ],
      ],
    ]);
    expect(covered).toEqual([1, 4]);

    // After a quiet interval the next change goes at once again.
    await vi.advanceTimersByTimeAsync(60);
    box.add({ patches: [{ id: 4, online: true }] }, 5);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.messages).toHaveLength(3);
  });

  it("drops a held delta's timer when the stream stops, and a drain's flush sends at once", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "performance"] });
    const sink = new FakeSink();
    const { box } = outbox(sink, 100, 50);
    box.add({ patches: [{ id: 1, online: true }] }, 1);
    await vi.advanceTimersByTimeAsync(0);
    box.add({ patches: [{ id: 2, online: true }] }, 2);
    box.flush(); // the socket drained: what waits goes now, interval or not
    expect(sink.messages).toHaveLength(2);
    box.add({ patches: [{ id: 3, online: true }] }, 3);
    expect(vi.getTimerCount()).toBe(1);
    box.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(sink.messages).toHaveLength(2);
  });
});

describe("ChangeLog", () => {
  it("gives the entries after a sequence while the ring holds them", () => {
    const log = new ChangeLog(3);
    expect(log.since(0)).toEqual([]);
    for (let id = 1; id <= 4; id++) log.append({ kind: "patch", nodeId: id });
    expect(log.seq).toBe(4);
    expect(log.since(1)?.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(log.since(0)).toBeNull(); // entry 1 is gone
    expect(log.since(4)).toEqual([]);
    expect(log.since(5)).toBeNull();
    expect(log.since(-1)).toBeNull();
    expect(log.since(1.5)).toBeNull();
    expect(() => new ChangeLog(0)).toThrow("change ring size must be a positive integer, got 0");
  });
});

describe("SessionTable", () => {
  it("resumes a node's current session within its window, and continues from there", () => {
    const table = new SessionTable(4);
    const session = table.open(7, 100);
    expect(session.seq).toBe(1);
    expect(table.sent(session, 105)).toBe(2);
    expect(table.sent(session, 109)).toBe(3);
    expect(table.resume(8, session.id, 2)).toBeNull(); // another node
    expect(table.resume(7, "nope", 2)).toBeNull();
    expect(table.resume(7, session.id, 4)).toBeNull(); // never sent
    expect(table.resume(7, session.id, 2)).toEqual({ session, globalSeq: 105 });
    expect(table.sent(session, 120)).toBe(3); // numbering continues after what the client has
    for (let i = 0; i < 5; i++) table.sent(session, 121 + i);
    expect(table.resume(7, session.id, 2)).toBeNull(); // out of the window of 4
    const next = table.open(7, 200);
    expect(table.resume(7, session.id, session.seq)).toBeNull(); // replaced by a new session
    expect(table.resume(7, next.id, 1)).toEqual({ session: next, globalSeq: 200 });
  });
});
