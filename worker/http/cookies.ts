// The engine's cookie jar for private web apps (issue 16 item 4, DESIGN §9.4, docs/cookies.md).
//
// A service worker's Response cannot set cookies, so the engine keeps them: Set-Cookie of every
// private response is stored here and the Cookie header of every request is made here. One jar
// per private service (host:port): each service runs on its own app origin, so a hostile app can
// never read or overwrite another service's cookies, even on the same host. A cookie's domain is
// the private host (`web-01`, `10.8.0.1`), never the app origin. Parsing, path-match, prefixes
// and HttpOnly are tough-cookie's; expiry, SameSite defaults, limits and persistence are ours.
// Runs in a Web Worker and in Node: no DOM, no Node built-ins.

import { Cookie } from "tough-cookie";
import { CookieJarCore, type CookieLimits, DEFAULT_COOKIE_LIMITS } from "./cookies-core.ts";
import { readPersistedCookies, writePersistedCookies } from "./cookies-persist.ts";

export type { CookieLimits } from "./cookies-core.ts";
export { DEFAULT_COOKIE_LIMITS } from "./cookies-core.ts";

/** Where a request comes from, as RFC 6265bis §5.2 "same-site" defines it. */
export type SameSiteContext = "strict" | "lax" | "none";

/** How a request is made, for the SameSite rules of {@link CookieJars.cookieHeader}. */
export interface CookieRequestOptions {
  /** The request method (default GET); a cross-site "lax" context only allows safe methods. */
  method?: string;
  /**
   * "strict" (default): the request comes from the service's own app origin (same-site).
   * "lax": a cross-site top-level navigation (a link from another site opened the app).
   * "none": any other cross-site request. The browser never sees these cookies, so SameSite is
   * enforced here only if the caller says where the request came from.
   */
  sameSiteContext?: SameSiteContext;
  /** The clock, for expiry (default: now). */
  now?: Date;
}

/** A Set-Cookie or document.cookie string that was not stored, and why. */
export interface CookieRejection {
  /** The start of the offending string (at most 80 characters), for logs. */
  cookie: string;
  /** tough-cookie's or our reason: "Cookie is HttpOnly and this isn't an HTTP API", "too large"... */
  reason: string;
}

/** What {@link CookieJars.setFromResponse} did. */
export interface CookieSetResult {
  /** Cookies stored or replaced (a deletion by Max-Age=0 or a past Expires counts as stored). */
  stored: number;
  /** Strings refused (unparsable, over the limits, a Domain that is not the host's...). */
  rejected: CookieRejection[];
}

/** Counts for one service, for limits, tests and a settings page. */
export interface CookieStats {
  /** Cookies held (unexpired ones, after a purge at the given time). */
  count: number;
  /** Their size: UTF-8 bytes of name, value, domain and path. */
  bytes: number;
}

/** What {@link CookieJars.deserialize} returns: always a jar, and a message if the store was bad. */
export interface CookieLoadResult {
  /** The loaded jars; empty when the persisted store was corrupt. */
  jars: CookieJars;
  /** Why the persisted store was discarded, for the page to show; undefined when it loaded. */
  error: string | undefined;
}

/**
 * The private service a URL belongs to: `host:port`, lower-cased host, IPv6 in brackets, the
 * port always written (80 by default). `ws:` URLs (a WebSocket upgrade) map to the same service
 * as `http:`. Throws a TypeError for anything but an http: or ws: URL: the engine only makes
 * these, so another scheme is a bug in the caller, not hostile input.
 */
export function cookieServiceKey(url: string | URL): string {
  return parseServiceUrl(url).service;
}

/**
 * The cookie jars of every private service of one network. Synchronous (each call is a few
 * in-memory lookups), never throws on hostile Set-Cookie or document.cookie strings, and keeps
 * every service within {@link CookieLimits}; the least recently used service is dropped when a
 * new one would exceed `maxServices`.
 *
 * Secure cookies are stored and sent: the app origin is a secure context (`*.localhost` on
 * loopback, https in production; service workers exist only there) and the engine's HTTP to the
 * private server runs inside WireGuard, which encrypts and authenticates it end to end, so the
 * browser-visible connection is as secure as https. __Secure- and __Host- prefixes are enforced.
 */
export class CookieJars {
  readonly #limits: CookieLimits;
  /** Insertion order is use order: the first service is the least recently used. */
  readonly #services = new Map<string, CookieJarCore>();

  /** Empty jars with these limits (defaults: {@link DEFAULT_COOKIE_LIMITS}, like Chromium's). */
  constructor(limits: Partial<CookieLimits> = {}) {
    this.#limits = { ...DEFAULT_COOKIE_LIMITS, ...limits };
  }

  /** The limits in force. */
  get limits(): Readonly<CookieLimits> {
    return this.#limits;
  }

  /**
   * Stores the Set-Cookie headers of a response to `url` (each header one string, as received).
   * Max-Age=0 or an Expires in the past deletes the cookie; Max-Age and Expires are turned into
   * an absolute expiry at `now`, capped at 400 days (RFC 6265bis). Never throws for bad headers.
   */
  setFromResponse(
    url: string | URL,
    setCookieHeaders: readonly string[],
    now: Date = new Date(),
  ): CookieSetResult {
    const target = parseServiceUrl(url);
    const core = this.#core(target.service, true);
    const result: CookieSetResult = { stored: 0, rejected: [] };
    for (const header of setCookieHeaders) {
      const reason = core?.set(header, target.cookieUrl, true, now);
      if (reason === undefined) result.stored++;
      else result.rejected.push({ cookie: preview(header), reason });
    }
    return result;
  }

  /**
   * The Cookie header for a request to `url` ("" when no cookie applies: send no header): cookies
   * whose Path matches, unexpired at `now`, HttpOnly included, longest Path first, and the
   * SameSite rules of `options.sameSiteContext`. A cookie without SameSite counts as Lax, as in
   * Chromium (without its two-minute Lax+POST exception).
   */
  cookieHeader(url: string | URL, options: CookieRequestOptions = {}): string {
    const target = parseServiceUrl(url);
    const core = this.#core(target.service, false);
    if (core === undefined) return "";
    const context = effectiveContext(options);
    const now = options.now ?? new Date();
    // Stored cookies are byte strings already; one that is not (a store written before
    // document.cookie strings were stored as bytes) is sent as its UTF-8 bytes, because the
    // request head encoder refuses characters beyond Latin-1.
    return core
      .matching(target.cookieUrl, true, context, now)
      .map((pair) => (NON_LATIN1.test(pair) ? toByteString(pair) : pair))
      .join("; ");
  }

  /**
   * What `document.cookie` reads on the app page whose private URL is `url`: the non-HttpOnly
   * cookies whose Path matches, unexpired at `now`, as `a=1; b=2` ("" when none). Cookies are
   * held as byte strings (Set-Cookie's form); script reads them decoded as UTF-8, invalid
   * sequences as U+FFFD, as Chromium does.
   */
  documentCookie(url: string | URL, now: Date = new Date()): string {
    const target = parseServiceUrl(url);
    const core = this.#core(target.service, false);
    if (core === undefined) return "";
    return core.matching(target.cookieUrl, false, "strict", now).map(fromByteString).join("; ");
  }

  /**
   * What `document.cookie = cookieString` does on the app page whose private URL is `url`: one
   * cookie, with attributes, set from script. HttpOnly cookies can neither be set nor replaced
   * this way. Returns undefined when stored, else the reason it was not (a browser ignores it
   * silently; the injected script can do the same). The string is stored as its UTF-8 bytes,
   * one character per byte, the form Set-Cookie arrives in, so that `cookieHeader` can always
   * be written into a request head; `documentCookie` decodes it back.
   */
  setFromDocument(
    url: string | URL,
    cookieString: string,
    now: Date = new Date(),
  ): string | undefined {
    const target = parseServiceUrl(url);
    const core = this.#core(target.service, true);
    if (core === undefined) return "no jar";
    const text = typeof cookieString === "string" ? toByteString(cookieString) : cookieString;
    return core.set(text, target.cookieUrl, false, now);
  }

  /** Cookie count and bytes of the service of `url` (zeros when it has none), purged at `now`. */
  stats(url: string | URL, now: Date = new Date()): CookieStats {
    const core = this.#services.get(parseServiceUrl(url).service);
    if (core === undefined) return { count: 0, bytes: 0 };
    core.purge(now);
    return core.stats();
  }

  /** The services that hold cookies, least recently used first. */
  services(): string[] {
    return [...this.#services.keys()];
  }

  /** Forgets every cookie of the service of `url` (a "log out of this app" action). */
  clear(url: string | URL): void {
    this.#services.delete(parseServiceUrl(url).service);
  }

  /** Forgets every cookie of every service. */
  clearAll(): void {
    this.#services.clear();
  }

  /**
   * The jars as JSON, to persist with the network: expired cookies left out, session cookies
   * kept (the engine's session outlives a page reload, like Chromium's "continue where you
   * left off"). Read back with {@link CookieJars.deserialize}.
   */
  serialize(now: Date = new Date()): string {
    const services: [string, Cookie[]][] = [];
    for (const [service, core] of this.#services) {
      core.purge(now);
      services.push([service, core.cookies()]);
    }
    return writePersistedCookies(services);
  }

  /**
   * Jars from {@link CookieJars.serialize}'s JSON (a string, or the value it parses to), checked
   * as hostile input: any malformed part discards the whole store, which yields empty jars and
   * an `error` the page can show. Expired cookies are dropped and the limits are enforced as
   * each cookie is loaded. Never throws.
   */
  static deserialize(
    json: unknown,
    limits: Partial<CookieLimits> = {},
    now: Date = new Date(),
  ): CookieLoadResult {
    const jars = new CookieJars(limits);
    const read = readPersistedCookies(json);
    if (!read.ok) return { jars, error: `cookie store discarded: ${read.error}` };
    for (const { service, cookies } of read.services) {
      let core: CookieJarCore | undefined;
      try {
        const target = parseServiceUrl(`http://${service}/`);
        if (target.service !== service) throw new TypeError("not a canonical service key");
        core = jars.#core(service, true);
        for (const fields of cookies) {
          const cookie = new Cookie({ ...fields, maxAge: null, extensions: null });
          // Only the host and the scheme matter here: the cookie carries its own Path.
          const cookieUrl = `https://${target.host}/`;
          const reason = core?.load(cookie, cookieUrl, now);
          if (reason !== undefined) throw new TypeError(reason);
        }
      } catch (e) {
        jars.clearAll();
        const message = e instanceof Error ? e.message : String(e);
        return { jars, error: `cookie store discarded: ${preview(service)}: ${message}` };
      }
    }
    return { jars, error: undefined };
  }

  /** The core of `service`, moved to the most recently used end; created when `create`. */
  #core(service: string, create: boolean): CookieJarCore | undefined {
    let core = this.#services.get(service);
    if (core !== undefined) {
      this.#services.delete(service);
      this.#services.set(service, core);
      return core;
    }
    if (!create) return undefined;
    core = new CookieJarCore(this.#limits);
    this.#services.set(service, core);
    // A new service beyond the cap pushes out the least recently used one.
    while (this.#services.size > this.#limits.maxServices) {
      const oldest = this.#services.keys().next().value;
      if (oldest === undefined || oldest === service) break;
      this.#services.delete(oldest);
    }
    return core;
  }
}

interface ServiceUrl {
  service: string;
  host: string;
  /** The URL given to tough-cookie: https (see CookieJars on Secure), no port, same path. */
  cookieUrl: string;
}

function parseServiceUrl(url: string | URL): ServiceUrl {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "http:" && u.protocol !== "ws:") {
    throw new TypeError(`cookies: not a private http: or ws: URL: ${u.protocol}`);
  }
  const host = u.hostname.toLowerCase();
  if (host === "") throw new TypeError("cookies: URL without a host");
  const port = u.port === "" ? "80" : u.port;
  return { service: `${host}:${port}`, host, cookieUrl: `https://${host}${u.pathname}` };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

function effectiveContext(options: CookieRequestOptions): SameSiteContext {
  const context = options.sameSiteContext ?? "strict";
  const method = (options.method ?? "GET").toUpperCase();
  // A cross-site top-level navigation sends Lax cookies only with a safe method (§5.2.2).
  if (context === "lax" && !SAFE_METHODS.has(method)) return "none";
  return context;
}

const NON_ASCII = /[\u0080-\uffff]/;
const NON_LATIN1 = /[\u0100-\uffff]/;

/** `text` as its UTF-8 bytes, one character (U+0000-U+00FF) per byte; lone surrogates as U+FFFD. */
function toByteString(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  const bytes = new TextEncoder().encode(text);
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** A byte string decoded as UTF-8; a string that is not one (chars past U+00FF) is left alone. */
function fromByteString(s: string): string {
  if (!NON_ASCII.test(s) || NON_LATIN1.test(s)) return s;
  return utf8Decoder.decode(Uint8Array.from(s, (c) => c.charCodeAt(0)));
}

const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function preview(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
