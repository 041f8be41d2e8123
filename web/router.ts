// The page's routes, all in the URL fragment (it never reaches a server), so what is on screen
// can be bookmarked and back/forward work:
//   #/  home · #/mesh  mesh hosts · #/mesh/host/NAME  a mesh host · #/network/ID  a wg-quick
//   network · #/network/ID/details · #/network/add · #/admin/SECTION · #/ssh/USER@HOST[:PORT]
//   (deep link; `?net=ID` names the wg-quick network, else HOST is a mesh name or an address)
//   · #/shares  the shares this person made (issue 17; the recipient's page is /s/<id>).
// Parsing is strict and bounded: a fragment is attacker-chosen (any site can link here).

/** What a link asks for; the page confirms it with the person before connecting. */
export interface SshLink {
  user: string;
  host: string;
  port: number;
}

/** The admin views (web/admin/admin-view.ts). */
export const ADMIN_SECTIONS = ["nodes", "users", "keys", "policy", "audit"] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

/** One screen of the page. */
export type Route =
  | { kind: "home" }
  | { kind: "mesh" }
  | { kind: "mesh-host"; name: string }
  | { kind: "network"; id: string }
  | { kind: "network-details"; id: string }
  | { kind: "network-add" }
  | { kind: "admin"; section: AdminSection }
  | { kind: "shares" }
  | { kind: "ssh"; link: SshLink; net: string | null }
  /** A fragment that is none of the above; `reason` says what was wrong, for the person. */
  | { kind: "invalid"; hash: string; reason: string };

/** Longest fragment read: a route names a few short things, nothing more. */
const MAX_LINK_CHARS = 1024;
/** Longest user name (Linux allows 32; other systems a little more). */
const MAX_USER_CHARS = 64;
/** Longest host: a DNS name's limit. */
const MAX_HOST_CHARS = 253;
/** Network ids are UUIDs; anything word-like up to 64 characters is accepted. */
const NETWORK_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Mesh names: DNS labels, optionally with the mesh domain. */
const MESH_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

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

function decoded(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function invalid(hash: string, reason: string): Route {
  return { kind: "invalid", hash: hash.slice(0, 200), reason };
}

/** The route a fragment names (never throws; unknown or malformed fragments are "invalid"). */
export function parseRoute(hash: string): Route {
  if (hash.length > MAX_LINK_CHARS) return invalid(hash, "the address is too long");
  if (hash === "" || hash === "#" || hash === "#/") return { kind: "home" };
  if (hash.startsWith("#/ssh/")) return parseSshRoute(hash);
  const path = hash.startsWith("#/") ? hash.slice(2) : null;
  if (path === null) return invalid(hash, "a page address starts with #/");
  const parts = path.split("/");
  const [first, second, third, fourth] = parts;
  if (first === "shares" && parts.length === 1) return { kind: "shares" };
  if (first === "mesh") {
    if (parts.length === 1) return { kind: "mesh" };
    if (second === "host" && third !== undefined && fourth === undefined) {
      const name = decoded(third);
      if (name === null || !MESH_NAME.test(name)) {
        return invalid(hash, "a mesh host is named by letters, digits, dots and dashes");
      }
      return { kind: "mesh-host", name };
    }
  } else if (first === "network" && second !== undefined) {
    if (second === "add" && parts.length === 2) return { kind: "network-add" };
    if (!NETWORK_ID.test(second)) return invalid(hash, "that is not a network id");
    if (parts.length === 2) return { kind: "network", id: second };
    if (third === "details" && parts.length === 3) return { kind: "network-details", id: second };
  } else if (first === "admin" && parts.length === 2) {
    const section = ADMIN_SECTIONS.find((s) => s === second);
    if (section !== undefined) return { kind: "admin", section };
    return invalid(hash, `the admin sections are ${ADMIN_SECTIONS.join(", ")}`);
  }
  return invalid(hash, "the page has no such address");
}

function parseSshRoute(hash: string): Route {
  let linkPart = hash;
  let net: string | null = null;
  const query = /\?net=([^?&#]*)$/.exec(hash);
  if (query) {
    linkPart = hash.slice(0, query.index);
    const id = decoded(query[1] ?? "");
    if (id === null || !NETWORK_ID.test(id)) return invalid(hash, "?net= names a network id");
    net = id;
  }
  const link = parseSshLink(linkPart);
  if (link === null) {
    return invalid(hash, "expected #/ssh/USER@HOST or #/ssh/USER@HOST:PORT");
  }
  return { kind: "ssh", link, net };
}

/** The fragment of a route (parseRoute(formatRoute(r)) gives r back for every valid route). */
export function formatRoute(route: Route): string {
  switch (route.kind) {
    case "home":
      return "#/";
    case "mesh":
      return "#/mesh";
    case "mesh-host":
      return `#/mesh/host/${encodeURIComponent(route.name)}`;
    case "network":
      return `#/network/${route.id}`;
    case "network-details":
      return `#/network/${route.id}/details`;
    case "network-add":
      return "#/network/add";
    case "admin":
      return `#/admin/${route.section}`;
    case "shares":
      return "#/shares";
    case "ssh": {
      const { user, host, port } = route.link;
      const hostText = host.includes(":") ? `[${host}]` : host;
      const portText = port === 22 ? "" : `:${port}`;
      const net = route.net === null ? "" : `?net=${route.net}`;
      return `#/ssh/${encodeURIComponent(user)}@${hostText}${portText}${net}`;
    }
    case "invalid":
      return route.hash;
  }
}

/** Routes that put a page in the main area (a session tab in front hides it). */
export function isPageRoute(route: Route): boolean {
  return route.kind !== "network" && route.kind !== "ssh";
}
