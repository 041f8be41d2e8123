// Pure parts of the app origin's injected script and service worker pages: the optimistic
// document.cookie update (web/app-inject/cookie.ts) and the Basic challenge's realm
// (web/app-sw/credentials-page.ts), plus the pages' escaping.

import { describe, expect, it } from "vitest";
import { applyAssignment } from "../../web/app-inject/cookie.ts";
import {
  basicChallenge,
  credentialsPage,
  parseChallenges,
} from "../../web/app-sw/credentials-page.ts";
import { errorPage } from "../../web/app-sw/error-page.ts";

const NOW = Date.parse("2026-12-04T00:00:00Z");

describe("applyAssignment", () => {
  const apply = (current: string, assignment: string, path = "/tree/x") =>
    applyAssignment(current, assignment, path, NOW);
  it("adds, replaces and removes pairs as the browser shows them", () => {
    expect(apply("", "a=1")).toBe("a=1");
    expect(apply("a=1; b=2", "a=3; Path=/")).toBe("b=2; a=3");
    expect(apply("a=1; b=2", "a=; Max-Age=0")).toBe("b=2");
    expect(apply("a=1", "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT")).toBe("");
    expect(apply("a=1", "b=2; Expires=Thu, 01 Jan 2037 00:00:00 GMT")).toBe("a=1; b=2");
    expect(apply("a=1", " spaced = v ")).toBe("a=1; spaced=v");
    expect(apply("a=1", "nameless")).toBe("a=1; nameless");
  });
  it("ignores what script cannot set or this page cannot see", () => {
    expect(apply("a=1", "h=1; HttpOnly")).toBe("a=1");
    expect(apply("a=1", "p=1; Path=/other")).toBe("a=1");
    expect(apply("a=1", "p=1; Path=/tr")).toBe("a=1");
    expect(apply("a=1", "p=1; Path=/tree")).toBe("a=1; p=1");
    expect(apply("a=1", "p=1; Path=/tree/")).toBe("a=1; p=1");
  });
});

describe("basicChallenge", () => {
  it("finds the realm of a Basic challenge among others", () => {
    expect(basicChallenge(['Basic realm="Transmission"'])).toEqual({ realm: "Transmission" });
    expect(basicChallenge(['Bearer realm="x", Basic realm="a \\"b\\"", charset="UTF-8"'])).toEqual({
      realm: 'a "b"',
    });
    expect(basicChallenge(['Digest realm="d", qop=auth', "basic realm=plain"])).toEqual({
      realm: "plain",
    });
    expect(basicChallenge(["Basic"])).toEqual({ realm: "" });
    expect(basicChallenge(['Bearer realm="x"', "Negotiate"])).toBeNull();
    expect(basicChallenge([])).toBeNull();
  });
  it("reads every auth-param, not only one before the first comma", () => {
    expect(basicChallenge(['Basic charset="UTF-8", realm="x"'])).toEqual({ realm: "x" });
    expect(basicChallenge(['Basic charset=UTF-8 , REALM = "a, b"'])).toEqual({ realm: "a, b" });
    expect(basicChallenge(['Bearer error="a,b", realm="no", Basic realm="yes"'])).toEqual({
      realm: "yes",
    });
    expect(basicChallenge(['Basic realm="\\\\ \\" ,"', "Basic realm=later"])).toEqual({
      realm: '\\ " ,',
    });
    expect(basicChallenge(["Negotiate abc==, Basic realm=r"])).toEqual({ realm: "r" });
    // A realm in another challenge is not Basic's.
    expect(basicChallenge(['Basic, Digest realm="d"'])).toEqual({ realm: "" });
  });
  it("parses challenges as RFC 7235 lists them", () => {
    const parsed = parseChallenges(
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", Negotiate YWJj==,  ,Other',
    );
    expect(parsed.map((c) => [c.scheme, c.token68, Object.fromEntries(c.params)])).toEqual([
      ["newauth", null, { realm: "apps", type: "1", title: 'Login to "apps"' }],
      ["basic", null, { realm: "simple" }],
      ["negotiate", "YWJj==", {}],
      ["other", null, {}],
    ]);
    expect(parseChallenges("")).toEqual([]);
    expect(parseChallenges(', "junk, here" , Basic').map((c) => c.scheme)).toEqual(["basic"]);
  });
});

describe("the worker's own pages", () => {
  it("escape what they show and allow only their own script", async () => {
    const page = credentialsPage('<b>"x"</b>', { host: "web-01", port: 3000 }, false, "N0nce");
    const html = await page.text();
    expect(page.status).toBe(401);
    expect(html).toContain("&#60;b&#62;&#34;x&#34;&#60;/b&#62;");
    expect(html).not.toContain("<b>");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'nonce-N0nce'");
    expect(html).toContain('<script nonce="N0nce">');
    const error = errorPage("offline", "<msg>", null, 'http://h/"x');
    expect(error.status).toBe(502);
    expect(error.headers.get("content-security-policy")).toContain("script-src 'none'");
    const text = await error.text();
    expect(text).toContain("Host offline");
    expect(text).toContain("&#60;msg&#62;");
    expect(text).toContain('href="http://h/&quot;x"');
  });
});
