// One private service's cookie jar (worker/http/cookies.ts holds one per service): tough-cookie
// parses, path-matches and checks HttpOnly, Secure, Domain and the __Secure-/__Host- prefixes;
// this file adds what a browser adds around it: absolute expiry, the size and count limits
// with least-recently-used eviction, and Lax as the default SameSite.

import { Cookie, CookieJar, canonicalDomain } from "tough-cookie";
import { ServiceCookieStore } from "./cookies-store.ts";

/** Bounds that keep a hostile server from growing the store without end (Chromium's values). */
export interface CookieLimits {
  /** Cookies per service; the least recently used are evicted beyond (Chromium: 180). */
  maxCookiesPerService: number;
  /** UTF-8 bytes of one cookie's name plus value (RFC 6265bis, Chromium: 4096). */
  maxCookieBytes: number;
  /**
   * UTF-8 bytes of a Path or Domain value (RFC 6265bis: 1024). A browser ignores a longer
   * attribute; we refuse the whole cookie, which cannot widen its scope.
   */
  maxAttributeBytes: number;
  /** Characters of one Set-Cookie or document.cookie string, checked before parsing. */
  maxStringLength: number;
  /** UTF-8 bytes of all of one service's cookies (name, value, domain, path). */
  maxServiceBytes: number;
  /** Services holding cookies; the least recently used service's jar is dropped beyond. */
  maxServices: number;
}

/** The default {@link CookieLimits}. */
export const DEFAULT_COOKIE_LIMITS: Readonly<CookieLimits> = Object.freeze({
  maxCookiesPerService: 180,
  maxCookieBytes: 4096,
  maxAttributeBytes: 1024,
  maxStringLength: 8192,
  maxServiceBytes: 180 * 4096,
  maxServices: 256,
});

/** RFC 6265bis §5.5: Expires and Max-Age are capped at 400 days. */
const MAX_LIFETIME_MS = 400 * 24 * 3600 * 1000;

/** Control characters (tab excepted) and DEL: never in a name or value we send. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is what it looks for.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * One service's cookies. Internal to worker/http/cookies*.ts: callers use CookieJars, which
 * picks the core of a URL's service and passes it the https URL tough-cookie should see.
 */
export class CookieJarCore {
  readonly #limits: CookieLimits;
  readonly #store = new ServiceCookieStore();
  readonly #jar: CookieJar;

  /** An empty jar bound by `limits`. */
  constructor(limits: CookieLimits) {
    this.#limits = limits;
    this.#jar = new CookieJar(this.#store, {
      // One service per jar: the public-suffix list protects nothing here, and mesh names
      // (`web-01`, `nas.local`) are not on it.
      rejectPublicSuffixes: false,
      // Chromium stores `Set-Cookie: token` as a nameless cookie; so do we.
      looseMode: true,
      // Refuse __Secure-/__Host- violations with a reason rather than silently.
      prefixSecurity: "strict",
      allowSpecialUseDomain: true,
    });
  }

  /**
   * Parses and stores one Set-Cookie (`http`) or document.cookie string; undefined when stored,
   * else the reason. Never throws.
   */
  set(text: unknown, url: string, http: boolean, now: Date): string | undefined {
    if (typeof text !== "string") return "not a string";
    if (text.length > this.#limits.maxStringLength) {
      return `longer than ${this.#limits.maxStringLength} characters`;
    }
    let cookie: Cookie | undefined;
    try {
      cookie = Cookie.parse(text, { loose: true });
    } catch (e) {
      return errorText(e);
    }
    if (cookie === undefined) return "not a cookie";
    const refused = this.#admit(cookie);
    if (refused !== undefined) return refused;
    absoluteExpiry(cookie, now);
    return this.#store1(cookie, url, http, now);
  }

  /**
   * Stores one cookie read back from a persisted store (its expiry already absolute); undefined
   * when stored or dropped as expired, else why it is malformed. Never throws.
   */
  load(cookie: Cookie, url: string, now: Date): string | undefined {
    const refused = this.#admit(cookie);
    if (refused !== undefined) return refused;
    if (cookie.hostOnly === true && cookie.domain !== canonicalDomain(new URL(url).hostname)) {
      return "host-only cookie of another host";
    }
    const { creation, lastAccessed } = cookie;
    const expiry = expiryOf(cookie);
    if (expiry !== undefined && expiry > now.getTime() + MAX_LIFETIME_MS) {
      cookie.expires = new Date(now.getTime() + MAX_LIFETIME_MS);
    }
    const reason = this.#store1(cookie, url, true, now);
    // tough-cookie stamps a new cookie with `now`; keep the persisted times for eviction order.
    if (creation instanceof Date) cookie.creation = creation;
    if (lastAccessed instanceof Date) cookie.lastAccessed = lastAccessed;
    return reason;
  }

  /**
   * The `name=value` strings for a request to `url` (sorted as RFC 6265 §5.4 says), HttpOnly
   * ones only if `http`, filtered by SameSite for `context`; expired cookies are removed.
   */
  matching(url: string, http: boolean, context: "strict" | "lax" | "none", now: Date): string[] {
    let found: Cookie[];
    try {
      found = this.#jar.getCookiesSync(url, { http, expire: false, sort: true });
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const c of found) {
      if (isExpired(c, now)) {
        this.#store.remove(c);
        continue;
      }
      if (!sameSiteAllows(c, context)) continue;
      c.lastAccessed = now;
      out.push(c.cookieString());
    }
    return out;
  }

  /** Removes the cookies expired at `now`. */
  purge(now: Date): void {
    for (const c of this.#store.all()) if (isExpired(c, now)) this.#store.remove(c);
  }

  /** Count and bytes of the cookies held. */
  stats(): { count: number; bytes: number } {
    const all = this.#store.all();
    return { count: all.length, bytes: all.reduce((n, c) => n + cookieBytes(c), 0) };
  }

  /** Every cookie held (the store's objects: serialize them, do not change them). */
  cookies(): Cookie[] {
    return this.#store.all();
  }

  /** Size and character checks shared by new and persisted cookies. */
  #admit(cookie: Cookie): string | undefined {
    const { key, value } = cookie;
    if (typeof key !== "string" || typeof value !== "string") return "no name or value";
    if (utf8Length(key) + utf8Length(value) > this.#limits.maxCookieBytes) {
      return `name and value over ${this.#limits.maxCookieBytes} bytes`;
    }
    if (key === "" && value === "") return "empty cookie";
    if (CONTROL.test(key) || CONTROL.test(value)) return "control character in name or value";
    // Parsing never yields these; a persisted store might, and they would forge a Cookie header.
    if (/[;=]/.test(key) || value.includes(";")) return "separator in name or value";
    for (const attr of [cookie.path, cookie.domain]) {
      if (typeof attr === "string" && utf8Length(attr) > this.#limits.maxAttributeBytes) {
        return `attribute over ${this.#limits.maxAttributeBytes} bytes`;
      }
    }
    // Unknown attributes (`Partitioned`, `Priority`, junk) are not kept: nothing reads them,
    // and a hostile server could fill the store with them.
    cookie.extensions = null;
    return undefined;
  }

  #store1(cookie: Cookie, url: string, http: boolean, now: Date): string | undefined {
    try {
      this.#jar.setCookieSync(cookie, url, { http, now, loose: true, ignoreError: false });
    } catch (e) {
      return errorText(e);
    }
    // Stored over any older cookie of the same name, domain and path: an expired one is how a
    // server deletes a cookie (Max-Age=0, an Expires in the past), so it goes at once.
    if (isExpired(cookie, now)) this.#store.remove(cookie);
    else this.#enforce(cookie);
    return undefined;
  }

  /** Evicts least recently used cookies (never `keep`, the one just set) beyond the limits. */
  #enforce(keep: Cookie): void {
    const all = this.#store.all();
    let count = all.length;
    let bytes = all.reduce((n, c) => n + cookieBytes(c), 0);
    const { maxCookiesPerService, maxServiceBytes } = this.#limits;
    if (count <= maxCookiesPerService && bytes <= maxServiceBytes) return;
    all.sort((a, b) => accessed(a) - accessed(b));
    for (const c of all) {
      if (count <= maxCookiesPerService && bytes <= maxServiceBytes) break;
      if (c === keep) continue;
      this.#store.remove(c);
      count--;
      bytes -= cookieBytes(c);
    }
  }
}

/** Turns Max-Age (relative to `now`) or Expires into an absolute Expires capped at 400 days. */
function absoluteExpiry(cookie: Cookie, now: Date): void {
  const maxAge = cookie.maxAge;
  let expiry: number | undefined;
  if (typeof maxAge === "number") {
    expiry = maxAge <= 0 ? 0 : now.getTime() + Math.min(maxAge * 1000, MAX_LIFETIME_MS);
  } else if (maxAge === "-Infinity") {
    expiry = 0;
  } else if (maxAge === "Infinity") {
    expiry = Number.POSITIVE_INFINITY;
  } else if (cookie.expires instanceof Date) {
    expiry = cookie.expires.getTime();
  }
  cookie.maxAge = null;
  if (expiry === undefined || Number.isNaN(expiry)) {
    cookie.expires = "Infinity"; // tough-cookie's spelling of a session cookie
    return;
  }
  cookie.expires = new Date(Math.min(expiry, now.getTime() + MAX_LIFETIME_MS));
}

/** Absolute expiry in ms, or undefined for a session cookie (maxAge is always null here). */
function expiryOf(cookie: Cookie): number | undefined {
  return cookie.expires instanceof Date ? cookie.expires.getTime() : undefined;
}

function isExpired(cookie: Cookie, now: Date): boolean {
  const expiry = expiryOf(cookie);
  return expiry !== undefined && !(expiry > now.getTime());
}

/** RFC 6265bis §5.6.7.1 with Chromium's default: no SameSite attribute counts as Lax. */
function sameSiteAllows(cookie: Cookie, context: "strict" | "lax" | "none"): boolean {
  const s = cookie.sameSite;
  const level = s === "strict" || s === "none" ? s : "lax";
  if (context === "strict") return true;
  if (context === "lax") return level !== "strict";
  return level === "none";
}

function accessed(c: Cookie): number {
  const t = c.lastAccessed instanceof Date ? c.lastAccessed : c.creation;
  return t instanceof Date ? t.getTime() : 0;
}

/** The size a cookie counts for in the limits: name, value, domain and path. */
export function cookieBytes(c: Cookie): number {
  return (
    utf8Length(c.key) + utf8Length(c.value) + utf8Length(c.domain ?? "") + utf8Length(c.path ?? "")
  );
}

/** UTF-8 length without allocating (a lone surrogate counts 3, as TextEncoder's U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
