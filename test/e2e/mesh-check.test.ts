// Issue 15 item 3's `check` rules, in Debian's Chromium against the mesh lab (mesh-lab.ts):
// the policy lets alice log in to web-01 as root only within a minute of an interactive
// sign-in. Her sign-in is made older than that (in the store, then told to the map side, as a
// sign-in an hour ago would be); a #/ssh/root@web-01 link is refused by the agent with the
// /login/check URL; the control server says a check rule grants root there, so the page asks
// her (Sign in again / Cancel), then sends her through a fresh sign-in at the provider (asked to
// log in again whatever session it holds) and back into the session, where `id -un` says root.

import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab, TEST_USER } from "./mesh-lab.ts";
import {
  echo42,
  openMeshBrowser,
  sessionState,
  shot,
  shotOnFailure,
  terminalText,
} from "./mesh-page-helpers.ts";

const POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [{ "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22"] }],
  "ssh": [
    { "action": "accept", "src": ["alice@example.com"], "dst": ["tag:server"], "users": ["${TEST_USER}"] },
    {
      "action": "check",
      "src": ["alice@example.com"],
      "dst": ["tag:server"],
      "users": ["root"],
      "checkPeriod": "1m",
    },
  ],
}`;

describeWithPrereq(meshLabPrereq(), "the page on the mesh: a check rule's fresh sign-in", () => {
  let lab: MeshLab;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    lab = await startMeshLab({
      agents: [{ name: "web-01", tags: ["tag:server"] }],
      policy: POLICY,
    });
    ({ browser, page } = await openMeshBrowser(lab, problems));
  }, 240_000);

  afterEach((test) => shotOnFailure(test, page, "check"));

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("a stale sign-in is sent through a fresh one and comes back into the root session", async () => {
    await page.goto(`${lab.url}#/mesh`);
    await lab.signIn(page, "alice");
    await page
      .locator('[data-testid="mesh-host-item"][data-name="web-01"][data-online="true"]')
      .waitFor({ timeout: 30_000 });

    // Her sign-in, an hour ago as far as the mesh knows.
    const alice = (await lab.store.listUsers()).find((u) => u.email === "alice@example.com")!;
    const stale = Date.now() - 3_600_000;
    await lab.store.updateUser(alice.id, { lastLoginAt: stale });
    await lab.control.control.meshChanges.userChanged(alice.id);

    await page.goto(`${lab.url}#/ssh/root@web-01`);
    await page.getByTestId("deeplink-connect").click({ timeout: 30_000 });
    // Refused with the check URL, and the control server says a check rule grants root: the
    // page asks (naming the host and the server's sentence) before it leaves for the sign-in.
    const ask = page.getByTestId("signin-required-dialog");
    await ask.waitFor({ timeout: 30_000 });
    expect(await ask.textContent()).toMatch(/web-01 lets you log in as root only after/);
    expect(await ask.getByTestId("signin-required-message").textContent()).toMatch(/login\/check/);
    await shot(page, "09-check-ask");
    await ask.getByTestId("signin-again").click();
    await lab.signIn(page, "alice", { started: true });
    const fresh = (await lab.store.listUsers()).find((u) => u.id === alice.id)!;
    expect(fresh.lastLoginAt).toBeGreaterThan(stale);

    // Back on the page, at the saved route: the link asks as any link does, then connects.
    await page.getByTestId("deeplink-connect").click({ timeout: 30_000 });
    await expect.poll(() => sessionState(page, 0), { timeout: 30_000 }).toBe("connected");
    await echo42(page, 0, "check");
    await page.keyboard.type("id -un\n");
    await expect.poll(() => terminalText(page, 0), { timeout: 20_000 }).toMatch(/^root\s*$/m);
    await shot(page, "09-check-session");
    expect(problems).toEqual([]);
  }, 180_000);
});
