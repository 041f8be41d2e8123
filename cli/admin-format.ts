// `corridor admin`'s human output: aligned tables of users, nodes and auth keys (the API's JSON
// shapes, worker/control/api-views.ts), and times as UTC to the second.

import type {
  AuditView,
  AuthKeyView,
  NodeView,
  ShareView,
  UserView,
} from "../worker/control/api-views.ts";

/** A user as the API lists it: the fields the table shows. */
export type UserRow = Pick<UserView, "id" | "name" | "email" | "role" | "lastLoginAt">;

/** A node as the API lists it: the fields the table shows. */
export type NodeRow = Pick<
  NodeView,
  | "id"
  | "name"
  | "hostname"
  | "os"
  | "addresses"
  | "userId"
  | "tags"
  | "ephemeral"
  | "keyExpiry"
  | "lastSeen"
>;

/** An auth key as the API lists it (a prefix, never the key): the fields the table shows. */
export type AuthKeyRow = Pick<
  AuthKeyView,
  "id" | "prefix" | "reusable" | "ephemeral" | "tags" | "expiresAt" | "revokedAt" | "usedCount"
>;

/** An audit entry as the API lists it (the shared wire type; the actor's id is not shown). */
export type AuditRow = Omit<AuditView, "actorId">;

/** A time for people: "2026-12-03 07:40:12Z", or "-" for none. */
export function when(ms: number | null): string {
  if (ms === null) return "-";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
}

/** C0 and C1 control characters (a name that moves the cursor could fake a row). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/** Columns padded to their widest cell; control characters shown as "?" (names are users'). */
export function table(header: string[], rows: string[][]): string {
  const clean = [header, ...rows].map((row) =>
    row.map((cell) => cell.replace(CONTROL_CHARACTERS, "?")),
  );
  const widths = header.map((_, i) => Math.max(...clean.map((row) => (row[i] ?? "").length)));
  return clean
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

export function usersTable(users: UserRow[]): string {
  return table(
    ["ID", "NAME", "EMAIL", "ROLE", "LAST SIGN-IN"],
    users.map((u) => [String(u.id), u.name, u.email || "-", u.role, when(u.lastLoginAt)]),
  );
}

export function nodesTable(nodes: NodeRow[]): string {
  return table(
    ["ID", "NAME", "ADDRESSES", "OWNER", "OS", "EPHEMERAL", "KEY EXPIRY", "LAST SEEN"],
    nodes.map((n) => [
      String(n.id),
      n.name,
      n.addresses.join(","),
      n.userId === null ? n.tags.join(",") : `user ${n.userId}`,
      n.os || "-",
      n.ephemeral ? "yes" : "no",
      when(n.keyExpiry),
      when(n.lastSeen),
    ]),
  );
}

export function authKeysTable(keys: AuthKeyRow[]): string {
  return table(
    ["ID", "PREFIX", "REUSABLE", "EPHEMERAL", "TAGS", "USED", "EXPIRES", "REVOKED"],
    keys.map((k) => [
      String(k.id),
      k.prefix,
      k.reusable ? "yes" : "no",
      k.ephemeral ? "yes" : "no",
      k.tags.join(",") || "-",
      String(k.usedCount),
      when(k.expiresAt),
      when(k.revokedAt),
    ]),
  );
}

export function auditTable(entries: AuditRow[]): string {
  return table(
    ["ID", "TIME", "ACTOR", "VIA", "SOURCE", "ACTION", "TARGET", "DETAIL"],
    entries.map((e) => [
      String(e.id),
      when(e.at),
      e.actor || "-",
      e.via,
      e.source,
      e.action,
      e.target || "-",
      e.detail || "-",
    ]),
  );
}

/** A share as `share list` shows it: the API's view, with each acceptance's `online`. */
export type ShareRow = ShareView;

/**
 * "Firefox 128 on Linux", "Chrome 131 on macOS", ... from a User-Agent; the first 40
 * characters of it when no browser is recognized, "-" for none.
 */
export function browserOf(userAgent: string): string {
  if (userAgent.trim() === "") return "-";
  const version = (name: string): string | undefined =>
    new RegExp(`${name}/([0-9]+)`).exec(userAgent)?.[1];
  const browsers: [string, string][] = [
    ["Edg", "Edge"],
    ["OPR", "Opera"],
    ["Firefox", "Firefox"],
    ["Chrome", "Chrome"],
    ["Chromium", "Chromium"],
    ["Version", "Safari"],
  ];
  let browser: string | undefined;
  for (const [token, name] of browsers) {
    const v = version(token);
    if (v === undefined) continue;
    if (name === "Safari" && !userAgent.includes("Safari/")) continue;
    browser = `${name} ${v}`;
    break;
  }
  const systems: [RegExp, string][] = [
    [/Android/, "Android"],
    [/iPhone|iPad|iPod/, "iOS"],
    [/Mac OS X|Macintosh/, "macOS"],
    [/Windows/, "Windows"],
    [/CrOS/, "ChromeOS"],
    [/Linux|X11/, "Linux"],
  ];
  const system = systems.find(([re]) => re.test(userAgent))?.[1];
  if (browser === undefined) return userAgent.slice(0, 40);
  return system === undefined ? browser : `${browser} on ${system}`;
}

/** What a share offers: "ssh ubuntu,deploy; tcp 8080,8443". */
function offers(share: Pick<ShareView, "sshUsers" | "ports">): string {
  const parts: string[] = [];
  if (share.sshUsers.length > 0) parts.push(`ssh ${share.sshUsers.join(",")}`);
  if (share.ports.length > 0) parts.push(`tcp ${share.ports.join(",")}`);
  return parts.join("; ") || "-";
}

/** The shares, then (when there are any) their acceptances, as two tables. */
export function sharesTable(shares: ShareRow[]): string {
  const main = table(
    ["ID", "NODE", "OFFERS", "AUDIENCE", "USES", "EXPIRES", "STATE", "NOTE"],
    shares.map((s) => [
      s.id,
      s.nodeName || `node ${s.nodeId}`,
      offers(s),
      s.audience === "emails" ? s.emails.join(",") : s.audience,
      `${s.uses}/${s.maxUses ?? "unlimited"}`,
      when(s.expiresAt),
      s.state,
      s.note || "-",
    ]),
  );
  const rows = shares.flatMap((s) =>
    s.acceptances.map((a) => [
      s.id,
      String(a.id),
      a.name,
      when(a.acceptedAt),
      browserOf(a.userAgent),
      a.nodeName ?? "-",
      a.endedAt !== null
        ? `ended ${when(a.endedAt)} (${a.endReason ?? "?"})`
        : a.online === true
          ? "online"
          : "offline",
    ]),
  );
  if (rows.length === 0) return main;
  return `${main}
${table(["SHARE", "ACCEPTANCE", "WHO", "ACCEPTED", "BROWSER", "NODE", "NOW"], rows)}`;
}
