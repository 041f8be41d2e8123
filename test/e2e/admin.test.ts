// The admin views in Chromium against `corridor serve` with its control server (owner link, no
// identity provider): the owner opens #/admin/nodes directly (the route survives the sign-in),
// sees the mesh's nodes and renames one; changes a member's role; creates an auth key that is
// shown once (and only its prefix afterwards); tests a policy whose `tests` fail (refused with
// the failing line shown, Save never offered), then a good one that is saved; and reads all of
// it back in the audit list. A member is told the admin views are not theirs. Screenshots of
// each view at 1280x800 and 390x844 go to build/e2e-artifacts/admin-*.png.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createInvite, createOwnerLink } from "../../server/control/auth/links.ts";
import type { NewNode, Store } from "../../server/control/store/types.ts";
import type { ServeHandle } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { closeOwnerServe, type OwnerServe, startOwnerServe } from "./owner-serve.ts";

const ARTIFACTS = join(process.cwd(), "build", "e2e-artifacts");
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** A policy whose test (line 9) fails: nothing lets tag:server reach tag:db. */
const FAILING_POLICY = `{
  "tagOwners": { "tag:server": [], "tag:db": [] },
  "acls": [
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
  ],
  "tests": [
    // servers reach the database
    { "src": "tag:server", "accept": ["tag:db:5432"] },
  ],
}`;

const GOOD_POLICY = FAILING_POLICY.replace(
  '"acls": [',
  '"acls": [\n    { "action": "accept", "src": ["tag:server"], "dst": ["tag:db:5432"] },',
);

function agentNode(n: number, name: string, tags: string[]): NewNode {
  return {
    nodeKey: Buffer.alloc(32, n).toString("base64"),
    userId: null,
    tags,
    name,
    hostname: name,
    os: "linux",
    ipv4: `100.64.1.${n}`,
    ipv6: `fd7a:115c:a1e0::1:${n}`,
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    lastSeen: Date.UTC(2026, 11, 1, 9, 30),
    authKeyId: null,
  };
}

describeWithPrereq(chromiumPrereq(), "the admin views", () => {
  let owner: OwnerServe | undefined;
  let store: Store;
  let serve: ServeHandle;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    owner = await startOwnerServe("admin", async (seeded) => {
      for (const [i, [name, tags]] of (
        [
          ["web-01", ["tag:server"]],
          ["db-01", ["tag:db"]],
        ] as const
      ).entries()) {
        await seeded.createNode(agentNode(i + 1, name, [...tags]));
      }
    });
    ({ store, serve } = owner);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: WIDE });
    page = await context.newPage();
    watch(page);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await closeOwnerServe(owner);
  }, 60_000);

  function watch(p: Page): void {
    p.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    p.on("console", (message) => {
      if (message.type() !== "error") return;
      const where = message.location().url;
      if (where !== "" && new URL(where).pathname === "/favicon.ico") return;
      // The policy test's conflicting Save is refused on purpose (412 to its If-Match).
      const conflict = / 412 /.test(message.text()) && where.endsWith("/api/v1/policy");
      if (conflict) return;
      problems.push(`console: ${message.text()} (${where})`);
    });
  }

  /** At 390 px every `selector` in the page lies inside the screen (cards, not a wide table). */
  async function allOnPhone(selector: string): Promise<void> {
    await page.setViewportSize(PHONE);
    const rights = await page
      .locator(selector)
      .evaluateAll((els) => els.map((el) => el.getBoundingClientRect().right));
    expect(rights.length).toBeGreaterThan(0);
    for (const right of rights) expect(right).toBeLessThanOrEqual(PHONE.width);
    await page.setViewportSize(WIDE);
  }

  async function bothSizes(name: string): Promise<void> {
    for (const size of [WIDE, PHONE]) {
      await page.setViewportSize(size);
      await page.screenshot({ path: join(ARTIFACTS, `admin-${name}-${size.width}.png`) });
    }
    await page.setViewportSize(WIDE);
  }

  async function open(section: string): Promise<void> {
    await page.goto(`${serve.url}#/admin/${section}`);
    await page.getByTestId(`admin-view-${section}`).waitFor();
  }

  it("nodes: opened directly before sign-in, listed after it; rename asks and applies", async () => {
    await page.goto(`${serve.url}#/admin/nodes`);
    await page.getByTestId("sign-in-view").waitFor();
    await page.goto(await createOwnerLink(store, serve.url));
    await page.waitForURL((u) => u.hash === "#/admin/nodes");
    const table = page.getByTestId("admin-nodes");
    await table.locator("tr[data-node='db-01']").waitFor();
    const web = table.locator("tr[data-node='web-01']");
    expect(await web.textContent()).toContain("tag:server");
    expect(await web.textContent()).toContain("100.64.1.1");
    await bothSizes("nodes");
    await allOnPhone('[data-testid="admin-nodes"] [data-testid="node-remove"]');

    await table.locator("tr[data-node='db-01']").getByTestId("node-rename").click();
    await page.getByTestId("rename-input").fill("Bad Name");
    await page.getByTestId("dialog-submit").click();
    expect(await page.getByTestId("dialog-error").textContent()).toMatch(
      /"Bad Name" is not a name/,
    );
    await page.getByTestId("rename-input").fill("db-02");
    await page.getByTestId("dialog-submit").click();
    await table.locator("tr[data-node='db-02']").waitFor();
    expect(await page.getByTestId("admin-status").textContent()).toBe("db-01 renamed to db-02.");
    expect((await store.listNodes()).map((n) => n.name)).toContain("db-02");
  }, 180_000);

  it("users: the owner changes a member's role; the owner's own role is plain text", async () => {
    const link = await store.transaction(async (tx) =>
      createInvite(tx, serve.url, {
        role: "member",
        email: "",
        createdBy: (await tx.listUsers())[0]!.id,
        expiresAt: Date.now() + 600_000,
      }),
    );
    // The invitation is consumed as a person would: in a browser of their own.
    const other = await (await browser.newContext({ viewport: WIDE })).newPage();
    watch(other);
    await other.goto(`${serve.url}#/admin/users`);
    await other.getByTestId("sign-in-view").waitFor();
    await other.goto(`${link}`);
    await other.waitForURL((u) => u.hash === "#/admin/users");
    await other.getByTestId("admin-refused").waitFor();
    await other.screenshot({ path: join(ARTIFACTS, "admin-refused-1280.png") });
    await other.context().close();

    await open("users");
    const table = page.getByTestId("admin-users");
    const rows = table.locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    const member = rows.filter({ has: page.getByTestId("user-role") });
    await member.getByTestId("user-role").selectOption("admin");
    await expect.poll(() => page.getByTestId("admin-status").textContent()).toMatch(/is now admin/);
    expect((await store.listUsers()).map((u) => u.role).sort()).toEqual(["admin", "owner"]);
    expect(await rows.filter({ hasText: "you" }).getByTestId("user-role").count()).toBe(0);
    await bothSizes("users");
  }, 120_000);

  it("auth keys: created with options, the key shown once, then only its prefix", async () => {
    await open("keys");
    await page.getByTestId("key-reusable").check();
    await page.getByTestId("key-tags").fill("tag:server nope");
    await page.getByTestId("key-create").click();
    expect(await page.locator(".admin-key-form .form-error").textContent()).toBe(
      '"nope" is not a tag: write tag:NAME',
    );
    await page.getByTestId("key-tags").fill("tag:server");
    await page.getByTestId("key-expiry").selectOption("7d");
    await page.getByTestId("key-create").click();
    const shown = page.getByTestId("key-created");
    await shown.waitFor();
    const key = (await page.getByTestId("key-value").textContent()) ?? "";
    expect(key).toMatch(/^cak_[A-Za-z0-9_-]{20,}$/);
    await bothSizes("key-created");
    await page.getByTestId("dialog-cancel").click();
    const [stored] = await store.listAuthKeys();
    expect(stored).toMatchObject({ reusable: true, ephemeral: false, tags: ["tag:server"] });
    // Expiry is the API's clock plus 7 days; createdAt is the store's (a few ms apart).
    expect(Math.abs(stored!.expiresAt - stored!.createdAt - 7 * 86_400_000)).toBeLessThan(60_000);
    const row = page.getByTestId("admin-keys").locator(`tr[data-key='${stored!.prefix}']`);
    await row.waitFor();
    expect(await row.textContent()).toContain("reusable");
    // The key itself is nowhere on the page any more.
    expect(await page.content()).not.toContain(key);
    await bothSizes("keys");
  }, 120_000);

  it("policy: a failing test is refused with its line; a passing one is saved", async () => {
    await open("policy");
    const text = page.getByTestId("policy-text");
    await expect.poll(() => text.inputValue()).toMatch(/default policy/);
    expect(await page.getByTestId("policy-save").isDisabled()).toBe(true);
    await text.fill(FAILING_POLICY);
    await page.getByTestId("policy-test").click();
    const problems0 = page.getByTestId("policy-problems");
    await problems0.waitFor();
    const first = (await problems0.locator("li").first().textContent()) ?? "";
    expect(first).toMatch(/^line 9:\d+ tests\[0\]/);
    expect(await page.locator(".policy-gutter span.bad").allTextContents()).toEqual(["9"]);
    expect(await page.getByTestId("policy-save").isDisabled()).toBe(true);
    await bothSizes("policy-refused");
    // A click on the problem puts the cursor on its line.
    await problems0.getByTestId("policy-problem-at").first().click();
    const caretLine = await text.evaluate(
      (el) =>
        (el as HTMLTextAreaElement).value
          .slice(0, (el as HTMLTextAreaElement).selectionStart)
          .split("\n").length,
    );
    expect(caretLine).toBe(9);

    await text.fill(GOOD_POLICY);
    await page.getByTestId("policy-test").click();
    await page.getByTestId("policy-ok").waitFor();
    expect(await page.getByTestId("policy-save").isDisabled()).toBe(false);
    // An edit after the test takes Save away again until the next test.
    await text.press("End");
    await text.type(" ");
    expect(await page.getByTestId("policy-save").isDisabled()).toBe(true);
    await page.getByTestId("policy-test").click();
    await expect.poll(() => page.getByTestId("policy-save").isDisabled()).toBe(false);
    await page.getByTestId("policy-save").click();
    await expect
      .poll(() => page.getByTestId("admin-status").textContent())
      .toMatch(/^Saved: version 1 is in force\.$/);
    expect((await store.getPolicy())?.text).toBe(`${GOOD_POLICY} `);
    await bothSizes("policy-saved");

    // Someone else saves meanwhile: this page's next Save refuses to overwrite it unseen.
    await text.press("End");
    await text.type("\n");
    await page.getByTestId("policy-test").click();
    await expect.poll(() => page.getByTestId("policy-save").isDisabled()).toBe(false);
    await store.setPolicy(GOOD_POLICY, null);
    await page.getByTestId("policy-save").click();
    await expect
      .poll(() => page.getByTestId("admin-status").textContent())
      .toMatch(/^someone saved the policy since you opened it: reload to see their version/);
    expect((await store.getPolicy())?.version).toBe(2);
  }, 120_000);

  it("audit: every change above, newest first, with who and from where", async () => {
    await open("audit");
    const table = page.getByTestId("admin-audit");
    await table.waitFor();
    const actions = await table
      .locator("tbody tr")
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.action));
    expect(actions).toEqual(
      expect.arrayContaining(["policy.set", "authkey.create", "user.role", "node.rename", "login"]),
    );
    expect(actions.indexOf("policy.set")).toBeLessThan(actions.indexOf("authkey.create"));
    expect(actions.indexOf("authkey.create")).toBeLessThan(actions.indexOf("node.rename"));
    const rename = table.locator("tr[data-action='node.rename']");
    expect(await rename.textContent()).toContain("db-01 -> db-02");
    expect(await rename.textContent()).toContain("127.0.0.1");
    await bothSizes("audit");
    await allOnPhone('[data-testid="admin-audit"] td[data-label="Detail"]');
    expect(problems).toEqual([]);
  }, 120_000);
});
