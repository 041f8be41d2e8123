// Volatile per-node facts (DESIGN §9.1): online, last seen, endpoints, home relay. They change
// often (endpoint churn is most of a mesh's control traffic), live in memory only, and travel
// to peers as patches; last seen is written to the store once, when a node's stream ends.

import type { PeerPatch } from "../../../worker/control/types.ts";

/** The volatile fields of one node. */
export interface Volatile {
  online: boolean;
  lastSeen: number | null;
  endpoints: string[];
  homeRelay: string;
}

/** The fields a change may set. */
export type VolatileChange = Partial<Volatile>;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Volatile facts of every known node, by node id. */
export class VolatileState {
  private readonly byId = new Map<number, Volatile>();

  /** The node's facts; a node never seen online is offline with nothing known. */
  get(id: number): Volatile {
    return this.byId.get(id) ?? { online: false, lastSeen: null, endpoints: [], homeRelay: "" };
  }

  /** Starts tracking a node loaded from the store (its persisted last seen). */
  init(id: number, lastSeen: number | null): void {
    if (!this.byId.has(id)) this.byId.set(id, { ...this.get(id), lastSeen });
  }

  /**
   * Applies `change`; returns the patch of the fields that really changed, or null when none
   * did (an agent repeating its endpoints costs its peers nothing).
   */
  apply(id: number, change: VolatileChange): PeerPatch | null {
    const current = this.get(id);
    const next: Volatile = { ...current, endpoints: [...current.endpoints] };
    const patch: PeerPatch = { id };
    let changed = false;
    if (change.online !== undefined && change.online !== current.online) {
      next.online = patch.online = change.online;
      changed = true;
    }
    if (change.lastSeen !== undefined && change.lastSeen !== current.lastSeen) {
      next.lastSeen = patch.lastSeen = change.lastSeen;
      changed = true;
    }
    if (change.endpoints !== undefined && !sameList(change.endpoints, current.endpoints)) {
      next.endpoints = [...change.endpoints];
      patch.endpoints = [...change.endpoints];
      changed = true;
    }
    if (change.homeRelay !== undefined && change.homeRelay !== current.homeRelay) {
      next.homeRelay = patch.homeRelay = change.homeRelay;
      changed = true;
    }
    this.byId.set(id, next);
    return changed ? patch : null;
  }

  /** Forgets a removed node. */
  delete(id: number): void {
    this.byId.delete(id);
  }
}
