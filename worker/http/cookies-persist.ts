// The persisted form of the cookie jars (CookieJars.serialize/deserialize in ./cookies.ts):
// plain JSON we write field by field, and a reader that treats it as hostile input. The reader
// only checks shapes and types; CookieJars then loads each cookie through the same size,
// character, Domain and prefix checks as a Set-Cookie header.
//
//   { "format": "corridor-cookies", "version": 1,
//     "services": [ { "service": "web-01:3000", "cookies": [ { "key": "_xsrf", "value": "…",
//       "domain": "web-01", "path": "/", "hostOnly": true, "secure": false, "httpOnly": false,
//       "sameSite": "lax", "expires": "2027-01-01T00:00:00.000Z",
//       "creation": "…", "lastAccessed": "…" } ] } ] }
//
// Services are listed least recently used first; a cookie without "expires" is a session cookie.

import type { Cookie } from "tough-cookie";

/** The `format` tag of a persisted store. */
export const COOKIE_STORE_FORMAT = "corridor-cookies";
/** The version written; a reader refuses any other. */
export const COOKIE_STORE_VERSION = 1;
/** A persisted store longer than this (characters) is refused before parsing. */
export const MAX_PERSISTED_CHARS = 64 * 1024 * 1024;

/** One persisted cookie, checked for types, ready for tough-cookie's Cookie constructor. */
export interface PersistedCookie {
  key: string;
  value: string;
  domain: string;
  path: string;
  hostOnly: boolean;
  secure: boolean;
  httpOnly: boolean;
  sameSite: "strict" | "lax" | "none" | undefined;
  /** An absolute expiry, or "Infinity" for a session cookie. */
  expires: Date | "Infinity";
  creation: Date;
  lastAccessed: Date;
}

/** The result of {@link readPersistedCookies}: the services' cookies, or why the store is bad. */
export type PersistedRead =
  | { ok: true; services: { service: string; cookies: PersistedCookie[] }[] }
  | { ok: false; error: string };

/** The JSON of a store holding these services' cookies (least recently used service first). */
export function writePersistedCookies(services: readonly [string, readonly Cookie[]][]): string {
  return JSON.stringify({
    format: COOKIE_STORE_FORMAT,
    version: COOKIE_STORE_VERSION,
    services: services.map(([service, cookies]) => ({
      service,
      cookies: cookies.map((c) => ({
        key: c.key,
        value: c.value,
        domain: c.domain,
        path: c.path,
        hostOnly: c.hostOnly === true,
        secure: c.secure,
        httpOnly: c.httpOnly,
        sameSite:
          c.sameSite === "strict" || c.sameSite === "lax" || c.sameSite === "none"
            ? c.sameSite
            : undefined,
        expires: iso(c.expires),
        creation: iso(c.creation),
        lastAccessed: iso(c.lastAccessed),
      })),
    })),
  });
}

/**
 * Checks a persisted store (its JSON text, or the value that text parses to) for shape and
 * types. Never throws: a store that is not exactly what {@link writePersistedCookies} writes
 * gives `ok: false` and the first problem found.
 */
export function readPersistedCookies(input: unknown): PersistedRead {
  let root: unknown = input;
  if (typeof input === "string") {
    if (input.length > MAX_PERSISTED_CHARS) return fail(`over ${MAX_PERSISTED_CHARS} characters`);
    try {
      root = JSON.parse(input);
    } catch (e) {
      return fail(`not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (!isRecord(root)) return fail("not an object");
  if (root.format !== COOKIE_STORE_FORMAT) return fail("not a Corridor cookie store");
  if (root.version !== COOKIE_STORE_VERSION)
    return fail(`version ${String(root.version)} not supported`);
  if (!Array.isArray(root.services)) return fail("no services list");
  const services: { service: string; cookies: PersistedCookie[] }[] = [];
  for (const [i, entry] of root.services.entries()) {
    if (!isRecord(entry) || typeof entry.service !== "string" || !Array.isArray(entry.cookies)) {
      return fail(`service ${i} malformed`);
    }
    const cookies: PersistedCookie[] = [];
    for (const [j, raw] of entry.cookies.entries()) {
      const cookie = readCookie(raw);
      if (typeof cookie === "string") return fail(`service ${i}, cookie ${j}: ${cookie}`);
      cookies.push(cookie);
    }
    services.push({ service: entry.service, cookies });
  }
  return { ok: true, services };
}

function readCookie(raw: unknown): PersistedCookie | string {
  if (!isRecord(raw)) return "not an object";
  const { key, value, domain, path, hostOnly, secure, httpOnly, sameSite } = raw;
  if (typeof key !== "string" || typeof value !== "string") return "name or value not a string";
  if (typeof domain !== "string" || domain === "") return "no domain";
  if (typeof path !== "string" || !path.startsWith("/")) return "path not absolute";
  if (
    typeof hostOnly !== "boolean" ||
    typeof secure !== "boolean" ||
    typeof httpOnly !== "boolean"
  ) {
    return "flags not booleans";
  }
  if (
    sameSite !== undefined &&
    sameSite !== "strict" &&
    sameSite !== "lax" &&
    sameSite !== "none"
  ) {
    return "bad sameSite";
  }
  const expires = raw.expires === undefined ? "Infinity" : date(raw.expires);
  const creation = date(raw.creation);
  const lastAccessed = date(raw.lastAccessed);
  if (expires === undefined || creation === undefined || lastAccessed === undefined)
    return "bad date";
  return {
    key,
    value,
    domain,
    path,
    hostOnly,
    secure,
    httpOnly,
    sameSite,
    expires,
    creation,
    lastAccessed,
  };
}

function date(v: unknown): Date | undefined {
  if (typeof v !== "string") return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t) : undefined;
}

function iso(d: Date | "Infinity" | null | undefined): string | undefined {
  return d instanceof Date && Number.isFinite(d.getTime()) ? d.toISOString() : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fail(error: string): PersistedRead {
  return { ok: false, error };
}
