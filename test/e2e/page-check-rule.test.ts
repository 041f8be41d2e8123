// An SSH `check` rule from the page (issue 15 item 3): alice may log in to web-01 only within an
// hour of signing in. Her sign-in is made two hours old (the store, then a no-op role change so
// the map carries it to the agent); her login is refused with the agent's /login/check URL,
// the page asks, then goes through the provider's fresh sign-in (/login/check?return=/#/ssh/...) and comes
// back to the same #/ssh/ route, and the second login opens a shell. The lab is H8's mesh lab
// (oidc-provider, corridor serve, a real `corridor agent` with identity SSH).

import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { launchChromium } from "../helpers/chromium.ts";
import { jsonUsers } from "../helpers/json.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab, TEST_USER } from "./mesh-lab.ts";

const ARTIFACTS = join(process.cwd(), "build", "e2e-artifacts");

const CHECK_POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22"] },
  ],
  "ssh": [
    { "action": "check", "src": ["alice@example.com"], "dst": ["tag:server"], "users": ["${TEST_USER}"], "checkPeriod": "1h" },
  ],
}`;

/** Fills the provider's login (and consent) forms until the browser is back on `origin`. */
async function providerSignIn(page: Page, origin: string, account: string): Promise<void> {
  for (let step = 0; step < 6; step++) {
    await page.waitForURL((u) => u.origin !== origin || u.hash.startsWith("#/ssh/"));
    if (new URL(page.url()).origin === origin) return;
    const here = page.url();
    const prompt = await page.locator('form input[name="prompt"]').first().getAttribute("value");
    if (prompt === "login") {
      await page.locator('input[name="login"]').fill(account);
      await page.locator('input[name="password"]').fill("any");
    }
    await Promise.all([
      page.waitForURL((u) => u.href !== here, { waitUntil: "commit" }),
      page.locator('form button[type="submit"]').first().click(),
    ]);
  }
  throw new Error("the fresh sign-in did not come back to the page");
}

describeWithPrereq(meshLabPrereq(), "a check rule from the page", () => {
  let lab: MeshLab;
  let browser: Browser;

  beforeAll(async () => {
    lab = await startMeshLab({
      agents: [{ name: "web-01", tags: ["tag:server"] }],
      policy: CHECK_POLICY,
    });
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("an old sign-in goes through a fresh one and back into the session", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${lab.url}#/mesh`);
    await page.getByTestId("sign-in-view").waitFor();
    await lab.signIn(page, "alice");
    await page
      .getByTestId("mesh-host-item")
      .filter({ hasText: "web-01" })
      .waitFor({ timeout: 30_000 });

    // Alice's sign-in is two hours old now, and the agent's map says so.
    const users = jsonUsers((await lab.admin("/api/v1/users")).json);
    const alice = users.find((u) => u.email === "alice@example.com")!;
    await lab.store.updateUser(alice.id, { lastLoginAt: Date.now() - 2 * 3_600_000 });
    const patched = await lab.admin(`/api/v1/users/${alice.id}`, {
      method: "PATCH",
      body: { role: "member" },
    });
    expect(patched.status).toBe(200);

    // The dialog offers the user and says a recent sign-in may be asked for.
    await page.getByTestId("mesh-ssh").first().click();
    const dialog = page.getByTestId("ssh-dialog");
    await dialog.waitFor();
    expect(await dialog.getByTestId("ssh-users-check").count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "shell-check-dialog-1280.png") });
    await dialog.getByTestId("ssh-connect").click();

    // Refused by the check rule (the control server says one grants this user): the page asks,
    // then leaves for the fresh sign-in...
    const ask = page.getByTestId("signin-required-dialog");
    await ask.waitFor({ timeout: 30_000 });
    await ask.getByTestId("signin-again").click();
    await page.waitForURL((u) => u.origin !== lab.origin, { timeout: 30_000 });
    await providerSignIn(page, lab.origin, "alice");
    // ...and comes back to the session's route, which asks as any link does.
    expect(new URL(page.url()).hash).toBe(`#/ssh/${TEST_USER}@web-01`);
    const confirm = page.getByTestId("deeplink-dialog");
    await confirm.waitFor({ timeout: 30_000 });
    expect(await confirm.getByTestId("deeplink-host").textContent()).toBe("web-01");
    await page.getByTestId("deeplink-connect").click();
    await expect
      .poll(() => page.evaluate(() => window.corridorDebug?.sessionState(0) ?? ""), {
        timeout: 30_000,
      })
      .toBe("connected");
    await page.screenshot({ path: join(ARTIFACTS, "shell-check-session-1280.png") });
    await context.close();
  }, 180_000);
});
