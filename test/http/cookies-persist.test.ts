// Persisting the engine's cookie jar with the network (worker/http/cookies.ts): a round trip,
// limits on load, and corrupt stores, which yield empty jars and an error, never a throw.

import { describe, expect, it } from "vitest";
import { CookieJars } from "../../worker/http/cookies.ts";

const WEB = "http://web-01:3000";
const T0 = new Date("2026-06-01T12:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe("persistence", () => {
  it("round-trips every attribute and drops expired cookies", () => {
    const jars = new CookieJars();
    jars.setFromResponse(
      `${WEB}/app/login`,
      [
        "sid=1; HttpOnly; Path=/",
        "pref=2",
        "__Host-x=3; Secure; Path=/; SameSite=Strict",
        "short=4; Max-Age=10; Path=/",
      ],
      T0,
    );
    jars.setFromResponse("http://[fd00::1]:8080/", ["v6=1", "d=2; Domain=fd00::1"], T0);
    jars.setFromResponse(
      "http://10.8.0.1/",
      ["ip=1; Domain=10.8.0.1; Expires=Tue, 01 Jun 2027 00:00:00 GMT"],
      T0,
    );
    const json = jars.serialize(at(5));
    const { jars: back, error } = CookieJars.deserialize(json, {}, at(20));
    expect(error).toBeUndefined();
    expect(JSON.parse(back.serialize(at(20)))).toEqual(JSON.parse(jars.serialize(at(20))));
    expect(back.services()).toEqual(jars.services());
    expect(back.cookieHeader(`${WEB}/app/x`, { now: at(20) })).toBe("pref=2; sid=1; __Host-x=3");
    expect(back.documentCookie(`${WEB}/app/x`, at(20))).toBe("pref=2; __Host-x=3");
    expect(back.cookieHeader(`${WEB}/app/x`, { now: at(20), sameSiteContext: "lax" })).toBe(
      "pref=2; sid=1",
    );
    expect(back.cookieHeader("http://[fd00::1]:8080/", { now: at(20) })).toBe("v6=1; d=2");
    expect(
      back.cookieHeader("http://10.8.0.1:80/", { now: new Date("2027-05-31T00:00:00Z") }),
    ).toBe("ip=1");
    expect(
      back.cookieHeader("http://10.8.0.1:80/", { now: new Date("2027-06-01T00:00:00Z") }),
    ).toBe("");
  });

  it("enforces the limits on load", () => {
    const jars = new CookieJars();
    for (let i = 0; i < 100; i++) jars.setFromResponse(`${WEB}/`, [`c${i}=${i}`], at(i));
    const { jars: back, error } = CookieJars.deserialize(
      jars.serialize(at(100)),
      { maxCookiesPerService: 10 },
      at(100),
    );
    expect(error).toBeUndefined();
    expect(back.stats(`${WEB}/`, at(100)).count).toBe(10);
    expect(back.cookieHeader(`${WEB}/`, { now: at(100) })).toContain("c99=99");
  });

  const good = () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, ["a=1; Path=/"], T0);
    return JSON.parse(jars.serialize(T0)) as {
      services: { service: string; cookies: Record<string, unknown>[] }[];
    };
  };
  const corrupt: [string, unknown][] = [
    ["not JSON", "{not json"],
    ["truncated", JSON.stringify(good()).slice(0, 40)],
    ["null", "null"],
    ["an array", "[]"],
    ["another format", JSON.stringify({ ...good(), format: "other" })],
    ["a future version", JSON.stringify({ ...good(), version: 2 })],
    ["services not a list", JSON.stringify({ ...good(), services: {} })],
    [
      "a bad service key",
      JSON.stringify(
        mutate(good(), (s) => {
          s.service = "web-01:3000/evil";
        }),
      ),
    ],
    [
      "an uncanonical service key",
      JSON.stringify(
        mutate(good(), (s) => {
          s.service = "WEB-01:3000";
        }),
      ),
    ],
    [
      "a value with CRLF",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.value = "1\r\nX-Evil: 1";
        }),
      ),
    ],
    [
      "a value with ;",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.value = "1; b=2";
        }),
      ),
    ],
    [
      "a relative path",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.path = "x";
        }),
      ),
    ],
    [
      "another host's domain",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.domain = "web-02";
        }),
      ),
    ],
    [
      "a string flag",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.httpOnly = "yes";
        }),
      ),
    ],
    [
      "a bad date",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.creation = "yesterday";
        }),
      ),
    ],
    [
      "a huge value",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.value = "x".repeat(5000);
        }),
      ),
    ],
    [
      "a bad SameSite",
      JSON.stringify(
        mutate(good(), (s) => {
          s.cookies[0]!.sameSite = "sometimes";
        }),
      ),
    ],
    [
      "a __proto__ service",
      '{"format":"corridor-cookies","version":1,"services":[{"__proto__":{"service":"x:1"},"cookies":[]}]}',
    ],
    ["a non-string input", 42],
  ];
  it.each(corrupt)("a store with %s yields empty jars and an error, no throw", (_what, input) => {
    const { jars, error } = CookieJars.deserialize(input, {}, T0);
    expect(error).toMatch(/^cookie store discarded: /);
    expect(jars.services()).toEqual([]);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("");
  });

  it("an empty store and a parsed object both load", () => {
    expect(CookieJars.deserialize(new CookieJars().serialize()).error).toBeUndefined();
    const { jars, error } = CookieJars.deserialize(good(), {}, T0);
    expect(error).toBeUndefined();
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("a=1");
  });
});

function mutate<T extends { services: { service: string; cookies: Record<string, unknown>[] }[] }>(
  store: T,
  change: (service: T["services"][number]) => void,
): T {
  const first = store.services[0];
  if (first !== undefined) change(first);
  return store;
}
