// The page's sign-in round trips come back to its route (docs/page.md, "Signing in"):
// /login/check?return=PATH (a `check` rule's fresh sign-in started by the page) redirects to
// PATH after the provider's new sign-in, where the bare /login/check keeps its "go back to your
// terminal" page; only local paths are followed. GET /api/v1/login/methods says whether the
// request carries a live session, so a signed-out page never asks whoami (and gets no 401).

import { afterEach, describe, expect, it } from "vitest";
import { Browser, type OidcLab, signIn, startOidcLab } from "./oidc-fixture.ts";

let lab: OidcLab | null = null;
afterEach(async () => {
  await lab?.close();
  lab = null;
});

describe("sign-in round trips of the page", () => {
  it("/login/check?return=/#/ssh/... comes back to the page's session route", async () => {
    lab = await startOidcLab();
    const h = lab.harness;
    const browser = new Browser();
    await signIn(h, browser, "alice");
    const route = "/#/ssh/alice@web-01";
    const check = await signIn(
      h,
      browser,
      "alice",
      route,
      `/login/check?return=${encodeURIComponent(route)}`,
    );
    expect(check.authorize.searchParams.get("prompt")).toBe("login");
    expect(check.final.status).toBe(302);
    expect(check.final.headers.get("location")).toBe(route);

    // Another site is never a return path: the fresh sign-in ends on the plain page.
    const away = await signIn(
      h,
      browser,
      "alice",
      "//evil.example/",
      "/login/check?return=%2F%2Fevil.example%2F",
    );
    expect(away.final.status).toBe(200);
    expect(away.finalText).toContain("go back to your terminal and retry");
  });

  it("login/methods says signedIn only with a live session cookie", async () => {
    lab = await startOidcLab();
    const h = lab.harness;
    const browser = new Browser();
    const methods = async () =>
      (await browser.request(new URL("/api/v1/login/methods", h.baseUrl))).json();
    expect(await methods()).toMatchObject({ link: true, signedIn: false });
    await signIn(h, browser, "alice");
    expect(await methods()).toMatchObject({ link: true, signedIn: true });
  });
});
