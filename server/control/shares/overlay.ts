// What the maps say about shares (issue 17, docs/control.md "Sharing: what the maps say"): the
// quarantine of a share's recipient, as a CompiledPolicy wrapped around the one compiled from
// the document. The recipient's ephemeral node (principal `share`) sees exactly its share's
// device and nothing else, whatever the document says; its filter and SSH rules are empty, so
// its own engine drops every connection attempt towards it (the device cannot reach back).
// The device sees the recipient (WireGuard needs the peer to answer) and gains a filter rule
// and an SSH rule whose source is the recipient's acceptance (`shares`: the peer's
// `share.acceptanceId`, never its addresses). Enforcers match a recipient by such a rule
// alone, never by the document's `*`, users, tags or CIDRs (which may cover the mesh range),
// so the document's rules do not leak to it (fail-closed). Everything else is the
// document's answer, unchanged. The mapper applies a share change as a policy change of this
// overlay (mapper.setPolicy): nodes regroup and each streaming node gets the differences.

import type { FilterRule, PortRange, SshRule } from "../../../worker/control/types.ts";
import {
  type CompiledPolicy,
  type PolicyNode,
  type PolicySubject,
  type PolicyUser,
  principalKey,
} from "../policy/types.ts";

/** The SSH port a share of SSH opens on the device (the agent's SSH server listens there). */
export const SHARE_SSH_PORT = 22;

/** One open acceptance of a share: the recipient's share node and its mesh addresses. */
export interface ShareRecipient {
  acceptanceId: number;
  nodeId: number;
  /** The share node's mesh addresses ("100.64.0.9", "fd7a:…::9"). */
  addresses: readonly string[];
}

/** A share in force (not revoked, not expired) with its open acceptances. */
export interface ActiveShare {
  shareId: string;
  /** The shared device. */
  deviceNodeId: number;
  /** Local users offered over SSH ([] = no SSH). */
  sshUsers: readonly string[];
  /** TCP ports offered. */
  ports: readonly number[];
  recipients: readonly ShareRecipient[];
}

/** What a device gains from its shares. */
interface DeviceExtra {
  filter: FilterRule[];
  ssh: SshRule[];
}

const EMPTY_FILTER: FilterRule[] = Object.freeze([]) as unknown as FilterRule[];
const EMPTY_SSH: SshRule[] = Object.freeze([]) as unknown as SshRule[];

/** The acceptance id of a subject whose principal is a share, else undefined. */
function acceptanceOf(subject: PolicySubject): number | undefined {
  const principal = "principal" in subject ? subject.principal : subject;
  return principal.kind === "share" ? principal.acceptanceId : undefined;
}

/** The device's extra filter and SSH rules: one of each per share, sources its recipients' acceptances. */
function deviceExtra(shares: readonly ActiveShare[]): DeviceExtra {
  const filter: FilterRule[] = [];
  const ssh: SshRule[] = [];
  for (const share of shares) {
    const ids = share.recipients.map((r) => r.acceptanceId);
    if (ids.length === 0) continue;
    const ports = new Set(share.ports);
    if (share.sshUsers.length > 0) ports.add(SHARE_SSH_PORT);
    const ranges: PortRange[] = [...ports]
      .sort((a, b) => a - b)
      .map((port) => ({ proto: "tcp", first: port, last: port }));
    if (ranges.length > 0) filter.push({ src: { shares: [...ids] }, ports: ranges });
    if (share.sshUsers.length > 0)
      ssh.push({ src: { shares: [...ids] }, users: [...share.sshUsers], action: "accept" });
  }
  return { filter, ssh };
}

function freeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) freeze(inner);
    Object.freeze(value);
  }
  return value;
}

const DEVICE_KEY = /#share-dev:\d+$/;

/**
 * Whether a subject key (CompiledPolicy.subjectKey) is the overlay's own: a recipient's
 * (`s:<acceptanceId>`) or a shared device's (`<document key>#share-dev:<nodeId>`). Two overlays
 * of one document answer alike about every pair of other keys (mapper.setPolicy's `unchanged`).
 */
export function isShareSubjectKey(key: string): boolean {
  return key.startsWith("s:") || DEVICE_KEY.test(key);
}

/**
 * When `a` and `b` are overlays of one compiled document (only the shares differ), the keys
 * they answer alike about (see isShareSubjectKey); else undefined.
 */
export function sameDocumentKeys(
  a: CompiledPolicy,
  b: CompiledPolicy,
): ((key: string) => boolean) | undefined {
  if (!(a instanceof SharesOverlay) || !(b instanceof SharesOverlay) || a.base !== b.base)
    return undefined;
  return (key) => !isShareSubjectKey(key);
}

/** The base policy with the shares' quarantine laid over it. */
class SharesOverlay implements CompiledPolicy {
  /** Acceptance id -> the device its recipient may reach. */
  private readonly deviceOf = new Map<number, number>();
  /** Device node id -> its shares (with at least one recipient), in a stable order. */
  private readonly sharesOf = new Map<number, ActiveShare[]>();
  private readonly extras = new Map<number, DeviceExtra>();
  private readonly filters = new Map<number, FilterRule[]>();
  private readonly sshRules = new Map<number, SshRule[]>();

  constructor(
    readonly base: CompiledPolicy,
    private readonly shares: readonly ActiveShare[],
  ) {
    // Sorted so that equal sets of shares give equal rules (the mapper compares their JSON).
    const sorted = [...shares]
      .filter((s) => s.recipients.length > 0)
      .sort((a, b) => (a.shareId < b.shareId ? -1 : a.shareId > b.shareId ? 1 : 0));
    for (const share of sorted) {
      const recipients = [...share.recipients].sort((a, b) => a.acceptanceId - b.acceptanceId);
      for (const r of recipients) this.deviceOf.set(r.acceptanceId, share.deviceNodeId);
      let list = this.sharesOf.get(share.deviceNodeId);
      if (list === undefined) {
        list = [];
        this.sharesOf.set(share.deviceNodeId, list);
      }
      list.push({ ...share, recipients });
    }
  }

  /** The device `subject` is, when it is a node with open acceptances. */
  private deviceId(subject: PolicySubject): number | undefined {
    if (!("principal" in subject) || subject.principal.kind === "share") return undefined;
    return this.sharesOf.has(subject.id) ? subject.id : undefined;
  }

  private extra(deviceId: number): DeviceExtra {
    let extra = this.extras.get(deviceId);
    if (extra === undefined) {
      extra = deviceExtra(this.sharesOf.get(deviceId)!);
      this.extras.set(deviceId, extra);
    }
    return extra;
  }

  canReach(src: PolicySubject, dst: PolicySubject): boolean {
    const from = acceptanceOf(src);
    const to = acceptanceOf(dst);
    // A recipient reaches its share's device and nothing else; nobody reaches a recipient
    // (visibility is either way, so the device still lists it).
    if (from !== undefined)
      return to === undefined && "principal" in dst && this.deviceOf.get(from) === dst.id;
    if (to !== undefined) return false;
    return this.base.canReach(src, dst);
  }

  filterFor(dst: PolicySubject): FilterRule[] {
    if (acceptanceOf(dst) !== undefined) return EMPTY_FILTER;
    const device = this.deviceId(dst);
    if (device === undefined) return this.base.filterFor(dst);
    let out = this.filters.get(device);
    if (out === undefined) {
      out = freeze([...this.base.filterFor(dst), ...this.extra(device).filter]);
      this.filters.set(device, out);
    }
    return out;
  }

  sshFor(dst: PolicySubject): SshRule[] {
    if (acceptanceOf(dst) !== undefined) return EMPTY_SSH;
    const device = this.deviceId(dst);
    if (device === undefined) return this.base.sshFor(dst);
    let out = this.sshRules.get(device);
    if (out === undefined) {
      out = freeze([...this.base.sshFor(dst), ...this.extra(device).ssh]);
      this.sshRules.set(device, out);
    }
    return out;
  }

  subjectKey(node: PolicyNode): string {
    if (node.principal.kind === "share") return principalKey(node.principal);
    const key = this.base.subjectKey?.(node) ?? principalKey(node.principal);
    // A device gets a group of its own: its extra rules are its alone, not its user's.
    return this.sharesOf.has(node.id) ? `${key}#share-dev:${node.id}` : key;
  }

  mayUseTag(userId: number, tag: string): boolean {
    return this.base.mayUseTag(userId, tag);
  }

  withUsers(users: readonly PolicyUser[]): CompiledPolicy {
    return new SharesOverlay(this.base.withUsers(users), this.shares);
  }
}

/**
 * `base` with `shares` laid over it (see the file's comment). Pure: `base` is never asked
 * about a share's recipient, and with no shares the answers are `base`'s own.
 */
export function withShares(base: CompiledPolicy, shares: readonly ActiveShare[]): CompiledPolicy {
  return new SharesOverlay(base, shares);
}
