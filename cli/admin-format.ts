// `corridor admin`'s human output: aligned tables of users, nodes and auth keys (the API's JSON
// shapes, worker/control/api-views.ts), and times as UTC to the second.

import type { AuditView, AuthKeyView, NodeView, UserView } from "../worker/control/api-views.ts";

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
