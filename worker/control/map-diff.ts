// What one applied `map` or `delta` changed (map-state.ts), so the engine touches only that:
// WireGuard peers added, removed or reconfigured, the filter rebuilt only when it changed, the
// relay bind re-keyed only for a new token.

import type { PeerView } from "./types.ts";

/** A field of PeerView. */
export type PeerField = keyof PeerView;

/** Every field of PeerView, in a fixed order (diffs list changed fields in this order). */
export const PEER_FIELDS: readonly PeerField[] = Object.keys({
  id: true,
  key: true,
  name: true,
  addresses: true,
  user: true,
  tags: true,
  hostname: true,
  os: true,
  ephemeral: true,
  keyExpiry: true,
  sshHostKeys: true,
  online: true,
  lastSeen: true,
  endpoints: true,
  homeRelay: true,
  share: true,
} satisfies Record<PeerField, true>) as PeerField[];

/** A peer present before and after, with the fields that differ. */
export interface PeerChange {
  before: PeerView;
  after: PeerView;
  /** Never empty. */
  fields: PeerField[];
}

/** What one application of a map message changed. */
export interface MapDiff {
  /** The sequence number now applied. */
  seq: number;
  /** True for a full map (the first, or a resync): the diff is against the previous state. */
  full: boolean;
  peersAdded: PeerView[];
  /** The peers as they were before they went. */
  peersRemoved: PeerView[];
  peersChanged: PeerChange[];
  /** Fields of this node's own view that changed (empty: none). */
  selfChanged: PeerField[];
  filterChanged: boolean;
  sshChanged: boolean;
  relaysChanged: boolean;
  tokenChanged: boolean;
  domainChanged: boolean;
}

/** True when the diff changes nothing (a delta that repeated what was known). */
export function diffIsEmpty(diff: MapDiff): boolean {
  return (
    diff.peersAdded.length === 0 &&
    diff.peersRemoved.length === 0 &&
    diff.peersChanged.length === 0 &&
    diff.selfChanged.length === 0 &&
    !diff.filterChanged &&
    !diff.sshChanged &&
    !diff.relaysChanged &&
    !diff.tokenChanged &&
    !diff.domainChanged
  );
}

/** Structural equality of JSON values (what the codec produces: no cycles, no undefined). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  for (const k of ka) if (!Object.hasOwn(rb, k) || !sameJson(ra[k], rb[k])) return false;
  return true;
}

/** The fields in which two views of the same node differ. */
export function changedFields(before: PeerView, after: PeerView): PeerField[] {
  return PEER_FIELDS.filter((f) => !sameJson(before[f], after[f]));
}

/** Adds to `diff` what happened to one node between `before` and `after` (undefined: absent). */
export function recordPeer(
  diff: MapDiff,
  before: PeerView | undefined,
  after: PeerView | undefined,
): void {
  if (before === undefined) {
    if (after !== undefined) diff.peersAdded.push(after);
    return;
  }
  if (after === undefined) {
    diff.peersRemoved.push(before);
    return;
  }
  const fields = changedFields(before, after);
  if (fields.length > 0) diff.peersChanged.push({ before, after, fields });
}

/** An empty diff at `seq`. */
export function emptyDiff(seq: number, full: boolean): MapDiff {
  return {
    seq,
    full,
    peersAdded: [],
    peersRemoved: [],
    peersChanged: [],
    selfChanged: [],
    filterChanged: false,
    sshChanged: false,
    relaysChanged: false,
    tokenChanged: false,
    domainChanged: false,
  };
}
