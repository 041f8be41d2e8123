// Issue 17's share links in Debian's Chromium against the mesh lab (mesh-lab.ts: corridor serve
// with the control server and a real OpenID Provider, a real agent with identity SSH): the owner
// (alice, made an admin) creates an SSH share of web-01 for TEST_USER in one browser context; a
// second context opens the link, accepts as a guest and lands in a shell on web-01 as that user;
// the one-use link opened again, a tampered secret and an unknown id are refused with clear
// pages; the owner sees the acceptance and revokes while the recipient's terminal is open, and
// the recipient's page says access was revoked (how long it took is printed, never asserted).
// A share for signed-in users asks a guest to sign in; one for listed emails refuses bob.
// Screenshots of every view at 1280x800 and 390x844 go to build/e2e-artifacts/share-*.png.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { launchChromium } from "../helpers/chromium.ts";
import { jsonString } from "../helpers/json.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab, TEST_USER } from "./mesh-lab.ts";
import {
  collectOurProblems,
  echo42,
  sessionState,
  shotOnFailure,
  terminalText,
} from "./mesh-page-helpers.ts";
import { ARTIFACTS } from "./serve-pages.ts";

/** Screenshots of what `page` shows at 1280x800 and 390x844: ARTIFACTS/share-NAME-WIDTH.png. */
async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const size of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(ARTIFACTS, `share-${name}-${size.width}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

describeWithPrereq(meshLabPrereq(), "share links in the page (issue 17)", () => {
  let lab: MeshLab;
  let browser: Browser;
  let owner: Page;
  let recipient: Page;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let link = "";
  let current: Page | undefined;

  /** A fresh browser context (another person's browser) with one page. */
  async function person(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    collectOurProblems(page, problems, lab.origin);
    current = page;
    return page;
  }

  /** A share made through the API as the lab's owner; its link. */
  async function apiShare(body: Record<string, unknown>): Promise<string> {
    const web01 = (await lab.nodes()).find((n) => n.name === "web-01")!;
    const reply = await lab.admin("/api/v1/shares", {
      method: "POST",
      body: {
        nodeId: web01.id,
        sshUsers: [TEST_USER],
        ports: [],
        audience: "anyone",
        emails: [],
        expiry: "10m",
        maxUses: 1,
        note: "",
        ...body,
      },
    });
    expect(reply.status, JSON.stringify(reply.json)).toBe(201);
    return jsonString(reply.json, "url");
  }

  async function refused(page: Page, url: string, reason: string, name: string): Promise<void> {
    // Another document first: the same path with another fragment would be a same-page jump.
    await page.goto("about:blank");
    await page.goto(url);
    const refusal = page.getByTestId("share-refused");
    await refusal.waitFor({ timeout: 30_000 });
    expect(await refusal.getAttribute("data-reason")).toBe(reason);
    // Whatever the link held after #, it is not in the address bar.
    expect(new URL(page.url()).hash).toBe("");
    await shoot(page, name);
  }

  beforeAll(async () => {
    lab = await startMeshLab({ agents: [{ name: "web-01", tags: ["tag:server"] }] });
    browser = await launchChromium();
  }, 240_000);

  afterEach((test) => shotOnFailure(test, current, "share"));

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("the owner creates an SSH share of web-01 and gets its link", async () => {
    owner = await person();
    await owner.goto(`${lab.url}#/mesh`);
    await lab.signIn(owner, "alice");
    // web-01 is a tagged node: an admin may share it.
    const alice = (await lab.store.listUsers()).find((u) => u.email === "alice@example.com")!;
    await lab.store.updateUser(alice.id, { role: "admin" });
    await owner.goto(`${lab.url}#/mesh/host/web-01`);
    await owner.reload();
    await owner.getByTestId("nav-shares").waitFor({ timeout: 30_000 });
    const share = owner.getByTestId("mesh-host-share");
    await share.waitFor({ timeout: 30_000 });
    await share.click();
    const dialog = owner.getByTestId("share-dialog");
    await dialog.waitFor();
    const known = dialog.locator(`[data-testid="share-user"][data-value="${TEST_USER}"]`);
    if ((await known.count()) > 0) await known.check();
    else await dialog.getByTestId("share-users-text").fill(TEST_USER);
    await dialog.getByTestId("share-expiry").selectOption("10m");
    await dialog.getByTestId("share-uses").selectOption("one");
    await dialog.getByTestId("share-note").fill("Logs of the build on web-01, until the demo");
    await shoot(owner, "dialog");
    await dialog.getByTestId("share-create").click();
    const shown = owner.getByTestId("share-link-dialog");
    await shown.waitFor({ timeout: 30_000 });
    link = await shown.getByTestId("share-link-url").inputValue();
    expect(link).toMatch(new RegExp(`^${lab.origin}/s/[A-Za-z0-9_-]{16,64}#[A-Za-z0-9_-]{43}$`));
    await shoot(owner, "link");
    await shown.getByTestId("dialog-cancel").click();
  }, 180_000);

  it("a guest opens the link, accepts and lands in a shell on web-01 as the offered user", async () => {
    recipient = await person();
    await recipient.goto(link);
    const offer = recipient.getByTestId("share-offer");
    await offer.waitFor({ timeout: 30_000 });
    // The secret left the address bar at once.
    expect(recipient.url()).toBe(link.slice(0, link.indexOf("#")));
    expect(await recipient.getByTestId("share-device").textContent()).toContain("web-01");
    expect(await recipient.getByTestId("share-ssh").textContent()).toContain(TEST_USER);
    expect(await recipient.getByTestId("share-uses").textContent()).toMatch(/once/);
    // Nothing of the recipient's own: no sidebar, no mesh, no networks.
    expect(await recipient.getByTestId("sidebar").count()).toBe(0);
    await shoot(recipient, "offer");
    await recipient.getByTestId("share-accept").click();
    await expect.poll(() => sessionState(recipient, 0), { timeout: 60_000 }).toBe("connected");
    await echo42(recipient, 0, "share");
    await recipient.keyboard.type("id -un\n");
    await expect
      .poll(() => terminalText(recipient, 0), { timeout: 20_000 })
      .toMatch(new RegExp(`^${TEST_USER}\\s*$`, "m"));
    expect(await recipient.getByTestId("terminal-tab").count()).toBe(1);
    await shoot(recipient, "accepted");
  }, 180_000);

  it("the one-use link again, a tampered secret and an unknown id: clear pages", async () => {
    const other = await person();
    await refused(other, link, "used-up", "refused-used-up");
    const hash = link.indexOf("#");
    const secret = link.slice(hash + 1);
    const tampered = `${link.slice(0, hash + 1)}${secret[0] === "A" ? "B" : "A"}${secret.slice(1)}`;
    await refused(other, tampered, "not-found", "refused-tampered");
    await refused(
      other,
      `${lab.origin}/s/AAAAAAAAAAAAAAAAAAAAAA#${secret}`,
      "not-found",
      "refused-unknown",
    );
    await refused(other, `${lab.origin}/s/AAAAAAAAAAAAAAAAAAAAAA#<b>`, "not-found", "refused-bad");
  }, 120_000);

  it("the owner sees the acceptance online and revokes it; the recipient sees access was revoked", async () => {
    current = owner;
    await owner.goto(`${lab.url}#/shares`);
    const item = owner.getByTestId("share-item").first();
    await item.waitFor({ timeout: 30_000 });
    await owner
      .locator('[data-testid="share-acceptance"][data-online="true"]')
      .waitFor({ timeout: 30_000 });
    expect(await item.getByTestId("share-item-uses").textContent()).toBe("1 of 1 used");
    await shoot(owner, "list");
    await item.getByTestId("share-revoke").click();
    // From the click on Revoke (an upper bound: the click's own round trip is in it).
    const started = Date.now();
    await owner.getByTestId("share-revoke-confirm").click();
    current = recipient;
    const banner = recipient.getByTestId("share-ended");
    await banner.waitFor({ state: "visible", timeout: 30_000 });
    console.log(`share revoked: the recipient's page said so after ${Date.now() - started} ms`);
    expect(await banner.textContent()).toMatch(/Access was revoked/);
    await expect
      .poll(() => terminalText(recipient, 0), { timeout: 10_000 })
      .toMatch(/Access was revoked/);
    await shoot(recipient, "revoked");
    current = owner;
    await owner
      .locator('[data-testid="share-item"][data-state="revoked"]')
      .waitFor({ timeout: 30_000 });
    await shoot(owner, "list-revoked");
    const other = await person();
    await refused(other, link, "revoked", "refused-revoked");
  }, 120_000);

  it("a share for signed-in users asks a guest to sign in; one for listed emails refuses bob", async () => {
    const signedIn = await apiShare({
      audience: "signed-in",
      maxUses: null,
      expiry: "1d",
      note: "for the team",
    });
    const guest = await person();
    await guest.goto(signedIn);
    await guest.getByTestId("share-sign-in").waitFor({ timeout: 30_000 });
    expect(await guest.getByTestId("share-accept").count()).toBe(0);
    await shoot(guest, "sign-in-required");

    const emails = await apiShare({ audience: "emails", emails: ["carol@example.com"] });
    const bob = await person();
    await bob.goto(emails);
    await bob.getByTestId("share-sign-in").click({ timeout: 30_000 });
    await lab.signIn(bob, "bob", { started: true });
    // Back on the share (its secret kept in this tab across the sign-in): bob may not accept.
    const accept = bob.getByTestId("share-accept");
    const refusal = bob.getByTestId("share-refused");
    await accept.or(refusal).first().waitFor({ timeout: 30_000 });
    if (await accept.isVisible()) await accept.click();
    await refusal.waitFor({ timeout: 30_000 });
    expect(await refusal.getAttribute("data-reason")).toBe("email-not-allowed");
    await shoot(bob, "refused-email");
  }, 180_000);

  it("a web-service share: Open for its port (here at 127.0.0.1: where it would open instead)", async () => {
    const web = await apiShare({ sshUsers: [], ports: [8080], note: "the build dashboard" });
    const guest = await person();
    await guest.goto(web);
    expect(await guest.getByTestId("share-ports").textContent()).toContain("port 8080");
    await shoot(guest, "offer-web");
    await guest.getByTestId("share-accept").click({ timeout: 30_000 });
    await guest.getByTestId("share-accepted").waitFor({ timeout: 60_000 });
    // No terminal: nothing shared over SSH.
    expect(await guest.getByTestId("terminal-tab").count()).toBe(0);
    // The lab's page is at 127.0.0.1, not same-site with private URLs: the bar says where.
    expect(await guest.getByTestId("share-accepted-text").textContent()).toMatch(
      /open only when this page is at corridor\.localhost/,
    );
    await shoot(guest, "accepted-web");
  }, 120_000);

  it("a share that expires while open says so, and its link is then a clear page", async () => {
    const expiring = await apiShare({ expiry: "1m", maxUses: null, note: "one minute" });
    const guest = await person();
    await guest.goto(expiring);
    await guest.getByTestId("share-accept").click({ timeout: 30_000 });
    await expect.poll(() => sessionState(guest, 0), { timeout: 60_000 }).toBe("connected");
    const banner = guest.getByTestId("share-ended");
    await banner.waitFor({ state: "visible", timeout: 180_000 });
    expect(await banner.getAttribute("data-reason")).toBe("expired");
    expect(await banner.textContent()).toMatch(/This share expired/);
    await shoot(guest, "expired");
    await refused(await person(), expiring, "expired", "refused-expired");
  }, 300_000);

  it("no errors on the page", () => {
    // The refusals are answers with their status: Chromium logs each as a failed load.
    const refusal =
      /^console: Failed to load resource: the server responded with a status of 40[134] .*\/api\/v1\/shares\/[A-Za-z0-9_-]+\/(offer|accept)\)$/;
    expect(problems.filter((p) => !refusal.test(p))).toEqual([]);
  });
});
