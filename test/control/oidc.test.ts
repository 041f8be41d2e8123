// The whole OIDC sign-in against a real OpenID Provider (oidc-provider, run here on loopback)
// through real HTTP: our /login/oidc → the provider's authorization endpoint → its login and
// consent pages (driven like a person filling them in) → our callback → a session. Users come
// from the claims; allowed domains refuse with a page that says why; a replayed callback and a
// callback in another browser are refused.

import { afterEach, describe, expect, it } from "vitest";
import { OidcLogin, type OidcOptions } from "../../server/control/auth/oidc.ts";
import type { Harness } from "./api-harness.ts";
import { ACCOUNTS, Browser, type OidcLab, signIn, startOidcLab } from "./oidc-fixture.ts";

let lab: OidcLab | null = null;
afterEach(async () => {
  await lab?.close();
  lab = null;
});

/** Starts a provider and our API with OIDC pointed at it. */
async function start(
  rules: Pick<OidcOptions, "allowedDomains" | "allowedEmails"> = {},
): Promise<Harness> {
  lab = await startOidcLab(rules);
  return lab.harness;
}

describe("OIDC sign-in against a real provider", () => {
  it("uses code + PKCE S256 + state + nonce, makes a member from the claims, and starts a session", async () => {
    const harness = await start();
    const browser = new Browser();
    const journey = await signIn(harness, browser, "alice", "/approve/abc");
    const q = journey.authorize.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("state")).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(q.get("nonce")).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(q.get("scope")).toBe("openid email profile");

    expect(journey.final.status).toBe(302);
    expect(journey.final.headers.get("location")).toBe("/approve/abc");
    const users = await harness.store.listUsers();
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({
      issuer: new URL(journey.authorize.origin).href.replace(/\/$/, ""),
      subject: "alice",
      name: "Alice Liddell",
      email: "alice@example.com",
      role: "member",
      lastLoginAt: harness.clock.now,
    });
    expect(harness.calls).toEqual([["userChanged", users[0]!.id]]);
    const who = await browser.request(new URL("/api/v1/whoami", harness.baseUrl));
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({
      via: "session",
      user: { name: "Alice Liddell", role: "member" },
    });

    // Signing in again finds the same user by (issuer, subject), not a new one; the map side
    // hears of it (the user's signedInAt changed).
    const again = await signIn(harness, new Browser(), "alice");
    expect(again.final.status).toBe(302);
    expect(await harness.store.listUsers()).toHaveLength(1);
    expect(harness.calls).toEqual([
      ["userChanged", users[0]!.id],
      ["userChanged", users[0]!.id],
    ]);

    // A changed email or name at the provider is taken over on the next sign-in.
    const before = ACCOUNTS.alice!;
    ACCOUNTS.alice = { ...before, email: "alice@example.org", name: "Alice L." };
    try {
      expect((await signIn(harness, new Browser(), "alice")).final.status).toBe(302);
    } finally {
      ACCOUNTS.alice = before;
    }
    const updated = await harness.store.listUsers();
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({
      subject: "alice",
      email: "alice@example.org",
      name: "Alice L.",
    });
    expect(harness.calls).toEqual([
      ["userChanged", users[0]!.id],
      ["userChanged", users[0]!.id],
      ["userChanged", users[0]!.id],
    ]);
  });

  it("refuses an address outside the allowed domains with a page that says why, and makes no user", async () => {
    const harness = await start({ allowedDomains: ["example.com"] });
    const journey = await signIn(harness, new Browser(), "eve");
    expect(journey.final.status).toBe(403);
    expect(journey.final.headers.get("content-type")).toMatch(/^text\/html/);
    expect(journey.finalText).toContain(
      "eve@evil.example is not admitted here: this server admits only addresses at example.com.",
    );
    expect(
      journey.final.headers.getSetCookie().some((c) => c.startsWith("corridor_session=")),
    ).toBe(false);
    expect(await harness.store.listUsers()).toEqual([]);
    // Someone at the allowed domain gets in.
    expect((await signIn(harness, new Browser(), "alice")).final.status).toBe(302);
  });

  it("does not take an email the provider says is unverified", async () => {
    const harness = await start({ allowedEmails: ["mallory@example.com"] });
    const journey = await signIn(harness, new Browser(), "mallory");
    expect(journey.final.status).toBe(403);
    expect(journey.finalText).toContain(
      "Your identity provider gave no verified email address, and this server admits only listed addresses or domains.",
    );
    expect(await harness.store.listUsers()).toEqual([]);
  });

  it("refuses a replayed callback (state used once), even with the state cookie put back", async () => {
    const harness = await start();
    const browser = new Browser();
    const journey = await signIn(harness, browser, "alice");
    expect(journey.final.status).toBe(302);
    const state = journey.callback.searchParams.get("state")!;
    const replay = await fetch(journey.callback, {
      headers: { cookie: `corridor_oidc_state=${state}` },
      redirect: "manual",
    });
    expect(replay.status).toBe(400);
    const page = await replay.text();
    expect(page).toContain(
      "This sign-in response is unknown, was used already, or has expired: start again.",
    );
    expect(page).toContain("(state_unknown)");
    expect(replay.headers.getSetCookie().some((c) => c.startsWith("corridor_session="))).toBe(
      false,
    );
  });

  it("refuses a callback that arrives in another browser than the one that started it", async () => {
    const harness = await start();
    const browser = new Browser();
    // Follow the flow up to the provider's redirect, then deliver the callback without cookies.
    const journey = await signInButStop(harness, browser, "alice");
    const stranger = await fetch(journey, { redirect: "manual" });
    expect(stranger.status).toBe(400);
    expect(await stranger.text()).toContain(
      "This sign-in was started in another browser: start again.",
    );
    // The attempt is gone: the rightful browser cannot use it afterwards either.
    const late = await browser.request(journey);
    expect(await late.text()).toContain("(state_unknown)");
    expect(await harness.store.listUsers()).toEqual([]);
  });
});

describe("OIDC configuration", () => {
  it("refuses an http:// issuer that is not on loopback", async () => {
    await expect(
      OidcLogin.discover({
        issuer: "http://idp.example.com",
        clientId: "x",
        clientSecret: "y",
        redirectUri: "https://corridor.example.com/login/oidc/callback",
        allowHttpIssuer: true,
      }),
    ).rejects.toThrow(
      "OIDC issuer http://idp.example.com must be https:// (http:// only on loopback)",
    );
  });
});

/** Like signIn, but returns the callback URL without opening it. */
async function signInButStop(harness: Harness, browser: Browser, account: string): Promise<URL> {
  const original = browser.request.bind(browser);
  let captured: URL | null = null;
  browser.request = async (url, init) => {
    if (url.origin === harness.origin && url.pathname === "/login/oidc/callback") {
      captured = url;
      return new Response(null, { status: 204 });
    }
    return original(url, init);
  };
  await signIn(harness, browser, account);
  browser.request = original;
  if (captured === null) throw new Error("the provider never redirected to the callback");
  return captured;
}
