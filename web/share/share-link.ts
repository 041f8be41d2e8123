// A share link, as the recipient's page reads it: `<base>/s/<id>#<secret>` (issue 17). The id is
// the path; the secret is the fragment, which never reaches a server in a request line. The page
// reads it once, keeps it in memory, and takes it out of the address bar at once (so it is not in
// the history, a bookmark or a screenshot of the address bar). Across a sign-in round trip it is
// kept in this tab's sessionStorage, for that one share only, and taken out when the page is back.
// Parsing is strict and bounded: anyone can make a link to this page.

import { SHARE_ID } from "../../worker/api.ts";

/** The path prefix of a share link. */
export const SHARE_PATH_PREFIX = "/s/";

/** A secret: 32 bytes as base64url, 43 characters (worker/control/share-link.ts's). */
const SECRET = /^[A-Za-z0-9_-]{43}$/;
/** Longest path or fragment read; anything longer is not a share link. */
const MAX_PART = 512;

/** What the address names. */
export type ShareLocation =
  /** A share with its secret. */
  | { kind: "share"; id: string; secret: string }
  /** A share path without a secret (a reload, or the secret already read). */
  | { kind: "no-secret"; id: string }
  /** A path under /s/ that is no share, or a fragment that is no secret: one message for both. */
  | { kind: "bad" };

/** Whether `pathname` is the share page's (main.ts picks the page by it). */
export function isSharePath(pathname: string): boolean {
  return pathname.startsWith(SHARE_PATH_PREFIX);
}

/**
 * What a location under /s/ names. The id must be the whole path segment (a trailing "/" is
 * allowed); the fragment is the secret alone ("#" and nothing is no secret).
 */
export function parseShareLocation(pathname: string, hash: string): ShareLocation {
  if (pathname.length > MAX_PART || hash.length > MAX_PART) return { kind: "bad" };
  if (!isSharePath(pathname)) return { kind: "bad" };
  let id = pathname.slice(SHARE_PATH_PREFIX.length);
  if (id.endsWith("/")) id = id.slice(0, -1);
  if (!SHARE_ID.test(id)) return { kind: "bad" };
  const secret = hash.startsWith("#") ? hash.slice(1) : hash;
  if (secret === "") return { kind: "no-secret", id };
  if (!SECRET.test(secret)) return { kind: "bad" };
  return { kind: "share", id, secret };
}

/** The address the page shows once the secret is read: the share's path, no fragment. */
export function cleanSharePath(id: string, search = ""): string {
  return `${SHARE_PATH_PREFIX}${id}${search}`;
}

/**
 * Reads the share from this page's address and takes the secret out of the address bar at once
 * (`history.replaceState` to `/s/<id>`, the query kept): main.ts calls it before anything else.
 */
export function takeShareLocation(): ShareLocation {
  const where = parseShareLocation(location.pathname, location.hash);
  const path = where.kind === "bad" ? location.pathname : cleanSharePath(where.id, location.search);
  if (location.hash !== "" || where.kind !== "bad") history.replaceState(null, "", path);
  return where;
}

/** The sessionStorage key holding a secret across a sign-in round trip. */
export const SHARE_SECRET_KEY = "corridor.share-secret";

/** What storage the secret may use (sessionStorage; a fake in tests). */
export type SecretStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** Keeps `secret` for share `id` across a sign-in (this tab only). False without storage. */
export function keepSecretForSignIn(storage: SecretStorage, id: string, secret: string): boolean {
  try {
    storage.setItem(SHARE_SECRET_KEY, JSON.stringify({ id, secret }));
    return true;
  } catch {
    return false;
  }
}

/**
 * The secret kept for share `id`, removed from storage in any case (it is read once); null when
 * none is kept, it is for another share, or it is not a secret.
 */
export function takeKeptSecret(storage: SecretStorage, id: string): string | null {
  let text: string | null;
  try {
    text = storage.getItem(SHARE_SECRET_KEY);
    storage.removeItem(SHARE_SECRET_KEY);
  } catch {
    return null;
  }
  if (text === null || text.length > MAX_PART) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null) return null;
    const kept = value as { id?: unknown; secret?: unknown };
    if (kept.id !== id || typeof kept.secret !== "string" || !SECRET.test(kept.secret)) return null;
    return kept.secret;
  } catch {
    return null;
  }
}
