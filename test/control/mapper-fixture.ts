// Test doubles for the mapper's unit tests: a CompiledPolicy given as an explicit reachability
// table between principal keys (it counts its canReach calls, so a test can show that work
// follows principals, not node pairs), and records for users and nodes.

import {
  type CompiledPolicy,
  type Principal,
  principalKey,
} from "../../server/control/policy/types.ts";
import type { NodeRecord, UserRecord } from "../../server/control/store/types.ts";
import type { FilterRule } from "../../worker/control/types.ts";

/** A policy whose reachability is the set of "src>dst" principal-key pairs given. */
export class TablePolicy implements CompiledPolicy {
  canReachCalls = 0;
  private readonly pairs: Set<string>;

  constructor(pairs: readonly string[]) {
    this.pairs = new Set(pairs);
  }

  canReach(src: Principal, dst: Principal): boolean {
    this.canReachCalls++;
    return this.pairs.has(`${principalKey(src)}>${principalKey(dst)}`);
  }

  /** Accepts every port from the principals that may reach `dst` (user ids and tags). */
  filterFor(dst: Principal): FilterRule[] {
    const users: number[] = [];
    const tags: string[] = [];
    for (const pair of this.pairs) {
      const [src, to] = pair.split(">") as [string, string];
      if (to !== principalKey(dst)) continue;
      if (src.startsWith("u:")) users.push(Number(src.slice(2)));
      else tags.push(...src.slice(2).split(","));
    }
    if (users.length === 0 && tags.length === 0) return [];
    return [{ src: { users, tags }, ports: [{ proto: "*", first: 0, last: 65535 }] }];
  }

  sshFor(): [] {
    return [];
  }

  mayUseTag(): boolean {
    return false;
  }

  /** The table names principals, not emails: other users change nothing. */
  withUsers(): TablePolicy {
    return new TablePolicy([...this.pairs]);
  }
}

/** A user record. */
export function user(id: number, name: string, role: UserRecord["role"] = "member"): UserRecord {
  return {
    id,
    issuer: "corridor:local",
    subject: name,
    email: `${name}@example.com`,
    name,
    role,
    createdAt: 0,
    lastLoginAt: null,
  };
}

/** A node record owned by `owner` (a user id) or carrying `owner` (tags). */
export function node(id: number, owner: number | string[], name = `n${id}`): NodeRecord {
  const hex = id.toString(16).padStart(2, "0");
  return {
    id,
    nodeKey: Buffer.alloc(32, id).toString("base64"),
    userId: typeof owner === "number" ? owner : null,
    tags: typeof owner === "number" ? [] : owner,
    name,
    hostname: name,
    os: "linux",
    ipv4: `100.64.0.${id}`,
    ipv6: `fd00:1::${hex}`,
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    sshUsers: null,
    createdAt: 0,
    lastSeen: null,
    authKeyId: null,
    shareAcceptanceId: null,
  };
}
