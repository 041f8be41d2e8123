// The index table: random non-zero distinct indices, lookup, replace-in-place, delete, and
// retry on collision (forced with a scripted random source).

import { afterEach, describe, expect, it, vi } from "vitest";
import { IndexTable } from "../../worker/wireguard/index-table.ts";

/** A random source that returns `words` in order, then fails the test if asked for more. */
function scripted(words: number[]): () => number {
  let i = 0;
  return () => {
    const w = words[i++];
    if (w === undefined) throw new Error("scripted random source exhausted");
    return w;
  };
}

describe("IndexTable", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("allocates distinct non-zero u32 indices from crypto.getRandomValues", () => {
    const spy = vi.spyOn(globalThis.crypto, "getRandomValues");
    const table = new IndexTable<number>();
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const index = table.allocate(i);
      expect(Number.isInteger(index)).toBe(true);
      expect(index).toBeGreaterThan(0);
      expect(index).toBeLessThanOrEqual(0xffff_ffff);
      expect(seen.has(index)).toBe(false);
      seen.add(index);
    }
    expect(table.size).toBe(10_000);
    expect(spy).toHaveBeenCalled();
    // Uses the whole 32 bits: some index above 2^31 in 10k draws is all but certain.
    expect([...seen].some((x) => x >= 2 ** 31)).toBe(true);
  });

  it("gets what was stored, and undefined for unknown indices", () => {
    const table = new IndexTable<string>(scripted([10, 20]));
    const a = table.allocate("handshake a");
    const b = table.allocate("handshake b");
    expect(table.get(a)).toBe("handshake a");
    expect(table.get(b)).toBe("handshake b");
    expect(table.get(0)).toBeUndefined();
    expect(table.get(30)).toBeUndefined();
  });

  it("retries on a collision and on zero", () => {
    const table = new IndexTable<string>(scripted([7, 0, 7, 0xffff_ffff, 7, 9]));
    expect(table.allocate("a")).toBe(7);
    expect(table.allocate("b")).toBe(0xffff_ffff); // skipped 0 and the taken 7
    expect(table.allocate("c")).toBe(9);
    expect(table.size).toBe(3);
  });

  it("treats negative int32 draws as their unsigned values", () => {
    const table = new IndexTable<string>(scripted([-1]));
    expect(table.allocate("a")).toBe(0xffff_ffff);
    expect(table.get(0xffff_ffff)).toBe("a");
  });

  it("throws instead of spinning when the random source is broken", () => {
    const table = new IndexTable<string>(() => 0);
    expect(() => table.allocate("a")).toThrow(/random source/);
    const stuck = new IndexTable<string>(() => 42);
    stuck.allocate("first");
    expect(() => stuck.allocate("second")).toThrow(Error);
    expect(stuck.size).toBe(1);
  });

  it("replaces a value in place, keeping its index, only while the index is in use", () => {
    const table = new IndexTable<{ kind: string }>(scripted([5, 6]));
    const index = table.allocate({ kind: "handshake" });
    expect(table.replace(index, { kind: "keypair" })).toBe(true);
    expect(table.get(index)).toEqual({ kind: "keypair" });
    expect(table.size).toBe(1);
    expect(table.replace(1234, { kind: "stray" })).toBe(false);
    expect(table.get(1234)).toBeUndefined();
    expect(table.delete(index)).toBe(true);
    expect(table.replace(index, { kind: "revived" })).toBe(false);
    expect(table.get(index)).toBeUndefined();
  });

  it("deletes, frees the index for reuse, and clears", () => {
    const table = new IndexTable<string>(scripted([3, 3, 4]));
    expect(table.allocate("a")).toBe(3);
    expect(table.delete(3)).toBe(true);
    expect(table.delete(3)).toBe(false);
    expect(table.size).toBe(0);
    expect(table.allocate("b")).toBe(3);
    expect(table.allocate("c")).toBe(4);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(3)).toBeUndefined();
  });
});
