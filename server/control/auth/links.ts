// Single-use sign-in links: the owner link (printed at start and by `corridor admin owner-link`)
// and invitations. The secret lives in the URL's fragment, which browsers never send to a
// server, so it stays out of access logs, proxies and Referer headers; the page posts it to
// `POST /api/v1/login/link` (api/login.ts). Only its SHA-256 is stored; a link works once and
// expires (15 minutes for the owner link). No passwords anywhere.

import type { LinkRecord, Store, StoreTx, UserRecord } from "../store/types.ts";
import { hashSecret, randomToken } from "./secrets.ts";

/** Issuer of users made without an identity provider (the owner, invited users). */
export const LOCAL_ISSUER = "corridor:local";

/** Subject of the owner user. */
export const OWNER_SUBJECT = "owner";

/** Lifetime of an owner link. */
export const OWNER_LINK_TTL_MS = 15 * 60 * 1000;

/** Default and longest lifetime of an invitation. */
export const INVITE_DEFAULT_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const INVITE_MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000;

function linkUrl(baseUrl: string, path: string, token: string): string {
  return `${new URL(path, baseUrl).href}#${token}`;
}

/**
 * Makes a new owner link, `BASE/login/owner#TOKEN`, valid for 15 minutes and once. Whoever
 * opens it signs in as the owner (created on first use).
 */
export async function createOwnerLink(
  store: Store,
  baseUrl: string,
  now: number = Date.now(),
): Promise<string> {
  const token = randomToken(32);
  await store.createLink({
    hash: hashSecret(token),
    kind: "owner",
    role: "admin",
    createdBy: null,
    email: "",
    expiresAt: now + OWNER_LINK_TTL_MS,
    usedAt: null,
  });
  return linkUrl(baseUrl, "/login/owner", token);
}

/** What an invitation grants. */
export interface InviteSpec {
  role: "admin" | "member";
  /** The invited person's email ("" when not known). */
  email: string;
  createdBy: number;
  expiresAt: number;
}

/** Makes an invitation inside `tx`; returns its URL, `BASE/login/invite#TOKEN`. */
export async function createInvite(
  tx: StoreTx,
  baseUrl: string,
  spec: InviteSpec,
): Promise<string> {
  const token = randomToken(32);
  await tx.createLink({ hash: hashSecret(token), kind: "invite", usedAt: null, ...spec });
  return linkUrl(baseUrl, "/login/invite", token);
}

/** The owner user, created when it does not exist yet. */
export async function ensureOwner(tx: StoreTx): Promise<UserRecord> {
  const existing = await tx.userByIdentity(LOCAL_ISSUER, OWNER_SUBJECT);
  if (existing !== null) return existing;
  return tx.createUser({
    issuer: LOCAL_ISSUER,
    subject: OWNER_SUBJECT,
    email: "",
    name: "owner",
    role: "owner",
    lastLoginAt: null,
  });
}

/** The link was unknown, used or expired: the store cannot tell which (it keeps no secret). */
export class LinkRefusedError extends Error {
  constructor() {
    super("this sign-in link is unknown, was used already, or has expired");
    this.name = "LinkRefusedError";
  }
}

/** Who a consumed link signed in, and whether the user is new. */
export interface LinkSignIn {
  user: UserRecord;
  created: boolean;
  kind: LinkRecord["kind"];
}

/**
 * Consumes a link's token inside `tx` (single use: a second call fails) and returns the user it
 * signs in: the owner for an owner link; a new user for an invitation (issuer corridor:local,
 * a random subject, the invitation's role and email, `name` as given). Throws LinkRefusedError.
 */
export async function consumeLinkToken(
  tx: StoreTx,
  token: string,
  name: string,
  now: number,
): Promise<LinkSignIn> {
  const link = await tx.consumeLink(hashSecret(token), now);
  if (link === null) throw new LinkRefusedError();
  if (link.kind === "owner") {
    const before = await tx.userByIdentity(LOCAL_ISSUER, OWNER_SUBJECT);
    return { user: await ensureOwner(tx), created: before === null, kind: "owner" };
  }
  const fallback = link.email === "" ? "user" : (link.email.split("@")[0] ?? "user");
  const user = await tx.createUser({
    issuer: LOCAL_ISSUER,
    subject: randomToken(16),
    email: link.email,
    name: name === "" ? fallback : name,
    role: link.role,
    lastLoginAt: null,
  });
  return { user, created: true, kind: "invite" };
}
