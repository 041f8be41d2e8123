// Share links, `https://HOST/s/<id>#<secret>` (docs/control.md, "Sharing"), read and written the
// same way in the browser and in Node. The id (16 random bytes, base64url: 22 characters) is in
// the path, so the server can answer /s/<id> with the page; the secret (32 random bytes,
// base64url: 43 characters) is in the fragment, which browsers never send to a server, so it
// stays out of access logs, proxies and Referer headers. Parsing is strict: a link copied
// with a piece missing or extra says which piece is wrong instead of failing later.

/** A share's public id as the server makes it. */
export const SHARE_LINK_ID = /^[A-Za-z0-9_-]{22}$/;

/** A share's secret as the server makes it. */
export const SHARE_LINK_SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Longest link text looked at (a real one is under 200 characters). */
export const SHARE_LINK_MAX = 2048;

/** What a share link names. */
export interface ShareLink {
  /** The server's origin ("https://corridor.example.com"). */
  origin: string;
  id: string;
  secret: string;
}

/** Why a text is not a share link. */
export type ShareLinkErrorCode =
  | "too_long"
  | "not_a_url"
  | "bad_scheme"
  | "credentials"
  | "query"
  | "bad_path"
  | "bad_id"
  | "no_secret"
  | "bad_secret";

/** The parse result: the link, or why not, in a sentence the page can show. */
export type ShareLinkResult =
  | { ok: true; link: ShareLink }
  | { ok: false; code: ShareLinkErrorCode; message: string };

const fail = (code: ShareLinkErrorCode, message: string): ShareLinkResult => ({
  ok: false,
  code,
  message,
});

/**
 * Parses `https://HOST/s/<id>#<secret>` (http too: a server on loopback). Leading and trailing
 * white space is ignored (a pasted link); anything else out of place is an error naming it.
 */
export function parseShareLink(text: string): ShareLinkResult {
  if (text.length > SHARE_LINK_MAX) {
    return fail("too_long", `a share link is short; this text has ${text.length} characters`);
  }
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return fail(
      "not_a_url",
      "this is not a link: a share link looks like https://HOST/s/ID#SECRET",
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return fail("bad_scheme", `a share link starts with https:// (this one: ${url.protocol}//)`);
  }
  if (url.username !== "" || url.password !== "") {
    return fail("credentials", "a share link has no user name or password before its host");
  }
  if (url.search !== "") {
    return fail("query", "a share link has no ?query: was something added to it?");
  }
  const path = /^\/s\/([^/]*)$/.exec(url.pathname);
  if (path === null) {
    return fail("bad_path", "a share link's path is /s/ID: this link points elsewhere");
  }
  const id = path[1]!;
  if (!SHARE_LINK_ID.test(id)) {
    return fail(
      "bad_id",
      "the share id in this link is damaged (22 characters expected after /s/)",
    );
  }
  // url.hash is "" for both "no #" and "# with nothing after it".
  if (url.hash === "" || url.hash === "#") {
    return fail("no_secret", "this link lacks its secret (the part after #): copy the whole link");
  }
  const secret = url.hash.slice(1);
  if (!SHARE_LINK_SECRET.test(secret)) {
    return fail(
      "bad_secret",
      "the secret in this link (after #) is damaged: copy the whole link again",
    );
  }
  return { ok: true, link: { origin: url.origin, id, secret } };
}

/** The link for a share: `<base>/s/<id>#<secret>` (`base` is the server's URL or origin). */
export function buildShareLink(base: string, id: string, secret: string): string {
  if (!SHARE_LINK_ID.test(id)) throw new TypeError("share link: the id is not a share id");
  if (!SHARE_LINK_SECRET.test(secret)) {
    throw new TypeError("share link: the secret is not a share secret");
  }
  return `${new URL(`/s/${id}`, base).href}#${secret}`;
}
