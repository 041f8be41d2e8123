// The delta of what a node missed, built from the change ring's entries and the current state
// (DESIGN §9.1 "resume"): entries name what changed, not the values, so a peer changed five
// times while the node was away costs one upsert. A full map is due instead when the policy
// changed or the node's own principal or subject did (its whole world may have).

import type { PeerView } from "../../../worker/control/types.ts";
import type { ChangeEntry } from "../state/change-log.ts";
import type { Volatile } from "../state/volatile.ts";
import type { Groups, Subject } from "./groups.ts";
import type { DeltaParts } from "./pending-delta.ts";
import type { Rules } from "./rules.ts";

/** What resume reads of the mapper's state. */
export interface ResumeState {
  groups: Groups;
  visible(a: Subject, b: Subject): boolean;
  /** The current view of a node, undefined when it is gone. */
  view(nodeId: number): PeerView | undefined;
  volatile(nodeId: number): Volatile;
  rules(subject: Subject): Rules;
}

/**
 * The parts that bring `nodeId` (which must exist) up to date after `entries`, or null. With
 * `everyPatch`, every visible peer's volatile facts come too (a resume on another control
 * server, whose volatile events reached it in another order).
 */
export function resumeParts(
  state: ResumeState,
  nodeId: number,
  entries: readonly ChangeEntry[],
  everyPatch = false,
): DeltaParts | null {
  const own = state.groups.of(nodeId)!;
  const full = new Set<number>();
  const patched = new Set<number>();
  let rulesChanged = false;
  for (const entry of entries) {
    switch (entry.kind) {
      case "policy":
        return null;
      case "principal":
        if (entry.principal === own.principalKey) return null;
        rulesChanged = true;
        for (const group of state.groups.ofPrincipal(entry.principal)) {
          for (const id of group.ids) full.add(id);
        }
        break;
      case "node":
        if (entry.nodeId === nodeId && entry.principalChanged) return null;
        if (entry.nodeId === nodeId && entry.rulesChanged === true) rulesChanged = true;
        full.add(entry.nodeId);
        break;
      case "removed":
        full.add(entry.nodeId);
        break;
      case "patch":
        patched.add(entry.nodeId);
        break;
    }
  }
  if (everyPatch) {
    for (const group of state.groups.all()) {
      if (!state.visible(own, group)) continue;
      for (const id of group.ids) patched.add(id);
    }
  }
  const sees = (id: number): boolean => {
    const group = state.groups.of(id);
    return group !== undefined && state.visible(own, group);
  };
  const parts: DeltaParts = {};
  const upserts: PeerView[] = [];
  const removed: number[] = [];
  for (const id of full) {
    if (id === nodeId) {
      parts.self = state.view(id)!;
      continue;
    }
    if (sees(id)) upserts.push(state.view(id)!);
    else removed.push(id);
  }
  // Patches alone never change who sees whom: a peer not visible now was not visible then.
  const patches = [...patched]
    .filter((id) => id !== nodeId && !full.has(id) && sees(id))
    .map((id) => ({ id, ...state.volatile(id) }));
  if (upserts.length > 0) parts.peersUpserted = upserts;
  if (removed.length > 0) parts.peersRemoved = removed;
  if (patches.length > 0) parts.patches = patches;
  if (rulesChanged) {
    const rules = state.rules(own);
    parts.filter = rules.filter;
    parts.ssh = rules.ssh;
  }
  return parts;
}
