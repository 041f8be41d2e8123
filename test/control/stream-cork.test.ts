// An attached node's frames are corked until the end of the event-loop turn they were sent in
// (server/control/stream.ts, corkedSend): frames sent apart in one turn must still arrive, in
// order, with no further event to release them, and a close in the same turn must come after
// them, not instead of them.

import { afterEach, describe, expect, it } from "vitest";
import { CONTROL_CLOSE } from "../../worker/control/messages.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

async function join(): Promise<[RawNode, number, number]> {
  const node = await RawNode.create(h);
  nodes.push(node);
  await node.login({ authKey: await h.authKey({ userId: h.bob.id }) });
  const map = await node.expect("map");
  return [node, map.map.self.id, map.seq];
}

/** Lets the outboxes' microtasks run, without leaving the current turn of the event loop. */
const microtasks = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe("frames corked for one turn", () => {
  it("several deltas and a close sent in one turn arrive in order, the close last", async () => {
    // No interval between deltas: three frames in one turn are what this test corks.
    h = await startHarness({
      keepaliveMs: 100 * 3600_000,
      outbox: { highWaterBytes: 256 * 1024, maxPendingEntries: 20_000, minIntervalMs: 0 },
    });
    const [watcher, watcherId, firstSeq] = await join();
    const [, b] = await join();
    const [, c] = await join();
    expect((await watcher.expect("delta")).seq).toBe(firstSeq + 1);
    expect((await watcher.expect("delta")).seq).toBe(firstSeq + 2);

    // Three deltas, each in its own frame (a microtask apart), then the close: one turn.
    h.control.hub.update(b, { endpoints: ["192.0.2.1:1"], homeRelay: "default" });
    await microtasks();
    h.control.hub.update(c, { endpoints: ["192.0.2.2:2"], homeRelay: "default" });
    await microtasks();
    h.control.hub.update(b, { endpoints: ["192.0.2.3:3"], homeRelay: "default" });
    await microtasks();
    h.control.hub.disconnect(watcherId, CONTROL_CLOSE.TOO_SLOW, "test close");

    const closed = await watcher.closed;
    expect(closed).toEqual({ code: CONTROL_CLOSE.TOO_SLOW, reason: "test close" });
    expect(watcher.pending).toEqual([
      {
        type: "delta",
        seq: firstSeq + 3,
        patches: [{ id: b, endpoints: ["192.0.2.1:1"], homeRelay: "default" }],
      },
      {
        type: "delta",
        seq: firstSeq + 4,
        patches: [{ id: c, endpoints: ["192.0.2.2:2"], homeRelay: "default" }],
      },
      {
        type: "delta",
        seq: firstSeq + 5,
        patches: [{ id: b, endpoints: ["192.0.2.3:3"] }], // its relay did not change
      },
    ]);
  });

  it("a frame sent alone is released at the end of its turn, with nothing else happening", async () => {
    h = await startHarness({ keepaliveMs: 100 * 3600_000 });
    const [watcher, , firstSeq] = await join();
    const [, b] = await join();
    expect((await watcher.expect("delta")).seq).toBe(firstSeq + 1);
    h.control.hub.update(b, { endpoints: ["198.51.100.9:9"], homeRelay: "default" });
    expect(await watcher.expect("delta")).toEqual({
      type: "delta",
      seq: firstSeq + 2,
      patches: [{ id: b, endpoints: ["198.51.100.9:9"], homeRelay: "default" }],
    });
  });
});
