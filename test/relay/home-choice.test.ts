// The home relay decision (worker/relay/home-choice.ts) alone: the first choice, the
// hysteresis of issue 18 (at least 10 ms AND a third faster), failover order, and a seeded
// sweep that checks the rules against a direct statement of them.

import { describe, expect, it } from "vitest";
import {
  chooseHome,
  clearlyBetter,
  firstHome,
  type HomeChoiceInput,
  rankRelays,
} from "../../worker/relay/home-choice.ts";
import { seededBytes } from "../helpers/seeded.ts";

const input = (
  rtt: Record<string, number | null>,
  current: string | undefined,
  more: Partial<HomeChoiceInput> = {},
): HomeChoiceInput => ({
  listed: ["a", "b", "c"],
  current,
  rtt: new Map(Object.entries(rtt)),
  down: new Set(),
  ...more,
});

describe("home choice", () => {
  it("starts at the reported home when listed, else the fastest, else the first listed", () => {
    const base = {
      listed: ["a", "b"],
      rtt: new Map<string, number | null>(),
      down: new Set<string>(),
    };
    expect(firstHome(base, "b")).toEqual({ id: "b", reason: "first" });
    expect(firstHome(base, "gone")).toEqual({ id: "a", reason: "first" });
    expect(firstHome(base, "")).toEqual({ id: "a", reason: "first" });
    expect(firstHome({ ...base, rtt: new Map([["b", 3]]) }, undefined)?.id).toBe("b");
    expect(firstHome({ ...base, listed: [] }, "a")).toBeUndefined();
  });

  it("hysteresis: 9 ms better stays, 30 against 50 moves, 10 ms but not a third stays", () => {
    expect(chooseHome(input({ a: 50, b: 41 }, "a"))).toEqual({ id: "a", reason: "kept" });
    expect(chooseHome(input({ a: 50, b: 30 }, "a"))).toEqual({ id: "b", reason: "latency" });
    // 10 ms faster but not a third: 100 -> 90.
    expect(chooseHome(input({ a: 100, b: 90 }, "a"))?.id).toBe("a");
    // A third faster but under 10 ms: 12 -> 3.
    expect(chooseHome(input({ a: 12, b: 3 }, "a"))?.id).toBe("a");
    expect(clearlyBetter(30, 50)).toBe(true);
    expect(clearlyBetter(41, 50)).toBe(false);
  });

  it("an unmeasured or unanswering home stays unless the pick was provisional", () => {
    expect(chooseHome(input({ b: 5 }, "a"))?.id).toBe("a");
    expect(chooseHome(input({ a: null, b: 5 }, "a"))?.id).toBe("a");
    expect(chooseHome(input({ b: 5 }, "a", { provisional: true }))).toEqual({
      id: "b",
      reason: "latency",
    });
    // Provisional: the fastest outright, no hysteresis.
    expect(chooseHome(input({ a: 20, b: 15 }, "a", { provisional: true }))?.id).toBe("b");
  });

  it("fails over from a home that is down or unlisted to the next best, itself if alone", () => {
    expect(chooseHome(input({ a: 1, b: 40, c: 20 }, "a", { down: new Set(["a"]) }))).toEqual({
      id: "c",
      reason: "failover",
    });
    expect(chooseHome(input({ b: 40, c: 20 }, "gone"))).toEqual({ id: "c", reason: "failover" });
    // Unmeasured before unreachable; relays failed over from last.
    expect(
      rankRelays({
        listed: ["a", "b", "c", "d"],
        rtt: new Map([
          ["a", null],
          ["d", 9],
        ]),
        down: new Set(["b"]),
      }),
    ).toEqual(["d", "c", "a", "b"]);
    expect(chooseHome(input({}, "a", { listed: ["a"], down: new Set(["a"]) }))).toEqual({
      id: "a",
      reason: "kept",
    });
    expect(chooseHome(input({}, "a", { listed: [] }))).toBeUndefined();
  });

  it("seeded sweep: a move is always to a listed relay that is clearly better or a failover", () => {
    const random = seededBytes(0x40e);
    for (let i = 0; i < 2000; i++) {
      const r = random(8);
      const ids = ["a", "b", "c", "d"].slice(0, 1 + (r[0]! % 4));
      const rtt = new Map<string, number | null>();
      for (const [j, id] of ids.entries()) {
        const v = r[1 + j]!;
        if (v < 200) rtt.set(id, v % 120);
        else if (v < 230) rtt.set(id, null);
      }
      const down = new Set(ids.filter((_, j) => (r[5]! >> j) & 1 && r[6]! < 60));
      const current = r[7]! < 20 ? "gone" : ids[r[7]! % ids.length];
      const choice = chooseHome({ listed: ids, current, rtt, down });
      expect(choice).toBeDefined();
      if (choice === undefined || current === undefined) continue;
      expect(ids).toContain(choice.id);
      const gone = current === "gone" || down.has(current);
      if (choice.id === current) {
        expect(choice.reason).toBe("kept");
        continue;
      }
      if (gone) {
        expect(choice.reason).toBe("failover");
        expect(down.has(choice.id) && ids.some((id) => id !== current && !down.has(id))).toBe(
          false,
        );
      } else {
        expect(choice.reason).toBe("latency");
        const from = rtt.get(current);
        const to = rtt.get(choice.id);
        expect(typeof from === "number" && typeof to === "number" && clearlyBetter(to, from)).toBe(
          true,
        );
      }
    }
  });
});
