// Deep links in the URL fragment: #/ssh/USER@HOST or #/ssh/USER@HOST:PORT (IPv6 in brackets:
// #/ssh/USER@[fd00::1]:2222). The fragment never reaches a server.

/** What a link asks for; the page confirms it with the person before connecting. */
export interface SshLink {
  user: string;
  host: string;
  port: number;
}

/** Longest fragment read: a link names one user and one host, nothing more. */
const MAX_LINK_CHARS = 1024;
/** Longest user name (Linux allows 32; other systems a little more). */
const MAX_USER_CHARS = 64;
/** Longest host: a DNS name's limit. */
const MAX_HOST_CHARS = 253;

/**
 * Parses #/ssh/USER@HOST[:PORT]; null when the fragment is not one, too long, or holds
 * control characters or spaces (a link cannot hide text in the confirmation).
 */
export function parseSshLink(hash: string): SshLink | null {
  if (hash.length > MAX_LINK_CHARS) return null;
  const match = /^#\/ssh\/(.+)$/.exec(hash);
  if (!match?.[1]) return null;
  let text: string;
  try {
    text = decodeURIComponent(match[1]);
  } catch {
    return null;
  }
  const at = text.lastIndexOf("@");
  if (at <= 0) return null;
  const user = text.slice(0, at);
  const rest = text.slice(at + 1);
  let host = rest;
  let port = 22;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed?.[1]) {
    host = bracketed[1];
    if (bracketed[2]) port = /^\d{1,5}$/.test(bracketed[2]) ? Number(bracketed[2]) : Number.NaN;
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon > 0 && rest.indexOf(":") === colon) {
      host = rest.slice(0, colon);
      const digits = rest.slice(colon + 1);
      port = /^\d{1,5}$/.test(digits) ? Number(digits) : Number.NaN;
    }
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  if (user.length > MAX_USER_CHARS || host.length > MAX_HOST_CHARS) return null;
  // Nothing invisible or confusable in what the person is asked to confirm.
  if (/[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(user)) return null;
  // A host is an address or a name in the mesh: no brackets, slashes or @ left over.
  if (!/^[A-Za-z0-9._:-]+$/.test(host)) return null;
  return { user, host, port };
}
