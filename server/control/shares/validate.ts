// What a share may offer, checked against the node it shares: at least SSH users or ports;
// SSH only where the Corridor agent runs its SSH server (the node reported SSH host keys), as
// local users that are valid names and among those the node's SSH server can be; an expiry of
// 1 minute to 30 days; a use limit of at least 1 (or none); a short note; a list of emails
// exactly when the audience is "emails". Every problem is reported at once, naming its field.

import type { NodeRecord, ShareAudience } from "../store/types.ts";
import { ShareError, type ShareIssue } from "./errors.ts";

/** Shortest and longest lifetime of a share, and the default. */
export const SHARE_MIN_TTL_MS = 60_000;
export const SHARE_MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000;
export const SHARE_DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/** Longest note, in characters (UTF-16 code units, as the page counts them). */
export const SHARE_NOTE_MAX = 280;

/** Most SSH users, ports and emails one share lists. */
export const SHARE_LIST_MAX = 32;

/** A local user name as the agent's SSH server takes it (policy selectors' rule). */
export const LOCAL_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** Whether `text` holds a C0 control other than tab and line breaks, or DEL. */
function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** An email address, loosely: one '@', no spaces, at most 254 characters. */
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;

/** What the sharer asks for (the API's body after its schema). */
export interface ShareSpec {
  nodeId: number;
  sshUsers: string[];
  ports: number[];
  audience: ShareAudience;
  emails: string[];
  /** Lifetime from now, in ms. */
  expiryMs: number;
  maxUses: number | null;
  note: string;
}

/** A spec checked against its node: lists sorted and unique, emails lower case. */
export interface CheckedSpec extends ShareSpec {}

/** Checks `spec` against `node`; throws share_invalid / share_ssh_unavailable naming the fields. */
export function checkShareSpec(spec: ShareSpec, node: NodeRecord): CheckedSpec {
  const issues: ShareIssue[] = [];
  const sshUsers = [...new Set(spec.sshUsers)].sort();
  const ports = [...new Set(spec.ports)].sort((a, b) => a - b);
  const emails = [...new Set(spec.emails.map((e) => e.trim().toLowerCase()))].sort();
  if (sshUsers.length === 0 && ports.length === 0) {
    issues.push({ path: "body", message: "offer SSH users, ports, or both" });
  }
  if (sshUsers.length > SHARE_LIST_MAX) {
    issues.push({ path: "sshUsers", message: `at most ${SHARE_LIST_MAX} users` });
  }
  spec.sshUsers.forEach((user, i) => {
    if (!LOCAL_USER.test(user)) {
      issues.push({ path: `sshUsers[${i}]`, message: "expected a local user name" });
    } else if (node.sshUsers !== null && !node.sshUsers.includes(user)) {
      issues.push({
        path: `sshUsers[${i}]`,
        message: `${node.name}'s SSH server cannot log in as ${user} (it can as: ${node.sshUsers.join(", ") || "nobody"})`,
      });
    }
  });
  if (ports.length > SHARE_LIST_MAX) {
    issues.push({ path: "ports", message: `at most ${SHARE_LIST_MAX} ports` });
  }
  spec.ports.forEach((port, i) => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      issues.push({ path: `ports[${i}]`, message: "expected a TCP port from 1 to 65535" });
    }
  });
  if (spec.audience === "emails" && emails.length === 0) {
    issues.push({ path: "emails", message: 'list at least one email for the audience "emails"' });
  }
  if (spec.audience !== "emails" && emails.length > 0) {
    issues.push({ path: "emails", message: 'emails are for the audience "emails" only' });
  }
  if (emails.length > SHARE_LIST_MAX) {
    issues.push({ path: "emails", message: `at most ${SHARE_LIST_MAX} emails` });
  }
  spec.emails.forEach((email, i) => {
    if (email.length > 254 || !EMAIL.test(email.trim())) {
      issues.push({ path: `emails[${i}]`, message: "expected an email address" });
    }
  });
  if (
    !Number.isSafeInteger(spec.expiryMs) ||
    spec.expiryMs < SHARE_MIN_TTL_MS ||
    spec.expiryMs > SHARE_MAX_TTL_MS
  ) {
    issues.push({ path: "expiry", message: "from 1 minute to 30 days" });
  }
  if (spec.maxUses !== null && (!Number.isSafeInteger(spec.maxUses) || spec.maxUses < 1)) {
    issues.push({ path: "maxUses", message: "at least 1, or null for no limit" });
  }
  if (spec.note.length > SHARE_NOTE_MAX) {
    issues.push({ path: "note", message: `at most ${SHARE_NOTE_MAX} characters` });
  } else if (hasControlChars(spec.note)) {
    // Shown on the recipient's page and in the audit log; NUL cannot even be stored.
    issues.push({ path: "note", message: "no control characters (line breaks and tabs are fine)" });
  }
  if (issues.length > 0) {
    const first = issues[0]!;
    throw new ShareError("share_invalid", `invalid share: ${first.path}: ${first.message}`, issues);
  }
  // Asked last: a share that is wrong in other ways says so first.
  if (sshUsers.length > 0 && node.sshHostKeys.length === 0) {
    throw new ShareError(
      "share_ssh_unavailable",
      `sharing SSH needs the Corridor agent's SSH server on ${node.name}`,
    );
  }
  return { ...spec, sshUsers, ports, emails };
}
