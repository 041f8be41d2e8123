// The tough-cookie store behind one private service's jar (worker/http/cookies.ts).
//
// Every cookie in this store belongs to one host:port, so a lookup never needs tough-cookie's
// domain permutation: MemoryCookieStore.findCookies permutes the request host through the
// public-suffix list, which throws for a single-label host that is itself a special-use name
// (a mesh host called `test`, `example` or `invalid`) and returns nothing for some others. Here
// findCookies hands every cookie of the service, path-filtered, to the jar, which still applies
// RFC 6265's domain-match, Secure, HttpOnly and expiry rules to each one.

import { type Callback, type Cookie, MemoryCookieStore, pathMatch } from "tough-cookie";

/**
 * A synchronous tough-cookie store holding the cookies of exactly one private service; it adds
 * whole-store listing and removal for the jar's limits and persistence.
 */
export class ServiceCookieStore extends MemoryCookieStore {
  /** Every cookie of the service, expired or not, in no particular order. */
  all(): Cookie[] {
    const out: Cookie[] = [];
    for (const domain of Object.keys(this.idx)) {
      const paths = this.idx[domain];
      if (paths === undefined) continue;
      for (const path of Object.keys(paths)) {
        const keys = paths[path];
        if (keys === undefined) continue;
        for (const key of Object.keys(keys)) {
          const cookie = keys[key];
          if (cookie !== undefined) out.push(cookie);
        }
      }
    }
    return out;
  }

  /** Removes one cookie (by its domain, path and name), if present. */
  remove(cookie: Cookie): void {
    const { domain, path, key } = cookie;
    if (domain == null || path == null) return;
    const paths = this.idx[domain];
    const keys = paths?.[path];
    if (paths === undefined || keys === undefined) return;
    delete keys[key];
    if (Object.keys(keys).length === 0) delete paths[path];
    if (Object.keys(paths).length === 0) delete this.idx[domain];
  }

  override findCookies(
    domain: string,
    path: string,
    allowSpecialUseDomain?: boolean,
  ): Promise<Cookie[]>;
  override findCookies(
    domain: string,
    path: string,
    allowSpecialUseDomain?: boolean,
    callback?: Callback<Cookie[]>,
  ): void;
  override findCookies(
    _domain: string,
    path: string | null,
    allowOrCallback?: boolean | Callback<Cookie[]>,
    callback?: Callback<Cookie[]>,
  ): Promise<Cookie[]> | undefined {
    const cb = typeof allowOrCallback === "function" ? allowOrCallback : callback;
    // A null path is tough-cookie's allPaths lookup: no path filtering.
    const found = this.all().filter((c) => !path || pathMatch(path, c.path ?? "/"));
    if (cb === undefined) return Promise.resolve(found);
    cb(null, found);
    return undefined;
  }
}
