// Full maps and deltas per node (DESIGN §9.1), from the nodes and users in memory, the
// volatile state and the compiled policy. Nodes are grouped by subject (groups.ts: their
// principal, plus the address prefixes the policy names that they fall in); visibility is
// answered per pair of subjects (visibility.ts), rules per subject (rules.ts). A change to one
// node is sent to the attached nodes of the subjects that see its subject, found by walking
// groups, never by a pairwise scan of nodes. Every change gets a global sequence number in the
// change log, so a node that reconnects can be sent only what it missed (resume.ts).
//
// The mapper is synchronous and knows nothing of sockets: deliveries go to the callback given
// to onDeliver (the stream puts them in the node's outbox, which coalesces).

import type {
  NetworkMap,
  PeerView,
  RelayInfo,
  RelayTokenGrant,
} from "../../../worker/control/types.ts";
import { narrowSshRules } from "../policy/ssh-users.ts";
import { type CompiledPolicy, principalKey } from "../policy/types.ts";
import { ChangeLog } from "../state/change-log.ts";
import { type VolatileChange, VolatileState } from "../state/volatile.ts";
import type { NodeRecord, UserRecord } from "../store/types.ts";
import { type Cell, type Group, Groups, regroup, type Subject, subjectOf } from "./groups.ts";
import type { DeltaParts } from "./pending-delta.ts";
import { resumeParts } from "./resume.ts";
import { changedRules, type Rules, RulesCache } from "./rules.ts";
import { peerView } from "./views.ts";
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

/** Attached nodes whose subject went from `was` to `now` (a policy or user change). */
interface Moved {
  was: Subject;
  now: Subject;
  attached: Iterable<number>;
}

/** The in-memory model of the mesh and the delta computation. */
export class Mapper {
  readonly log: ChangeLog;
  readonly volatile = new VolatileState();
  private readonly nodes = new Map<number, NodeRecord>();
  private readonly users = new Map<number, UserRecord>();
  private readonly byKey = new Map<string, number>();
  private groups = new Groups();
  private vis: Visibility;
  private readonly rules = new RulesCache();
  private deliver: Deliver = () => {};
  private removed: (node: NodeRecord) => void = () => {};

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

  /** Sets where deltas go (SSH rules narrowed to each recipient's SSH users on the way). */
  onDeliver(deliver: Deliver): void {
    this.deliver = (nodeId, parts, seq) => deliver(nodeId, this.narrowed(nodeId, parts), seq);
  }

  /**
   * Called after a node left the map, whatever removed it (the API, ephemeral expiry,
   * sign-out): a share node's removal must take its rules off its device (index.ts).
   */
  onRemoved(removed: (node: NodeRecord) => void): void {
    this.removed = removed;
  }

  /** Loads the store's users and nodes at start (no deltas: nobody is attached yet). */
  load(users: readonly UserRecord[], nodes: readonly NodeRecord[]): void {
    for (const user of users) this.users.set(user.id, user);
    for (const node of nodes) {
      this.volatile.init(node.id, node.lastSeen);
      this.addNode(node);
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

  /** Whether `viewerId`'s map holds `peerId` (both exist, and the policy lets them meet). */
  sees(viewerId: number, peerId: number): boolean {
    if (viewerId === peerId) return false;
    const viewer = this.groups.of(viewerId);
    const peer = this.groups.of(peerId);
    return viewer !== undefined && peer !== undefined && this.vis.visible(viewer, peer);
  }

  /** A user's record, if known. */
  user(id: number): UserRecord | undefined {
    return this.users.get(id);
  }

  /** The nodes owned by `userId`. */
  nodesOfUser(userId: number): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const group of this.groups.ofPrincipal(principalKey({ kind: "user", userId }))) {
      for (const id of group.ids) out.push(this.nodes.get(id)!);
    }
    return out;
  }

  /** Every node (for expiry and cleanup scans at start). */
  allNodes(): NodeRecord[] {
    return [...this.nodes.values()];
  }

  /** The node has a map stream now: it gets deltas from here on. */
  attach(nodeId: number): void {
    this.groups.attach(nodeId);
  }

  /** The node's stream ended. */
  detach(nodeId: number): void {
    this.groups.detach(nodeId);
  }

  /** The full map of `nodeId` (which must exist), carrying `token`. */
  fullMap(nodeId: number, token: RelayTokenGrant): NetworkMap {
    const node = this.nodes.get(nodeId);
    if (node === undefined) throw new Error(`mapper: node ${nodeId} is not known`);
    const group = this.groups.of(nodeId)!;
    const rules = this.rulesFor(group);
    return {
      self: this.view(node),
      peers: this.peersOf(group, nodeId),
      filter: rules.filter,
      ssh: narrowSshRules(rules.ssh, node.sshUsers),
      relays: this.options.relays,
      token,
      domain: this.options.domain,
    };
  }

  /**
   * What `nodeId` missed since global sequence `from`, or null when a full map is due: the
   * ring no longer holds it, the policy changed, or the node's own principal (its owner's
   * groups, its tags) or subject changed. Peers touched by a durable change come as full views,
   * peers only patched as patches; peers gone or no longer visible as removals. `everyPatch`:
   * every visible peer's volatile facts too (the client's came from another server).
   */
  resume(nodeId: number, from: number, everyPatch = false): DeltaParts | null {
    const node = this.nodes.get(nodeId);
    const entries = this.log.since(from);
    if (node === undefined || entries === null) return null;
    const parts = resumeParts(
      {
        groups: this.groups,
        visible: (a, b) => this.vis.visible(a, b),
        view: (id) => {
          const peer = this.nodes.get(id);
          return peer === undefined ? undefined : this.view(peer);
        },
        volatile: (id) => this.volatile.get(id),
        rules: (subject) => this.rulesFor(subject),
      },
      nodeId,
      entries,
      everyPatch,
    );
    return parts === null ? null : this.narrowed(nodeId, parts);
  }

  /** A node was created or its durable fields changed. */
  upsertNode(node: NodeRecord): void {
    const old = this.nodes.get(node.id);
    const wasAttached = this.groups.isAttached(node.id);
    const oldGroup = old === undefined ? undefined : this.removeFromIndex(old);
    if (old === undefined) this.volatile.init(node.id, node.lastSeen);
    const group = this.addNode(node);
    if (wasAttached) this.groups.attach(node.id);
    // Its owner, tags or (for address rules) addresses put it with other nodes: its peers change.
    const moved = oldGroup !== undefined && oldGroup.key !== group.key;
    // New SSH users narrow its SSH rules differently.
    const sshUsersChanged = JSON.stringify(old?.sshUsers ?? null) !== JSON.stringify(node.sshUsers);
    const seq = this.log.append({
      kind: "node",
      nodeId: node.id,
      principalChanged: moved,
      rulesChanged: sshUsersChanged,
    });
    const view = this.view(node);
    if (!moved || oldGroup === undefined) {
      this.forViewers(group, node.id, (id) => this.deliver(id, { peersUpserted: [view] }, seq));
      if (wasAttached) {
        const ssh = sshUsersChanged ? { ssh: this.rulesFor(group).ssh } : {};
        this.deliver(node.id, { self: view, ...ssh }, seq);
      }
      return;
    }
    for (const other of this.groups.attachedGroups()) {
      const was = this.vis.visible(oldGroup, other);
      const now = this.vis.visible(group, other);
      for (const id of other.attached) {
        if (id === node.id) continue;
        if (now) this.deliver(id, { peersUpserted: [view] }, seq);
        else if (was) this.deliver(id, { peersRemoved: [node.id] }, seq);
      }
    }
    if (wasAttached) {
      // Its whole world changed: every peer it keeps is re-sent, the others removed.
      const rules = this.rulesFor(group);
      const gone: number[] = [];
      for (const other of this.groups.all()) {
        if (!this.vis.visible(oldGroup, other) || this.vis.visible(group, other)) continue;
        for (const id of other.ids) if (id !== node.id) gone.push(id);
      }
      const parts: DeltaParts = {
        self: view,
        peersUpserted: this.peersOf(group, node.id),
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
    this.forViewers(this.groups.of(nodeId)!, nodeId, (id) =>
      this.deliver(id, { peersRemoved: [nodeId] }, seq),
    );
    this.removeFromIndex(node);
    this.volatile.delete(nodeId);
    this.removed(node);
    return true;
  }

  /** Volatile facts of a node changed; its viewers get a patch of what really changed. */
  patch(nodeId: number, change: VolatileChange): void {
    const group = this.groups.of(nodeId);
    if (group === undefined) return;
    const patch = this.volatile.apply(nodeId, change);
    if (patch === null) return;
    const seq = this.log.append({ kind: "patch", nodeId });
    this.forViewers(group, nodeId, (id) => this.deliver(id, { patches: [patch] }, seq));
  }

  /**
   * A user was created or changed, and `policy` is the policy compiled with the new user list
   * (the same document: subject keys do not depend on users, so no node changes group). Only
   * the rows of the user's subjects are recomputed (no other pair involves them); rules of
   * attached subjects are compared and sent where they changed (they list user ids).
   */
  upsertUser(user: UserRecord, policy: CompiledPolicy): void {
    const old = this.users.get(user.id);
    this.users.set(user.id, user);
    const key = principalKey({ kind: "user", userId: user.id });
    const before = this.vis;
    this.vis = before.withPolicy(policy, key);
    const seq = this.log.append({ kind: "principal", principal: key });
    // The UserRef every view of the user's nodes carries (a sign-in changes signedInAt).
    const refChanged =
      old === undefined ||
      old.name !== user.name ||
      old.email !== user.email ||
      old.lastLoginAt !== user.lastLoginAt;
    for (const own of this.groups.ofPrincipal(key)) {
      for (const other of this.groups.all()) {
        const was = before.visible(own, other);
        const now = this.vis.visible(own, other);
        // The other subject's nodes are told about this user's nodes...
        if (was !== now || (now && refChanged)) {
          for (const id of other.attached) this.deliver(id, this.showOrHide(own.ids, id, now), seq);
        }
        // ...and this user's attached nodes about the other subject's nodes (pairs of two of
        // the user's own subjects are done once each way by the branch above).
        if (was !== now && other.principalKey !== key) {
          for (const id of own.attached) this.deliver(id, this.showOrHide(other.ids, id, now), seq);
        }
      }
      if (refChanged) {
        for (const id of own.attached)
          this.deliver(id, { self: this.view(this.nodes.get(id)!) }, seq);
      }
    }
    const same = [...this.groups.attachedGroups()].map((g) => ({
      was: g,
      now: g,
      attached: g.attached,
    }));
    this.refreshRules(before.policy, same, seq);
  }

  /**
   * The policy was replaced: nodes are grouped again (the prefixes it names may differ), and
   * every pair of (old group, new group) cells is asked again.
   *
   * `unchanged`, when given, names the subject keys `policy` answers about exactly as the
   * previous policy did, for pairs of two such keys (the share overlay changed over the same
   * document: mesh-changes.ts sharesChanged). Then only the cells that moved or have another
   * key are asked again, against every cell, their rules alone recomputed, and the change is
   * logged as a change of their principals, not of the policy: a node of another principal
   * that resumes gets a delta, not a full map.
   */
  setPolicy(policy: CompiledPolicy, unchanged?: (key: string) => boolean): void {
    const before = this.vis;
    const { groups, cells } = regroup(this.groups, policy, this.nodes.values());
    const stable = (cell: Cell) =>
      unchanged !== undefined && cell.was.key === cell.now.key && unchanged(cell.now.key);
    const touched = unchanged === undefined ? cells : cells.filter((cell) => !stable(cell));
    let seq: number;
    if (unchanged === undefined) {
      this.vis = new Visibility(policy);
      seq = this.log.append({ kind: "policy" });
    } else {
      this.vis = before.carry(policy, unchanged);
      const principals = new Set(touched.flatMap((c) => [c.was.principalKey, c.now.principalKey]));
      seq = this.log.seq;
      for (const principal of principals) seq = this.log.append({ kind: "principal", principal });
    }
    for (const mine of cells) {
      if (mine.attached.size === 0) continue;
      // Two stable cells see each other as before: only pairs with a touched cell can differ.
      for (const other of stable(mine) ? touched : cells) {
        const was = before.visible(mine.was, other.was);
        const now = this.vis.visible(mine.now, other.now);
        if (was === now) continue;
        for (const id of mine.attached) this.deliver(id, this.showOrHide(other.ids, id, now), seq);
      }
    }
    this.groups = groups;
    this.refreshRules(before.policy, touched, seq, unchanged);
  }

  private showOrHide(ids: Set<number>, except: number, show: boolean): DeltaParts {
    const others = [...ids].filter((id) => id !== except);
    if (others.length === 0) return {};
    return show
      ? { peersUpserted: others.map((id) => this.view(this.nodes.get(id)!)) }
      : { peersRemoved: others };
  }

  /** Recomputes the rules of attached nodes' subjects, sending them where they changed. */
  private refreshRules(
    previous: CompiledPolicy,
    moved: Iterable<Moved>,
    seq: number,
    unchanged?: (key: string) => boolean,
  ): void {
    const old = this.rules.restart(previous, unchanged);
    for (const { was, now, attached } of moved) {
      const parts = changedRules(old(was), this.rulesFor(now));
      if (parts === null) continue;
      for (const id of attached) this.deliver(id, parts, seq);
    }
  }

  /** `parts` with its SSH rules narrowed to the SSH users node `nodeId` reported. */
  private narrowed(nodeId: number, parts: DeltaParts): DeltaParts {
    if (parts.ssh === undefined) return parts;
    const sshUsers = this.nodes.get(nodeId)?.sshUsers ?? null;
    return sshUsers === null ? parts : { ...parts, ssh: narrowSshRules(parts.ssh, sshUsers) };
  }

  private rulesFor(subject: Subject): Rules {
    return this.rules.get(this.vis.policy, subject);
  }

  private peersOf(subject: Subject, except: number): PeerView[] {
    const peers: PeerView[] = [];
    for (const other of this.groups.all()) {
      if (!this.vis.visible(subject, other)) continue;
      for (const id of other.ids) if (id !== except) peers.push(this.view(this.nodes.get(id)!));
    }
    return peers;
  }

  /** Calls `fn` for every attached node (but `except`) whose subject sees `subject`. */
  private forViewers(subject: Subject, except: number, fn: (nodeId: number) => void): void {
    for (const other of this.groups.attachedGroups()) {
      if (!this.vis.visible(subject, other)) continue;
      for (const id of other.attached) if (id !== except) fn(id);
    }
  }

  private view(node: NodeRecord): PeerView {
    const owner = node.userId === null ? undefined : this.users.get(node.userId);
    return peerView(node, owner, this.volatile.get(node.id));
  }

  private addNode(node: NodeRecord): Group {
    this.nodes.set(node.id, node);
    this.byKey.set(node.nodeKey, node.id);
    return this.groups.add(node.id, subjectOf(this.vis.policy, node));
  }

  /** Takes a node out of the indexes (detaching it); returns the group it was in. */
  private removeFromIndex(node: NodeRecord): Group | undefined {
    if (this.byKey.get(node.nodeKey) === node.id) this.byKey.delete(node.nodeKey);
    this.nodes.delete(node.id);
    return this.groups.remove(node.id);
  }
}
