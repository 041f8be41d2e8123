// Who may log in as whom on the identity SSH server (docs/agent-ssh.md). Pure: the caller
// (the peer behind the connection's source address), the map's SSH rules, the local account
// asked for, the clock and the agent's own powers in; a decision with a sentence for the
// person and one for the log out. Rules are matched as the packet filter matches its sources
// (worker/control/filter-rules.ts): any, users, tags, or the source address in a CIDR; a
// share recipient's node (PeerView.share) only by a rule whose `shares` hold its acceptance.

import type { PeerView, SourceSelector, SshRule } from "../../../worker/control/types.ts";
import { type Prefix, parseCidr } from "../../../worker/wireguard/allowed-ips.ts";
import { parseIp } from "../../../worker/wireguard/ip-address.ts";
import type { LocalUser } from "./users.ts";

/** The rule user that stands for every existing local account except root (uid 0). */
export const NONROOT = "autogroup:nonroot";

/** Whose accounts the agent can open sessions for: "any" when it runs as root, else its own user's name. */
export type RunAs = "any" | { user: string };

/** Why a login is allowed or refused. */
export type LoginOutcome =
  /** Allowed by an accept rule. */
  | "accept"
  /** Allowed by a check rule: the user signed in recently enough. */
  | "check"
  /** No peer of the map has the source address. */
  | "unknown-caller"
  /** No rule lets the caller be this user. */
  | "not-allowed"
  /** Only check rules allow it, and the user's sign-in is older than their period. */
  | "check-stale"
  /** No such local account. */
  | "no-such-user"
  /** The agent does not run as root and this is not its own user. */
  | "not-root";

/** A login decision and its explanation. */
export interface LoginDecision {
  allowed: boolean;
  outcome: LoginOutcome;
  /** For the person (sent as the SSH banner on refusal): says why, and what to do. */
  message: string;
}

/** Everything decideLogin() weighs. */
export interface LoginRequest {
  /** The peer behind the source address (MeshIdentity.peerByAddress), if any. */
  caller: PeerView | undefined;
  /** The connection's source address. */
  address: string;
  rules: readonly SshRule[];
  /** The user name the client asked for. */
  requested: string;
  /** Its local account, when there is one. */
  account: LocalUser | undefined;
  now: number;
  runAs: RunAs;
  /** Where a fresh sign-in is made ("<server>/login/check"). */
  checkUrl: string;
}

/**
 * Whether the caller is a share recipient's node (issue 17): marked by `share` in the map, and
 * the only nodes with neither an owner nor tags (the control server's nodes_owner_check admits
 * no other kind), whose map entry reaches this node through a share's rules alone.
 */
export function isShareGuest(caller: PeerView): boolean {
  return caller.share !== undefined || (caller.user === null && caller.tags.length === 0);
}

/**
 * "alice@example.com on laptop (100.64.0.3)", "tag:server on web-01 (...)" for a tagged node,
 * "share guest on share-3 (...)" for a share recipient.
 */
export function describeCaller(caller: PeerView, address: string): string {
  const who =
    caller.user !== null
      ? caller.user.email || caller.user.name
      : caller.tags.join(",") || "share guest";
  return `${who} on ${caller.name} (${address})`;
}

function inPrefix(address: Uint8Array, prefix: Prefix): boolean {
  if (address.length !== prefix.addr.length) return false;
  let bits = prefix.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (prefix.addr[i]! & mask)) return false;
  }
  return true;
}

/**
 * Whether `src` selects the caller (by user, tag) or its source address (by CIDR). A share
 * recipient's node is selected only by `shares` holding its acceptance (fail-closed: never by
 * `any`, users, tags or CIDRs), and `shares` selects no other node.
 */
export function selects(src: SourceSelector, caller: PeerView, address: string): boolean {
  if (caller.share !== undefined) return src.shares?.includes(caller.share.acceptanceId) === true;
  if (src.any === true) return true;
  if (caller.user !== null && src.users?.includes(caller.user.id)) return true;
  if (src.tags?.some((tag) => caller.tags.includes(tag))) return true;
  if (src.cidrs === undefined || src.cidrs.length === 0) return false;
  let bytes: Uint8Array;
  try {
    bytes = parseIp(address);
  } catch {
    return false;
  }
  return src.cidrs.some((text) => {
    try {
      return inPrefix(bytes, parseCidr(text, "ssh rule source"));
    } catch {
      // A CIDR that does not parse selects nothing, as in the packet filter.
      return false;
    }
  });
}

/** Whether a rule's user list covers `requested` (with its local account, for autogroup:nonroot). */
function covers(
  users: readonly string[],
  requested: string,
  account: LocalUser | undefined,
): boolean {
  if (users.includes(requested)) return true;
  // "Any user except root": an existing account whose uid is not 0, whatever its name.
  return (
    users.includes(NONROOT) && account !== undefined && account.uid !== 0 && requested !== "root"
  );
}

/** When the caller's user last signed in interactively (unix ms), or null: tagged nodes never do. */
function signedInAt(caller: PeerView): number | null {
  const at: unknown = caller.user?.signedInAt;
  return typeof at === "number" && Number.isFinite(at) ? at : null;
}

/**
 * The users the rules let `caller` log in as, in rule order ("autogroup:nonroot" as is),
 * with the check rules' users apart: for the refusal message ("the policy's ssh rules allow
 * ubuntu").
 */
export function loginsFor(
  caller: PeerView,
  address: string,
  rules: readonly SshRule[],
): { accept: string[]; check: string[] } {
  const accept: string[] = [];
  const check: string[] = [];
  for (const rule of rules) {
    if (!selects(rule.src, caller, address)) continue;
    const into = rule.action === "accept" ? accept : check;
    for (const user of rule.users) if (!into.includes(user)) into.push(user);
  }
  return { accept, check };
}

function list(users: readonly string[]): string {
  return users.length === 0 ? "no user" : users.join(", ");
}

/**
 * Whether a login made earlier may go on under the current rules: some rule of either action
 * still selects the caller and covers the user. A check rule counts whatever the sign-in's age
 * (its period gates the login, not the session after it, as with sshd), so only a rule change
 * or the caller's new identity ends a session here.
 */
export function stillCovered(
  caller: PeerView,
  address: string,
  rules: readonly SshRule[],
  user: string,
  account: LocalUser | undefined,
): boolean {
  return rules.some(
    (rule) => selects(rule.src, caller, address) && covers(rule.users, user, account),
  );
}

/** Decides one login; never throws. */
export function decideLogin(request: LoginRequest): LoginDecision {
  const { caller, address, requested, account } = request;
  if (caller === undefined) {
    return {
      allowed: false,
      outcome: "unknown-caller",
      message: `${address} is not a node of this mesh's map: no SSH login from it.`,
    };
  }
  const who = describeCaller(caller, address);
  let outcome: LoginOutcome | undefined;
  let stale: number | undefined;
  for (const rule of request.rules) {
    if (!selects(rule.src, caller, address) || !covers(rule.users, requested, account)) continue;
    if (rule.action === "accept") {
      outcome = "accept";
      break;
    }
    // A missing, negative or non-number period lets nobody in: only a fresh sign-in counts.
    const given = rule.checkPeriodMs ?? 0;
    const period = Number.isFinite(given) && given > 0 ? given : 0;
    const at = signedInAt(caller);
    if (at !== null && request.now - at <= period) outcome = "check";
    else stale = Math.max(stale ?? 0, period);
  }
  if (outcome === undefined) {
    if (stale !== undefined) {
      const minutes = Math.max(1, Math.round(stale / 60_000));
      return {
        allowed: false,
        outcome: "check-stale",
        message:
          `${who} may log in as ${requested} only after a sign-in within the last ${minutes} min ` +
          `(check rule): sign in again at ${request.checkUrl}, then retry.`,
      };
    }
    const { accept, check } = loginsFor(caller, address, request.rules);
    if (account === undefined && requested !== "root" && [...accept, ...check].includes(NONROOT)) {
      return {
        allowed: false,
        outcome: "no-such-user",
        message: `${who} may not log in as ${requested}: there is no such user on this host.`,
      };
    }
    const allowed = [...accept, ...check.filter((u) => !accept.includes(u))];
    // A share recipient is let in by the share's rule alone: what it allows is the share's.
    const source = isShareGuest(caller)
      ? "the share allows SSH as"
      : "the policy's ssh rules allow";
    return {
      allowed: false,
      outcome: "not-allowed",
      message: `${who} may not log in as ${requested}: ${source} ${list(allowed)}.`,
    };
  }
  if (account === undefined) {
    return {
      allowed: false,
      outcome: "no-such-user",
      message: `${who} may not log in as ${requested}: there is no such user on this host.`,
    };
  }
  if (request.runAs !== "any" && request.runAs.user !== requested) {
    return {
      allowed: false,
      outcome: "not-root",
      message:
        `${who} may not log in as ${requested}: the agent here does not run as root, ` +
        `so it can only open sessions as ${request.runAs.user}.`,
    };
  }
  return { allowed: true, outcome, message: `${who} logs in as ${requested}` };
}
