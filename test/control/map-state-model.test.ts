// MapState against a plain model over seeded random delta sequences (removals, new peers,
// renames, key rotations, name swaps, patches, self renames): after every delta the peers are
// the model's, every peer is found by its key and its name and no stale key or name resolves,
// and the diff names exactly the peers added, removed and changed.

import { expect, it } from "vitest";
import { MapState } from "../../worker/control/map-state.ts";
import type { DeltaMessage } from "../../worker/control/messages.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { key, mapMessage, peer } from "./codec-fixtures.ts";

it("follows 3,000 random deltas exactly", () => {
  const int = seededInts(0x3a9);
  const state = new MapState();
  const first = mapMessage(20, 0, "s");
  state.apply(first);
  const model = new Map<number, PeerView>(first.map.peers.map((p) => [p.id, p]));
  let self = first.map.self;
  let fresh = 1000;
  const retired = { keys: new Set<string>(), names: new Set<string>() };
  const pick = (): PeerView | undefined => {
    const all = [...model.values()];
    return all.length === 0 ? undefined : all[int(all.length)];
  };

  for (let seq = 1; seq <= 3000; seq++) {
    const upserts = new Map<number, PeerView>();
    const removed = new Set<number>();
    const patched = new Set<number>();
    const delta: DeltaMessage = { type: "delta", seq };
    for (let n = 1 + int(4); n > 0; n--) {
      const target = pick();
      const op = int(7);
      if (op === 0 && target !== undefined && !upserts.has(target.id)) {
        removed.add(target.id);
        model.delete(target.id);
        retired.keys.add(target.key);
        retired.names.add(target.name);
      } else if (op === 1 || target === undefined) {
        const id = ++fresh;
        const view = peer(id, { name: `n${id}`, key: key(id) });
        upserts.set(id, view);
        model.set(id, view);
      } else if (op === 2 && !removed.has(target.id)) {
        retired.names.add(target.name);
        const view = { ...(upserts.get(target.id) ?? target), name: `r${++fresh}` };
        upserts.set(target.id, view);
        model.set(target.id, view);
      } else if (op === 3 && !removed.has(target.id)) {
        retired.keys.add(target.key);
        const view = { ...(upserts.get(target.id) ?? target), key: key(++fresh) };
        upserts.set(target.id, view);
        model.set(target.id, view);
      } else if (op === 4) {
        const other = pick();
        if (other === undefined || other.id === target.id) continue;
        const a = { ...(upserts.get(target.id) ?? target), name: other.name };
        const b = { ...(upserts.get(other.id) ?? other), name: target.name };
        upserts.set(a.id, a).set(b.id, b);
        model.set(a.id, a).set(b.id, b);
      } else if (op === 5 && !upserts.has(target.id)) {
        const online = !target.online;
        delta.patches = [...(delta.patches ?? []), { id: target.id, online }];
        model.set(target.id, { ...target, online });
        patched.add(target.id);
      } else if (op === 6 && delta.self === undefined) {
        retired.names.add(self.name);
        self = { ...self, name: `me${++fresh}` };
        delta.self = self;
      }
    }
    if (upserts.size > 0) delta.peersUpserted = [...upserts.values()];
    if (removed.size > 0) delta.peersRemoved = [...removed];

    const before = new Map(state.peers);
    const diff = state.apply(delta);

    expect(new Map(state.peers)).toEqual(model);
    expect(state.self).toEqual(self);
    // Plain checks collected, one expect per delta: thousands of expect calls are slow.
    const wrong: string[] = [];
    for (const p of model.values()) {
      if (state.peerByKey(p.key)?.id !== p.id) wrong.push(`key of ${p.id}`);
      if (state.nodeByName(p.name.toUpperCase())?.id !== p.id) wrong.push(`name of ${p.id}`);
    }
    const liveNames = new Set([...model.values()].map((p) => p.name).concat(self.name));
    const liveKeys = new Set([...model.values()].map((p) => p.key));
    for (const name of retired.names) {
      if (!liveNames.has(name) && state.nodeByName(name) !== undefined) wrong.push(name);
    }
    for (const k of retired.keys) {
      if (!liveKeys.has(k) && state.peerByKey(k) !== undefined) wrong.push(k);
    }
    retired.names.clear();
    retired.keys.clear();
    expect(wrong).toEqual([]);
    const ids = (views: PeerView[]) => views.map((p) => p.id).sort((x, y) => x - y);
    const sorted = (set: Iterable<number>) => [...set].sort((x, y) => x - y);
    expect(ids(diff.peersAdded)).toEqual(sorted([...model.keys()].filter((id) => !before.has(id))));
    expect(ids(diff.peersRemoved)).toEqual(
      sorted([...before.keys()].filter((id) => !model.has(id))),
    );
    const changed = [...model.keys()].filter(
      (id) => before.has(id) && JSON.stringify(before.get(id)) !== JSON.stringify(model.get(id)),
    );
    expect(sorted(diff.peersChanged.map((c) => c.after.id))).toEqual(sorted(changed));
  }
  expect(state.seq).toBe(3000);
  expect(state.ready).toBe(true);
});
