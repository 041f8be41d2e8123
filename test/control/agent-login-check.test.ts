// GET /login/check, where an SSH `check` rule sends a person (docs/control.md): with OIDC, a
// round trip to a real provider (oidc-provider) that asks for a NEW sign-in (prompt=login,
// max_age=0) even though the provider holds a session, ends on a page that says to go back to
// the terminal, and moves the user's signedInAt; an auth_time older than the request is
// refused. Without OIDC, a page that names the links that sign in again.

import { afterEach, describe, expect, it } from "vitest";
import { CHECK_WITHOUT_OIDC } from "../../server/control/api/login.ts";
import { AUTH_TIME_SKEW_MS, checkFresh, OidcError } from "../../server/control/auth/oidc.ts";
import { startHarness as startApi } from "./api-harness.ts";
import { Browser, type OidcLab, signIn, startOidcLab } from "./oidc-fixture.ts";

let lab: OidcLab | null = null;
let close: (() => Promise<void>) | null = null;
afterEach(async () => {
  await lab?.close();
  lab = null;
  await close?.();
  close = null;
});

describe("GET /login/check with OIDC", () => {
  it("asks the provider for a new sign-in, says to go back to the terminal, and moves signedInAt", async () => {
    lab = await startOidcLab();
    const h = lab.harness;
    const browser = new Browser();
    const first = await signIn(h, browser, "alice");
    expect(first.final.status).toBe(302);
    expect(first.prompts).toContain("login");
    const user = (await h.store.listUsers())[0]!;
    const firstAt = user.lastLoginAt;
    expect(firstAt).toBe(h.clock.now);

    h.clock.now += 60_000;
    h.calls.length = 0;
    // The same browser: the provider has a session and would not ask again on its own.
    const check = await signIn(h, browser, "alice", "/", "/login/check");
    expect(check.authorize.searchParams.get("prompt")).toBe("login");
    expect(check.authorize.searchParams.get("max_age")).toBe("0");
    expect(check.prompts[0]).toBe("login");
    expect(check.final.status).toBe(200);
    expect(check.final.headers.get("content-type")).toMatch(/^text\/html/);
    expect(check.finalText).toContain(
      "Signed in again as Alice Liddell: go back to your terminal and retry.",
    );
    const after = await h.store.userById(user.id);
    expect(after?.lastLoginAt).toBe(h.clock.now);
    expect(after?.lastLoginAt).not.toBe(firstAt);
    expect(h.calls).toEqual([["userChanged", user.id]]);
    expect(await h.store.listUsers()).toHaveLength(1);

    // An ordinary sign-in in the same browser is answered from the provider's session.
    const plain = await signIn(h, browser, "alice");
    expect(plain.prompts).not.toContain("login");
    expect(plain.final.status).toBe(302);
  });
});

describe("checkFresh (the callback's auth_time check)", () => {
  const since = 1_800_000_000_000;
  it("accepts an auth_time at or after the request, within the clock skew", () => {
    expect(() => checkFresh(since / 1000, since)).not.toThrow();
    expect(() => checkFresh(since / 1000 + 30, since)).not.toThrow();
    expect(() => checkFresh((since - AUTH_TIME_SKEW_MS) / 1000, since)).not.toThrow();
  });

  it.each<[string, unknown, RegExp]>([
    ["older than the request", (since - AUTH_TIME_SKEW_MS - 1000) / 1000, /reused a sign-in from/],
    ["missing", undefined, /no auth_time/],
    ["not a number", "1800000000", /no auth_time/],
    ["not finite", Number.NaN, /no auth_time/],
  ])("refuses an auth_time %s", (_what, authTime, message) => {
    let caught: unknown;
    try {
      checkFresh(authTime, since);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OidcError);
    expect((caught as OidcError).code).toBe("not_fresh");
    expect((caught as OidcError).message).toMatch(message);
  });
});

describe("GET /login/check without OIDC", () => {
  it("says which link signs the person in again", async () => {
    const h = await startApi();
    close = () => h.close();
    const res = await h.call("GET", "/login/check");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    // The page escapes its sentence (the backquotes of the command are not HTML).
    expect(res.text).toContain("corridor admin owner-link --data DIR");
    expect(res.text).toContain("go back to your terminal and retry");
    expect(CHECK_WITHOUT_OIDC).toContain("owner link");
  });
});
