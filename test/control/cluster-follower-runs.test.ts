// The change follower's runs (cluster/follower.ts): consecutive node rows go to applyRun in one
// call, other rows one by one in order; only a run's last row is recorded in the cursor map, so
// a cursor naming a row inside the run resumes from before the run (resent, never missed); a run
// that fails is passed over not at all and is read and applied again on the next run.

import { describe, expect, it } from "vitest";
import { CursorMap } from "../../server/control/cluster/cursor.ts";
import { ChangeFollower } from "../../server/control/cluster/follower.ts";
import type { ChangeRow } from "../../server/control/cluster/pg-bus.ts";

const node = (seq: number, nodeId: number): ChangeRow => ({
  seq,
  kind: "node",
  nodeId,
  origin: "",
});
const policy = (seq: number): ChangeRow => ({ seq, kind: "policy", origin: "" });

function follower(rows: ChangeRow[], failRunOnce = false) {
  const calls: string[] = [];
  let ring = 0;
  let failing = failRunOnce;
  const cursors = new CursorMap("t");
  cursors.startAt(0, 0);
  const f = new ChangeFollower({
    changesAfter: async (seq, limit) => rows.filter((r) => r.seq > seq).slice(0, limit),
    maxSeq: async () => rows[rows.length - 1]?.seq ?? 0,
    apply: async (row) => {
      calls.push(`one ${row.seq}`);
      ring++;
    },
    batchable: (row) => row.kind === "node",
    applyRun: async (run) => {
      if (failing) {
        failing = false;
        throw new Error("database away");
      }
      calls.push(`run ${run.map((r) => r.seq).join(",")}`);
      ring += run.length;
    },
    localSeq: () => ring,
    cursors,
  });
  return { f, calls, cursors };
}

describe("ChangeFollower runs", () => {
  it("applies consecutive node rows together and everything else one by one, in order", async () => {
    const rows = [
      node(1, 5),
      node(2, 6),
      node(3, 5),
      policy(4),
      node(5, 7),
      policy(6),
      node(7, 8),
      node(8, 9),
    ];
    const { f, calls, cursors } = follower(rows);
    await f.poll();
    expect(calls).toEqual(["run 1,2,3", "one 4", "one 5", "one 6", "run 7,8"]);
    expect(f.position).toBe(8);
    expect(f.caughtUp).toBe(true);
    // Rows inside a run resume from before it (ring 0); its last row from after it (ring 3).
    expect(cursors.localSeqOf(1)).toBe(0);
    expect(cursors.localSeqOf(2)).toBe(0);
    expect(cursors.localSeqOf(3)).toBe(3);
    expect(cursors.cursorAt(2)).toBe("t-0");
    expect(cursors.cursorAt(3)).toBe("t-3");
    expect(cursors.localSeqOf(7)).toBe(6);
    expect(cursors.localSeqOf(8)).toBe(8);
  });

  it("a run that fails is not passed and is applied whole on the next read", async () => {
    const rows = [policy(1), node(2, 5), node(3, 6), policy(4)];
    const { f, calls } = follower(rows, true);
    await f.poll();
    expect(calls).toEqual(["one 1"]);
    expect(f.position).toBe(1);
    expect(f.caughtUp).toBe(false);
    await f.poll();
    expect(calls).toEqual(["one 1", "run 2,3", "one 4"]);
    expect(f.position).toBe(4);
    expect(f.caughtUp).toBe(true);
  });

  it("without applyRun every row goes through apply", async () => {
    const calls: number[] = [];
    const cursors = new CursorMap("t");
    cursors.startAt(0, 0);
    const rows = [node(1, 1), node(2, 2)];
    const f = new ChangeFollower({
      changesAfter: async (seq) => rows.filter((r) => r.seq > seq),
      maxSeq: async () => 2,
      apply: async (row) => {
        calls.push(row.seq);
      },
      localSeq: () => calls.length,
      cursors,
    });
    await f.poll();
    expect(calls).toEqual([1, 2]);
    expect(cursors.localSeqOf(1)).toBe(1);
  });
});
