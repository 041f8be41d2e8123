// Nodes grouped by what the policy's answers about them depend on (CompiledPolicy.subjectKey):
// their principal, plus the address prefixes the policy names that their addresses fall in.
// Nodes no address rule concerns share their principal's group, so the answers cached per
// group are cached per principal as before; a node inside a `hosts` alias or a CIDR the policy
// names has a group of its own kind (one per principal and set of prefixes), asked about as a
// PolicyNode so that address rules count for it and for nobody else.

import {
  type CompiledPolicy,
  type PolicySubject,
  type Principal,
  principalKey,
} from "../policy/types.ts";
import type { NodeRecord } from "../store/types.ts";
import { principalOf } from "./views.ts";

/** What the policy is asked about for a group of nodes, and the key its answers go by. */
export interface Subject {
  /** The policy's subject key (equal keys, equal answers). */
  key: string;
  principal: Principal;
  /** principalKey(principal): a user change concerns every subject of that principal. */
  principalKey: string;
  /** The principal, or (when addresses matter) a PolicyNode with the same key. */
  query: PolicySubject;
}

/** The nodes of one subject, and those of them that have a map stream. */
export interface Group extends Subject {
  ids: Set<number>;
  attached: Set<number>;
}

/** The subject of `node` under `policy`. */
export function subjectOf(policy: CompiledPolicy, node: NodeRecord): Subject {
  const principal = principalOf(node);
  const pKey = principalKey(principal);
  const asNode = { id: node.id, principal, addresses: [node.ipv4, node.ipv6] };
  const key = policy.subjectKey?.(asNode) ?? pKey;
  // The plain principal where addresses do not matter: the policy's per-principal memo serves.
  return { key, principal, principalKey: pKey, query: key === pKey ? principal : asNode };
}

/** Nodes indexed by subject, by principal and by id, with who is attached. */
export class Groups {
  private readonly byKey = new Map<string, Group>();
  private readonly byNode = new Map<number, Group>();
  private readonly byPrincipal = new Map<string, Set<Group>>();
  /** Groups with at least one attached node: the only ones deltas are computed for. */
  private readonly withAttached = new Set<Group>();

  /** Every group. */
  all(): Iterable<Group> {
    return this.byKey.values();
  }

  /** The groups with attached nodes. */
  attachedGroups(): Iterable<Group> {
    return this.withAttached;
  }

  /** The group of a node, if known. */
  of(nodeId: number): Group | undefined {
    return this.byNode.get(nodeId);
  }

  /** The groups of one principal (by principalKey). */
  ofPrincipal(key: string): Iterable<Group> {
    return this.byPrincipal.get(key) ?? [];
  }

  /** Adds `node` (not yet in any group) to the group of `subject`; returns that group. */
  add(nodeId: number, subject: Subject): Group {
    let group = this.byKey.get(subject.key);
    if (group === undefined) {
      group = { ...subject, ids: new Set(), attached: new Set() };
      this.byKey.set(subject.key, group);
      let set = this.byPrincipal.get(subject.principalKey);
      if (set === undefined) {
        set = new Set();
        this.byPrincipal.set(subject.principalKey, set);
      }
      set.add(group);
    }
    group.ids.add(nodeId);
    this.byNode.set(nodeId, group);
    return group;
  }

  /** Removes a node (detaching it); returns the group it was in, which stays a valid Subject. */
  remove(nodeId: number): Group | undefined {
    const group = this.byNode.get(nodeId);
    if (group === undefined) return undefined;
    this.detach(nodeId);
    group.ids.delete(nodeId);
    this.byNode.delete(nodeId);
    if (group.ids.size === 0) {
      this.byKey.delete(group.key);
      const set = this.byPrincipal.get(group.principalKey)!;
      set.delete(group);
      if (set.size === 0) this.byPrincipal.delete(group.principalKey);
    }
    return group;
  }

  /** The node has a map stream now. */
  attach(nodeId: number): void {
    const group = this.byNode.get(nodeId);
    if (group === undefined) throw new Error(`mapper: node ${nodeId} is not known`);
    group.attached.add(nodeId);
    this.withAttached.add(group);
  }

  /** The node's stream ended (nothing when it had none). */
  detach(nodeId: number): void {
    const group = this.byNode.get(nodeId);
    if (group === undefined || !group.attached.delete(nodeId)) return;
    if (group.attached.size === 0) this.withAttached.delete(group);
  }

  /** Whether the node has a map stream. */
  isAttached(nodeId: number): boolean {
    return this.byNode.get(nodeId)?.attached.has(nodeId) ?? false;
  }
}

/** Nodes that were in one group before a policy change and are in one group after it. */
export interface Cell {
  was: Group;
  now: Group;
  ids: Set<number>;
  attached: Set<number>;
}

/**
 * Groups `nodes` under a new policy (attached as they were in `before`), and the cells: nodes
 * by (old group, new group). Cells are about as many as groups, so comparing the old and the
 * new visibility per pair of cells stays per principal, not per pair of nodes.
 */
export function regroup(
  before: Groups,
  policy: CompiledPolicy,
  nodes: Iterable<NodeRecord>,
): { groups: Groups; cells: Cell[] } {
  const groups = new Groups();
  const cells = new Map<Group, Map<Group, Cell>>();
  const out: Cell[] = [];
  for (const node of nodes) {
    const was = before.of(node.id)!;
    const now = groups.add(node.id, subjectOf(policy, node));
    const attached = before.isAttached(node.id);
    if (attached) groups.attach(node.id);
    let row = cells.get(was);
    if (row === undefined) {
      row = new Map();
      cells.set(was, row);
    }
    let cell = row.get(now);
    if (cell === undefined) {
      cell = { was, now, ids: new Set(), attached: new Set() };
      row.set(now, cell);
      out.push(cell);
    }
    cell.ids.add(node.id);
    if (attached) cell.attached.add(node.id);
  }
  return { groups, cells: out };
}
