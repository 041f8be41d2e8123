// Full maps and deltas per node (DESIGN §9.1), from the nodes and users in memory, the
// volatile state and the compiled policy. Nodes are indexed by principal; visibility is
// answered per pair of principals (visibility.ts). A change to one node is sent to the
// attached nodes of the principals that see its principal, found by walking principals, never
// by a pairwise scan of nodes. Every change gets a global sequence number in the change log, so
// a node that reconnects can be sent only what it missed (resume).
//
// The mapper is synchronous and knows nothing of sockets: deliveries go to the callback given
// to onDeliver (the stream puts them in the node's outbox, which coalesces).

import type {
  NetworkMap,
  PeerView,
  RelayInfo,
  RelayTokenGrant,
} from "../../../worker/control/types.ts";
import { type CompiledPolicy, type Principal, principalKey } from "../policy/types.ts";
import { ChangeLog } from "../state/change-log.ts";
import { type VolatileChange, VolatileState } from "../state/volatile.ts";
import type { NodeRecord, UserRecord } from "../store/types.ts";
import type { DeltaParts } from "./pending-delta.ts";
import { type Rules, RulesCache } from "./rules.ts";
import { peerView, principalOf } from "./views.ts";
import { Visibility } from "./visibility.ts";

/** Where the mapper sends a node its delta parts, covering global changes up to `globalSeq`. */
export type Deliver = (nodeId: number, parts: DeltaParts, globalSeq: number) => void;

/** What every map carries besides peers and rules. */
export interface MapperOptions {
  /** The mesh domain (MeshSettings.domain). */
  domain: string;
  relays: RelayInfo[];
  /** Entries of the change ring (change-log.ts). */
  ringSize?: number;
}

interface Members {
  principal: Principal;
  ids: Set<number>;
}

/** The in-memory model of the mesh and the delta computation. */
export class Mapper {
  readonly log: ChangeLog;
  readonly volatile = new VolatileState();
  private readonly nodes = new Map<number, NodeRecord>();
  private readonly users = new Map<number, UserRecord>();
  private readonly byKey = new Map<string, number>();
  /** Every node, by principal key. */
  private readonly members = new Map<string, Members>();
  /** Nodes with a map stream, by principal key: the only ones deltas are computed for. */
  private readonly attached = new Map<string, Set<number>>();
  private vis: Visibility;
  private readonly rules = new RulesCache();
  private deliver: Deliver = () => {};

  constructor(
    policy: CompiledPolicy,
    private readonly options: MapperOptions,
  ) {
    this.vis = new Visibility(policy);
    this.log = new ChangeLog(options.ringSize);
  }

  /** The compiled policy in force. */
  get policy(): CompiledPolicy {
    return this.vis.policy;
  }

  /** Sets where deltas go. */
  onDeliver(deliver: Deliver): void {
    this.deliver = deliver;
  }

  /** Loads the store's users and nodes at start (no deltas: nobody is attached yet). */
  load(users: readonly UserRecord[], nodes: readonly NodeRecord[]): void {
    for (const user of users) this.users.set(user.id, user);
    for (const node of nodes) {
      this.nodes.set(node.id, node);
      this.volatile.init(node.id, node.lastSeen);
      this.addMember(node);
    }
  }

  /** A node's record, if it exists. */
  node(id: number): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  /** The id of the node with WireGuard key `nodeKey` (base64), if registered. */
  nodeIdByKey(nodeKey: string): number | undefined {
    return this.byKey.get(nodeKey);
  }

  /** A user's record, if known. */
  user(id: number): UserRecord | undefined {
    return this.users.get(id);
  }

  /** The nodes owned by `userId`. */
  nodesOfUser(userId: number): NodeRecord[] {
    const members = this.members.get(principalKey({ kind: "user", userId }));
    return [...(members?.ids ?? [])].map((id) => this.nodes.get(id)!);
  }

  /** Every node (for expiry and cleanup scans at start). */
  allNodes(): NodeRecord[] {
    return [...this.nodes.values()];
  }

  /** The node has a map stream now: it gets deltas from here on. */
  attach(nodeId: number): void {
    const node = this.nodes.get(nodeId);
    if (node === undefined) throw new Error(`mapper: node ${nodeId} is not known`);
    const key = principalKey(principalOf(node));
    let set = this.attached.get(key);
    if (set === undefined) {
      set = new Set();
      this.attached.set(key, set);
    }
    set.add(nodeId);
  }

  /** The node's stream ended. */
  detach(nodeId: number): void {
    const node = this.nodes.get(nodeId);
    if (node !== undefined) this.unattach(principalKey(principalOf(node)), nodeId);
  }

  /** The full map of `nodeId` (which must exist), carrying `token`. */
  fullMap(nodeId: number, token: RelayTokenGrant): NetworkMap {
    const node = this.nodes.get(nodeId);
    if (node === undefined) throw new Error(`mapper: node ${nodeId} is not known`);
    const principal = principalOf(node);
    const rules = this.rulesFor(principal);
    return {
      self: this.view(node),
      peers: this.peersOf(principal, nodeId),
      filter: rules.filter,
      ssh: rules.ssh,
      relays: this.options.relays,
      token,
      domain: this.options.domain,
    };
  }

  /**
   * What `nodeId` missed since global sequence `from`, or null when a full map is due: the
   * ring no longer holds it, the policy changed, or the node's own principal (its owner's
   * groups, its tags) changed. Peers touched by a durable change come as full views, peers
   * only patched as patches; peers gone or no longer visible as removals.
   */
  resume(nodeId: number, from: number): DeltaParts | null {
    const node = this.nodes.get(nodeId);
    const entries = this.log.since(from);
    if (node === undefined || entries === null) return null;
    const principal = principalOf(node);
    const ownKey = principalKey(principal);
    const full = new Set<number>();
    const patched = new Set<number>();
    let rulesChanged = false;
    for (const entry of entries) {
      switch (entry.kind) {
        case "policy":
          return null;
        case "principal":
          if (entry.principal === ownKey) return null;
          rulesChanged = true;
          for (const id of this.members.get(entry.principal)?.ids ?? []) full.add(id);
          break;
        case "node":
          if (entry.nodeId === nodeId && entry.principalChanged) return null;
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
    const parts: DeltaParts = {};
    const upserts: PeerView[] = [];
    const removed: number[] = [];
    for (const id of full) {
      if (id === nodeId) {
        parts.self = this.view(node);
        continue;
      }
      const peer = this.nodes.get(id);
      if (peer !== undefined && this.vis.visible(principal, principalOf(peer))) {
        upserts.push(this.view(peer));
      } else {
        removed.push(id);
      }
    }
    // Patches alone never change who sees whom: a peer not visible now was not visible then.
    const patches = [...patched]
      .filter((id) => id !== nodeId && !full.has(id))
      .map((id) => this.nodes.get(id))
      .filter((peer) => peer !== undefined && this.vis.visible(principal, principalOf(peer)))
      .map((peer) => ({ id: peer!.id, ...this.volatile.get(peer!.id) }));
    if (upserts.length > 0) parts.peersUpserted = upserts;
    if (removed.length > 0) parts.peersRemoved = removed;
    if (patches.length > 0) parts.patches = patches;
    if (rulesChanged) {
      const rules = this.rulesFor(principal);
      parts.filter = rules.filter;
      parts.ssh = rules.ssh;
    }
    return parts;
  }

  /** A node was created or its durable fields changed. */
  upsertNode(node: NodeRecord): void {
    const old = this.nodes.get(node.id);
    const oldPrincipal = old === undefined ? undefined : principalOf(old);
    const principal = principalOf(node);
    const key = principalKey(principal);
    const moved = oldPrincipal !== undefined && principalKey(oldPrincipal) !== key;
    const wasAttached = old !== undefined && this.isAttached(old);
    if (old !== undefined) this.removeMember(old);
    this.nodes.set(node.id, node);
    if (old === undefined) this.volatile.init(node.id, node.lastSeen);
    this.addMember(node);
    if (wasAttached) this.attach(node.id);
    const seq = this.log.append({ kind: "node", nodeId: node.id, principalChanged: moved });
    const view = this.view(node);
    if (!moved || oldPrincipal === undefined) {
      this.forViewers(principal, node.id, (id) => this.deliver(id, { peersUpserted: [view] }, seq));
      if (wasAttached) this.deliver(node.id, { self: view }, seq);
      return;
    }
    for (const [otherKey, ids] of this.attached) {
      const other = this.members.get(otherKey)!.principal;
      const was = this.vis.visible(oldPrincipal, other);
      const now = this.vis.visible(principal, other);
      for (const id of ids) {
        if (id === node.id) continue;
        if (now) this.deliver(id, { peersUpserted: [view] }, seq);
        else if (was) this.deliver(id, { peersRemoved: [node.id] }, seq);
      }
    }
    if (wasAttached) {
      // Its whole world changed: every peer it keeps is re-sent, the others removed.
      const rules = this.rulesFor(principal);
      const gone: number[] = [];
      for (const { principal: other, ids } of this.members.values()) {
        if (!this.vis.visible(oldPrincipal, other) || this.vis.visible(principal, other)) continue;
        for (const id of ids) if (id !== node.id) gone.push(id);
      }
      const parts: DeltaParts = {
        self: view,
        peersUpserted: this.peersOf(principal, node.id),
        filter: rules.filter,
        ssh: rules.ssh,
      };
      if (gone.length > 0) parts.peersRemoved = gone;
      this.deliver(node.id, parts, seq);
    }
  }

  /** A node was removed; returns false when it was not known. */
  removeNode(nodeId: number): boolean {
    const node = this.nodes.get(nodeId);
    if (node === undefined) return false;
    const seq = this.log.append({ kind: "removed", nodeId });
    this.forViewers(principalOf(node), nodeId, (id) =>
      this.deliver(id, { peersRemoved: [nodeId] }, seq),
    );
    this.unattach(principalKey(principalOf(node)), nodeId);
    this.removeMember(node);
    this.nodes.delete(nodeId);
    this.volatile.delete(nodeId);
    return true;
  }

  /** Volatile facts of a node changed; its viewers get a patch of what really changed. */
  patch(nodeId: number, change: VolatileChange): void {
    const node = this.nodes.get(nodeId);
    if (node === undefined) return;
    const patch = this.volatile.apply(nodeId, change);
    if (patch === null) return;
    const seq = this.log.append({ kind: "patch", nodeId });
    this.forViewers(principalOf(node), nodeId, (id) => this.deliver(id, { patches: [patch] }, seq));
  }

  /**
   * A user was created or changed, and `policy` is the policy compiled with the new user list.
   * Only the user's row of visibility is recomputed (no other pair involves them); filters of
   * attached principals are compared and sent where they changed (they list user ids).
   */
  upsertUser(user: UserRecord, policy: CompiledPolicy): void {
    const old = this.users.get(user.id);
    this.users.set(user.id, user);
    const principal: Principal = { kind: "user", userId: user.id };
    const key = principalKey(principal);
    const before = this.vis;
    this.vis = before.withPolicy(policy, key);
    const seq = this.log.append({ kind: "principal", principal: key });
    const refChanged = old === undefined || old.name !== user.name || old.email !== user.email;
    const own = this.members.get(key)?.ids ?? new Set<number>();
    if (own.size > 0) {
      for (const [otherKey, ids] of this.attached) {
        const other = this.members.get(otherKey)!.principal;
        const was = before.visible(principal, other);
        const now = this.vis.visible(principal, other);
        // The other principal's nodes are told about this user's nodes...
        if (was !== now || (now && refChanged)) {
          for (const id of ids) this.deliver(id, this.showOrHide(own, id, now), seq);
        }
        // ...and this user's attached nodes about the other principal's nodes.
        if (was !== now && otherKey !== key) {
          const theirs = this.members.get(otherKey)!.ids;
          for (const id of this.attached.get(key) ?? []) {
            this.deliver(id, this.showOrHide(theirs, id, now), seq);
          }
        }
      }
      if (refChanged) {
        for (const id of this.attached.get(key) ?? []) {
          this.deliver(id, { self: this.view(this.nodes.get(id)!) }, seq);
        }
      }
    }
    this.refreshRules(before.policy, seq);
  }

  /** The policy was replaced: every pair of principals is asked again. */
  setPolicy(policy: CompiledPolicy): void {
    const before = this.vis;
    this.vis = new Visibility(policy);
    const seq = this.log.append({ kind: "policy" });
    for (const [key, attachedIds] of this.attached) {
      const principal = this.members.get(key)!.principal;
      for (const { principal: other, ids } of this.members.values()) {
        const was = before.visible(principal, other);
        const now = this.vis.visible(principal, other);
        if (was === now) continue;
        for (const id of attachedIds) this.deliver(id, this.showOrHide(ids, id, now), seq);
      }
    }
    this.refreshRules(before.policy, seq);
  }

  private showOrHide(ids: Set<number>, except: number, show: boolean): DeltaParts {
    const others = [...ids].filter((id) => id !== except);
    if (others.length === 0) return {};
    return show
      ? { peersUpserted: others.map((id) => this.view(this.nodes.get(id)!)) }
      : { peersRemoved: others };
  }

  /** Recomputes the rules of attached principals, sending them where they changed. */
  private refreshRules(previous: CompiledPolicy, seq: number): void {
    const principals = [...this.attached.keys()].map((key) => this.members.get(key)!.principal);
    for (const [key, parts] of this.rules.replace(previous, this.vis.policy, principals)) {
      for (const id of this.attached.get(key) ?? []) this.deliver(id, parts, seq);
    }
  }

  private rulesFor(principal: Principal): Rules {
    return this.rules.get(this.vis.policy, principal);
  }

  private peersOf(principal: Principal, except: number): PeerView[] {
    const peers: PeerView[] = [];
    for (const { principal: other, ids } of this.members.values()) {
      if (!this.vis.visible(principal, other)) continue;
      for (const id of ids) if (id !== except) peers.push(this.view(this.nodes.get(id)!));
    }
    return peers;
  }

  /** Calls `fn` for every attached node (but `except`) whose principal sees `principal`. */
  private forViewers(principal: Principal, except: number, fn: (nodeId: number) => void): void {
    for (const [key, ids] of this.attached) {
      if (!this.vis.visible(principal, this.members.get(key)!.principal)) continue;
      for (const id of ids) if (id !== except) fn(id);
    }
  }

  private view(node: NodeRecord): PeerView {
    const owner = node.userId === null ? undefined : this.users.get(node.userId);
    return peerView(node, owner, this.volatile.get(node.id));
  }

  private isAttached(node: NodeRecord): boolean {
    return this.attached.get(principalKey(principalOf(node)))?.has(node.id) ?? false;
  }

  private unattach(key: string, nodeId: number): void {
    const set = this.attached.get(key);
    if (set === undefined) return;
    set.delete(nodeId);
    if (set.size === 0) this.attached.delete(key);
  }

  private addMember(node: NodeRecord): void {
    const principal = principalOf(node);
    const key = principalKey(principal);
    let members = this.members.get(key);
    if (members === undefined) {
      members = { principal, ids: new Set() };
      this.members.set(key, members);
    }
    members.ids.add(node.id);
    this.byKey.set(node.nodeKey, node.id);
  }

  private removeMember(node: NodeRecord): void {
    const key = principalKey(principalOf(node));
    const members = this.members.get(key);
    if (members === undefined) return;
    members.ids.delete(node.id);
    if (this.byKey.get(node.nodeKey) === node.id) this.byKey.delete(node.nodeKey);
    this.unattach(key, node.id);
    if (members.ids.size === 0) this.members.delete(key);
  }
}
