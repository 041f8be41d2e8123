// Seeded fuzz of the engine's cookie jar (worker/http/cookies.ts): hostile Set-Cookie headers,
// document.cookie strings and persisted stores. Whatever comes in, nothing throws, the jar stays
// within its limits, no Cookie header carries a control character, an HttpOnly cookie is never
// readable or replaceable from script, and a serialized jar loads back the same.

import { describe, expect, it } from "vitest";
import { CookieJars } from "../../worker/http/cookies.ts";
import { seededInts } from "../helpers/seeded.ts";

const SERVICES = [
  "http://web-01:3000",
  "http://10.8.0.1:8080",
  "http://[fd00::1]:80",
  "http://test:1",
];
const NAMES = [
  "a",
  "sid",
  "__proto__",
  "constructor",
  "toString",
  "__Host-x",
  "__Secure-y",
  "",
  " ",
  "ü",
  "x y",
  "a\tb",
  "n\u0000",
  "k\r\nX-Evil: 1",
  "=",
  '"q"',
];
const VALUES = [
  "1",
  "",
  '"quoted"',
  "a=b",
  "é",
  "\ud800",
  "v\r\nSet-Cookie: x=1",
  "\u0000",
  "\u007f",
  "x; y",
  "%0d%0a",
];
const PATHS = ["/", "/a", "/a/b/", "", "a", "//", "/__proto__", "/%2e%2e/", "/\u0001", "/é"];
const DATES = [
  "Thu, 01 Jan 1970 00:00:00 GMT",
  "Wed, 21 Oct 2026 07:28:00 GMT",
  "Fri, 31 Dec 9999 23:59:59 GMT",
  "junk",
  "0",
  "-1",
  "Tue, 19 Jan 2038 03:14:08 GMT",
  "",
];
const AGES = [
  "0",
  "-1",
  "60",
  "1e9",
  "99999999999999999999",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  " 5 ",
  "",
];
const SAMESITE = ["Strict", "lax", "NONE", "", "bogus", "Lax; SameSite=Strict"];

function pick<T>(next: (n: number) => number, list: readonly T[]): T {
  return list[next(list.length)] as T;
}

function randomChars(next: (n: number) => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    const r = next(10);
    // Mostly printable ASCII, some separators, control characters and non-ASCII.
    s +=
      r < 6
        ? String.fromCharCode(32 + next(95))
        : r < 8
          ? pick(next, [";", "=", ",", " ", '"'])
          : String.fromCharCode(next(r === 8 ? 32 : 0xffff));
  }
  return s;
}

function hostileCookie(next: (n: number) => number, host: string): string {
  if (next(10) === 0) return randomChars(next, next(300));
  const size = next(20) === 0 ? 3000 + next(6000) : 0;
  let s = `${pick(next, NAMES)}=${pick(next, VALUES)}${"v".repeat(size)}`;
  const attrs = next(8);
  for (let i = 0; i < attrs; i++) {
    switch (next(10)) {
      case 0:
        s += `; Path=${pick(next, PATHS)}${next(30) === 0 ? "p".repeat(1100) : ""}`;
        break;
      case 1:
        s += `; Domain=${pick(next, [host, `.${host}`, "other", "", "local", "10.8.0.1", "0.1", "x".repeat(next(2) * 1100)])}`;
        break;
      case 2:
        s += `; Max-Age=${pick(next, AGES)}`;
        break;
      case 3:
        s += `; Expires=${pick(next, DATES)}`;
        break;
      case 4:
        s += pick(next, ["; Secure", "; HttpOnly", "; secure; httponly", "; Partitioned"]);
        break;
      case 5:
        s += `; SameSite=${pick(next, SAMESITE)}`;
        break;
      case 6:
        s += `; ${randomChars(next, next(40))}`;
        break;
      default:
        s += pick(next, [";", " ; ", ";;", "; Path", "; Domain", "; =x"]);
    }
  }
  return s;
}

const hostOf = (base: string) => new URL(base).hostname;
const pathOf = (next: (n: number) => number) =>
  pick(next, ["/", "/a", "/a/b/c", "/__proto__/x", "/é", "/%zz"]);

/** Control characters (tab excepted) and DEL: never in a Cookie header. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is what it looks for.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const GUARD = "guard=server-only; Path=/; HttpOnly; Max-Age=999999999";

function checkInvariants(jars: CookieJars, now: Date): void {
  const { maxCookiesPerService, maxServiceBytes } = jars.limits;
  for (const base of SERVICES) {
    const stats = jars.stats(`${base}/`, now);
    expect(stats.count).toBeLessThanOrEqual(maxCookiesPerService);
    expect(stats.bytes).toBeLessThanOrEqual(maxServiceBytes);
    for (const path of ["/", "/a/b/c", "/__proto__/x"]) {
      const header = jars.cookieHeader(`${base}${path}`, { now });
      expect(header).not.toMatch(CONTROL);
      expect(jars.documentCookie(`${base}${path}`, now)).not.toContain("guard=server-only");
    }
    // The HttpOnly guard may have been evicted (and a script may then set its own guard, as in
    // a browser); once the server sets it again, script can neither read nor replace it.
    jars.setFromResponse(`${base}/`, [GUARD], now);
    expect(jars.setFromDocument(`${base}/`, "guard=stolen; path=/", now)).toMatch(/HttpOnly/);
    expect(jars.cookieHeader(`${base}/`, { now })).toContain("guard=server-only");
    expect(jars.cookieHeader(`${base}/`, { now })).not.toContain("guard=stolen");
    expect(jars.documentCookie(`${base}/`, now)).not.toContain("guard=");
  }
}

describe("cookie jar fuzz", () => {
  it("12000 hostile Set-Cookie headers and document.cookie strings (seed 0xc00c1e): no throw, limits kept", () => {
    const next = seededInts(0xc00c1e);
    const small = new CookieJars({ maxCookiesPerService: 20, maxServiceBytes: 16_384 });
    const normal = new CookieJars();
    let now = new Date("2026-06-01T00:00:00Z");
    for (const jars of [small, normal]) {
      for (const base of SERVICES) jars.setFromResponse(`${base}/`, [GUARD], now);
    }
    for (let i = 0; i < 12_000; i++) {
      const jars = i % 2 === 0 ? small : normal;
      const base = pick(next, SERVICES);
      const url = `${base}${pathOf(next)}`;
      now = new Date(now.getTime() + next(5000));
      if (next(3) === 0) {
        const text =
          next(4) === 0
            ? `guard=stolen; path=/${next(2) ? "" : "; httponly"}`
            : hostileCookie(next, hostOf(base));
        const reason = jars.setFromDocument(url, text, now);
        expect(reason === undefined || typeof reason === "string").toBe(true);
      } else {
        const headers = Array.from({ length: 1 + next(4) }, () =>
          hostileCookie(next, hostOf(base)),
        );
        const result = jars.setFromResponse(url, headers, now);
        expect(result.stored + result.rejected.length).toBe(headers.length);
      }
      // A server replaces its own guard now and then; never the script.
      if (next(500) === 0) jars.setFromResponse(`${base}/`, [GUARD], now);
      if (next(50) === 0) expect(jars.documentCookie(url, now)).not.toContain("guard=server-only");
      if (i % 1000 === 999) {
        checkInvariants(jars, now);
        const back = CookieJars.deserialize(jars.serialize(now), jars.limits, now);
        expect(back.error).toBeUndefined();
        for (const b of SERVICES) {
          const header = jars.cookieHeader(`${b}/a/b/c`, { now });
          expect(back.jars.cookieHeader(`${b}/a/b/c`, { now })).toBe(header);
          // Always writable into a request head: Latin-1 only.
          expect(header).not.toMatch(/[\u0100-\uffff]/);
        }
      }
    }
    checkInvariants(small, now);
    checkInvariants(normal, now);
  });

  it("3000 corrupted persisted stores (seed 0x5707e): no throw, an error or a jar within limits", () => {
    const next = seededInts(0x5707e);
    const source = new CookieJars();
    const now = new Date("2026-06-01T00:00:00Z");
    for (const base of SERVICES) {
      for (let i = 0; i < 30; i++)
        source.setFromResponse(`${base}/`, [hostileCookie(next, hostOf(base))], now);
    }
    const json = source.serialize(now);
    let discarded = 0;
    for (let i = 0; i < 3000; i++) {
      const chars = [...json];
      const edits = 1 + next(8);
      for (let e = 0; e < edits && chars.length > 0; e++) {
        const at = next(chars.length);
        const kind = next(4);
        if (kind === 0) chars[at] = String.fromCharCode(next(128));
        else if (kind === 1) chars.splice(at, 1 + next(20));
        else if (kind === 2)
          chars.splice(
            at,
            0,
            pick(next, ['"', "{", "[", ",", "null", "true", "1e999", '"__proto__":', "\\r\\n"]),
          );
        else chars.length = at;
      }
      const { jars, error } = CookieJars.deserialize(
        chars.join(""),
        { maxCookiesPerService: 25 },
        now,
      );
      if (error !== undefined) {
        discarded++;
        expect(jars.services()).toEqual([]);
        continue;
      }
      for (const base of SERVICES) {
        expect(jars.stats(`${base}/`, now).count).toBeLessThanOrEqual(25);
        expect(jars.cookieHeader(`${base}/`, { now })).not.toMatch(CONTROL);
      }
    }
    expect(discarded).toBeGreaterThan(0);
  });
});
