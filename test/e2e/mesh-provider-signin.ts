// Signing a person in through the mesh lab's OpenID Provider (oidc-provider's development
// login and consent forms) in Chromium, as a person would: from the page's SSO button, from
// /login/oidc?return=PATH, or from wherever the page itself went (a check rule's fresh
// sign-in). Used by mesh-lab.ts's signIn().

import type { Page } from "playwright-core";

/** The people the provider knows (account id → claims). alice and bob are members. */
export const MESH_ACCOUNTS: Record<string, { email: string; name: string }> = {
  alice: { email: "alice@example.com", name: "Alice Liddell" },
  bob: { email: "bob@example.com", name: "Bob Builder" },
};

/** The page's SSO button (web/views/sign-in.ts). */
export const SIGN_IN_SSO_TESTID = "sign-in-oidc";

/**
 * Starts a sign-in from `page` and completes the provider's dev login and consent forms as
 * `account`; resolves once the browser is back on `origin` (the page, with a session cookie).
 */
export async function signInThroughProvider(
  page: Page,
  account: string,
  origin: string,
  issuer: string,
  { direct, started = false }: { direct?: string; started?: boolean },
): Promise<void> {
  if (MESH_ACCOUNTS[account] === undefined) {
    throw new Error(`mesh lab: no account "${account}" at the provider`);
  }
  const toProvider = (u: URL) => u.origin === issuer;
  if (direct !== undefined) {
    await page.goto(new URL(`/login/oidc?return=${encodeURIComponent(direct)}`, origin).href);
  } else {
    if (!started) await page.getByTestId(SIGN_IN_SSO_TESTID).click();
    await page.waitForURL(toProvider, { waitUntil: "commit", timeout: 60_000 });
  }
  // The provider asks for a login, then consent (consent is skipped once granted).
  for (let step = 0; step < 6; step++) {
    await page.waitForURL((u) => u.origin === origin || toProvider(u));
    if (new URL(page.url()).origin === origin) return;
    const here = page.url();
    const prompt = await page.locator('form input[name="prompt"]').first().getAttribute("value");
    if (prompt === "login") {
      await page.locator('input[name="login"]').fill(account);
      await page.locator('input[name="password"]').fill("any");
    } else if (prompt !== "consent") {
      throw new Error(`mesh lab: unexpected provider page ${here}: prompt ${prompt}`);
    }
    await Promise.all([
      page.waitForURL((u) => u.href !== here, { waitUntil: "commit" }),
      page.locator('form button[type="submit"]').first().click(),
    ]);
  }
  throw new Error("mesh lab: the sign-in did not come back to the page after 6 provider steps");
}
