// MeshChanges (changes.ts) on the map side: after the API or sign-in committed a change, read
// the new state from the store and hand it to the mapper, which sends deltas to exactly the
// nodes concerned. Notifications run one at a time, in the order they came, so that a read
// made for an earlier change is never applied after a later one.
//
// A notification may come for a change already applied (on several servers each server also
// applies its own changes' rows when its follower reaches them: cluster/triggers.ts): what
// was read equals what the map holds, and nothing is sent or recomputed. Such a pass is no
// fan-out: it records no fan-out latency sample (the metric, and bench:scale's figure from it,
// would otherwise count each server's own changes twice, the second time as pure queueing).

import type { Logger } from "pino";
import type { MeshChanges, NodeRefusal } from "./changes.ts";
import type { Hub } from "./hub.ts";
import type { Mapper } from "./mapper/mapper.ts";
import type { ControlMetrics } from "./metrics.ts";
import type { PolicyHolder } from "./policy-holder.ts";
import { sameDocumentKeys } from "./shares/overlay.ts";
import { loadActiveShares } from "./shares/share-active.ts";
import type { NodeRecord, Store, UserRecord } from "./store/types.ts";

/**
 * Whether two records of a node or a user say the same (`lastSeen` aside: the map's last seen
 * is presence, kept apart from the record). Every field is compared, so one added later counts.
 */
export function sameRecord(
  a: NodeRecord | UserRecord | undefined,
  b: NodeRecord | UserRecord,
): boolean {
  if (a === undefined) return false;
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  for (const key in left) {
    if (key !== "lastSeen" && !sameField(left[key], right[key])) return false;
  }
  for (const key in right) {
    if (!(key in left) && key !== "lastSeen" && !sameField(undefined, right[key])) return false;
  }
  return true;
}

/**
 * Whether two field values encode alike in JSON (undefined as null). Runs for every field of
 * every node row every server applies: equal primitives, the common case, are told apart without
 * an encode; only objects, arrays and unequal numbers (NaN encodes like null) are encoded.
 */
function sameField(a: unknown, b: unknown): boolean {
  const x = a ?? null;
  const y = b ?? null;
  if (x === y) return true;
  if (typeof x === "object" || typeof y === "object" || typeof x === "number") {
    return JSON.stringify(x) === JSON.stringify(y);
  }
  return false;
}

/** What a notification's work returns when the map held the change already (nothing sent). */
const HELD = "held";

/** The map side's MeshChanges. */
export class MapSideChanges implements MeshChanges {
  private chain: Promise<void> = Promise.resolve();
  /** The stored policy's version this side compiled last (undefined: not known). */
  private policyVersion: number | undefined;

  constructor(
    private readonly store: Store,
    private readonly mapper: Mapper,
    private readonly hub: Hub,
    private readonly policy: PolicyHolder,
    private readonly log?: Logger,
    private readonly metrics?: ControlMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  nodeChanged(nodeId: number): Promise<void> {
    return this.serial(async () => this.applyNode(nodeId, await this.store.nodeById(nodeId)));
  }

  /**
   * nodeChanged for each of `nodeIds`, in that order, with the nodes read in one statement (a
   * cluster follower's run of node rows: one read instead of one per row). One notification:
   * the reads happen in the chain's turn, so nothing applied before is overtaken by an older
   * read, and the deltas they make for one node go out together.
   */
  nodesChanged(nodeIds: readonly number[]): Promise<void> {
    return this.serial(async () => {
      const nodes = await this.store.nodesByIds(nodeIds);
      let outcome: typeof HELD | undefined = HELD;
      // Each node once, however many of the rows named it: its record is read once anyway.
      for (const nodeId of new Set(nodeIds)) {
        if (this.applyNode(nodeId, nodes.get(nodeId) ?? null) !== HELD) outcome = undefined;
      }
      return outcome;
    });
  }

  /** Applies `node`, the stored record of `nodeId` just read (null: gone). */
  private applyNode(nodeId: number, node: NodeRecord | null): typeof HELD | undefined {
    if (node === null) {
      this.hub.forget(nodeId, "deleted");
      return undefined;
    }
    const previous = this.mapper.node(nodeId);
    if (sameRecord(previous, node)) return HELD;
    this.mapper.upsertNode(node);
    // A new key belongs to another stream: the one open under the old key ends.
    if (previous !== undefined && previous.nodeKey !== node.nodeKey) {
      this.hub.refuse(
        nodeId,
        "key_changed",
        "this node's key was replaced: log in with the new key",
      );
    }
    this.hub.checkExpiry(nodeId);
    // A share node just accepted has no stream yet; should it never open one, the ephemeral
    // grace removes it as if its stream had ended (its acceptance ends "left"). Its stream,
    // when it comes, cancels the removal.
    if (previous === undefined && node.shareAcceptanceId !== null) this.hub.streamEnded(nodeId);
    return undefined;
  }

  nodeRemoved(nodeId: number, refusal?: NodeRefusal): Promise<void> {
    return this.serial(async () => {
      // Gone already (its removal applied here before): nothing to tell anyone.
      if (this.mapper.node(nodeId) === undefined) return HELD;
      this.hub.forget(nodeId, "removed by an admin", refusal);
    });
  }

  userChanged(userId: number): Promise<void> {
    return this.serial(async () => {
      const user = await this.store.userById(userId);
      if (user === null || sameRecord(this.mapper.user(userId), user)) return HELD;
      this.mapper.upsertUser(user, await this.policy.reloadUsers(this.store));
    });
  }

  userSignedOut(userId: number): Promise<void> {
    return this.serial(async () => {
      for (const node of this.mapper.nodesOfUser(userId)) {
        if (node.ephemeral) await this.hub.removeNode(node.id, "its user signed out");
      }
      return undefined;
    });
  }

  policyChanged(): Promise<void> {
    return this.serial(async () => {
      // The same version again (a change this side applied already): nothing to recompute.
      const stored = await this.store.getPolicy();
      const version = stored?.version ?? 0;
      if (version === this.policyVersion) return HELD;
      const policy = await this.policy.load(this.store);
      this.policyVersion = version;
      const started = performance.now();
      this.mapper.setPolicy(policy);
      this.metrics?.policyRecompute((performance.now() - started) / 1000);
    });
  }

  /**
   * A share or an acceptance was created, revoked, ended or expired: the shares in force are
   * read again and applied like a policy change of the share overlay (shares/overlay.ts): the
   * nodes regroup and each streaming node gets what changed for it (the device its new peer
   * or the lost one, its filter and SSH rules; the recipient its one peer). A share node
   * itself comes and goes through nodeChanged and nodeRemoved, in either order.
   */
  sharesChanged(): Promise<void> {
    return this.serial(async () => {
      // The same shares in force as the map has (a change applied already, a share's use
      // counted): nothing to recompute.
      const now = this.now();
      const active = await loadActiveShares(this.store, now);
      if (JSON.stringify(active) === JSON.stringify(this.policy.activeShares())) return HELD;
      const policy = await this.policy.loadShares(this.store, now);
      const started = performance.now();
      // Only the overlay changed: the document's answers about every other subject are kept.
      this.mapper.setPolicy(policy, sameDocumentKeys(this.mapper.policy, policy));
      this.metrics?.policyRecompute((performance.now() - started) / 1000);
    });
  }

  /**
   * Settles once every notification made so far, and any it queued in turn (a share node's
   * removal queues the share overlay's recompute), is done.
   */
  async settled(): Promise<void> {
    let tail: Promise<void>;
    do {
      tail = this.chain;
      await tail;
    } while (tail !== this.chain);
  }

  /**
   * Runs `work` after every earlier notification; its failure is logged and rethrown. The time
   * until it is done counts as fan-out latency (metrics.ts), unless it found the change held
   * already (HELD): nothing was sent, so there was no fan-out to time.
   */
  private serial(work: () => Promise<typeof HELD | undefined>): Promise<void> {
    // Fan-out latency: from now (the change is committed) until its deltas are queued.
    const started = performance.now();
    const run = this.chain.then(work).then((outcome) => {
      if (outcome !== HELD) this.metrics?.fanOut((performance.now() - started) / 1000);
    });
    this.chain = run.catch((error: unknown) => {
      this.log?.error({ err: String(error) }, "mesh change not applied");
    });
    return run;
  }
}
