// Issue 15's first tests bullet, in Debian's Chromium against the mesh lab (mesh-lab.ts):
// `corridor serve` with sign-in through a real OpenID Provider, `corridor agent` hosts web-01
// (tag:server) and db-01 (tag:db, which no member may reach). One browser context per person.
// - A deep link #/ssh/USER@web-01 opened before sign-in survives the SSO round trip and lands
//   in the session: identity SSH (no password, no key, no host-key prompt: the key comes from
//   the map), `echo mesh-$((6*7))` prints mesh-42.
// - The browser's node is in `corridor admin nodes` (the real CLI, the owner's API key) as an
//   ephemeral node of alice; the hosts view lists web-01 by name and not db-01; a session opened
//   from the host's page works the same way.
// - bob, whom the policy lets reach web-01 but not log in, is told why in the closed session.
// - Sign-out removes the browser's node (the owner's node list no longer has it) and shows the
//   sign-in view again.
// Screenshots of the signed-in views at 1280x800 and 390x844 go to build/e2e-artifacts/.

import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type LabNode, type MeshLab, meshLabPrereq, startMeshLab, TEST_USER } from "./mesh-lab.ts";
import {
  ARTIFACTS,
  collectOurProblems,
  echo42,
  nodesOf,
  sessionState,
  shot,
} from "./mesh-page-helpers.ts";

/** The page's test ids this test reads (web/views/sign-in.ts, mesh-hosts.ts, mesh-host.ts). */
const ID = {
  signInView: "sign-in-view",
  signOut: "sign-out",
  meshHost: "mesh-host-item",
  meshHostSsh: "mesh-host-ssh",
} as const;

describeWithPrereq(
  meshLabPrereq(),
  "the page on the mesh: SSO, hosts, keyless SSH, sign-out",
  () => {
    let lab: MeshLab;
    let browser: Browser;
    const contexts = new Map<string, BrowserContext>();
    const pages = new Map<string, Page>();
    const problems: string[] = [];

    /** A page of `person`'s own browser context (made on first use), at 1280x800. */
    const pageOf = async (person: string): Promise<Page> => {
      const known = pages.get(person);
      if (known !== undefined) return known;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      contexts.set(person, context);
      const page = await context.newPage();
      collectOurProblems(page, problems, lab.origin);
      pages.set(person, page);
      return page;
    };

    beforeAll(async () => {
      lab = await startMeshLab();
      browser = await launchChromium();
    }, 240_000);

    afterEach(async (context) => {
      if (context.task.result?.state !== "fail") return;
      const name = context.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      for (const [person, page] of pages) {
        await page
          .screenshot({ path: join(ARTIFACTS, `mesh-failed-${person}-${name}.png`) })
          .catch(() => undefined);
      }
    });

    afterAll(async () => {
      for (const context of contexts.values()) await context.close().catch(() => undefined);
      await browser?.close();
      await lab?.close();
    }, 60_000);

    it("a deep link opened before sign-in lands in a keyless session after the SSO round trip", async () => {
      const page = await pageOf("alice");
      await page.goto(`${lab.url}#/ssh/${TEST_USER}@web-01`);
      await page.getByTestId(ID.signInView).waitFor();
      await shot(page, "01-sign-in");
      await lab.signIn(page, "alice");
      // Back on the page: it follows the saved route and asks before connecting, as for any link.
      const dialog = page.getByTestId("deeplink-dialog");
      await dialog.waitFor({ timeout: 30_000 });
      expect(await dialog.getByTestId("deeplink-host").textContent()).toBe("web-01");
      expect(await dialog.getByTestId("deeplink-user").textContent()).toBe(TEST_USER);
      expect(await dialog.getByTestId("deeplink-network").textContent()).toMatch(/mesh/i);
      await page.getByTestId("deeplink-connect").click();
      await expect.poll(() => sessionState(page, 0), { timeout: 30_000 }).toBe("connected");
      // Identity SSH: nothing was asked on the way.
      expect(await page.getByTestId("hostkey-dialog").count()).toBe(0);
      expect(await page.getByTestId("login-dialog").count()).toBe(0);
      await echo42(page, 0);
      await shot(page, "02-session");
    }, 120_000);

    it("the browser's node is an ephemeral node of alice in `corridor admin nodes`", async () => {
      const [node] = await nodesOf(lab, "alice@example.com");
      expect(node).toBeDefined();
      expect(node).toMatchObject({ ephemeral: true, tags: [] });
      const listed = await lab.corridorAdmin(["nodes", "--json"]);
      expect(listed.code, listed.stderr).toBe(0);
      const cliNode = (JSON.parse(listed.stdout).nodes as LabNode[]).find((n) => n.id === node!.id);
      expect(cliNode).toMatchObject({ name: node!.name, ephemeral: true, userId: node!.userId });
      const table = await lab.corridorAdmin(["nodes"]);
      expect(table.code, table.stderr).toBe(0);
      const row = table.stdout.split("\n").find((line) => line.startsWith(`${node!.id} `));
      expect(row).toMatch(new RegExp(`^${node!.id}\\s+${node!.name}\\s.*\\syes\\s`));
    }, 60_000);

    it("lists web-01 by name (not db-01, which the policy hides) and opens a session from its page", async () => {
      const page = await pageOf("alice");
      await page.goto(`${lab.url}#/mesh`);
      // Online is pushed from the map: the row says so in data-online (its dot's colour).
      const row = page.locator(`[data-testid="${ID.meshHost}"][data-name="web-01"]`);
      await page
        .locator(`[data-testid="${ID.meshHost}"][data-name="web-01"][data-online="true"]`)
        .waitFor({ timeout: 30_000 });
      const names = await page
        .getByTestId(ID.meshHost)
        .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name));
      expect(names).toEqual(["web-01"]);
      await shot(page, "03-hosts");
      await row.getByTestId("mesh-host-link").click();
      await page.waitForURL((u) => u.hash === "#/mesh/host/web-01");
      await shot(page, "04-host");
      const before = await page.getByTestId("terminal-tab").count();
      await page.getByTestId(ID.meshHostSsh).click();
      const sshDialog = page.getByTestId("ssh-dialog");
      await sshDialog.waitFor();
      await shot(page, "05-ssh-dialog");
      // The allowed users are offered (GET /api/v1/nodes/:id/ssh-users), or typed in.
      const user = sshDialog.getByTestId("ssh-user");
      if ((await user.evaluate((el) => el.tagName)) === "SELECT") {
        expect(await user.locator("option").allTextContents()).toContain(TEST_USER);
        await user.selectOption(TEST_USER);
      } else {
        await user.fill(TEST_USER);
      }
      await sshDialog.getByTestId("ssh-connect").click();
      await expect.poll(() => sessionState(page, before), { timeout: 30_000 }).toBe("connected");
      expect(await page.getByTestId("hostkey-dialog").count()).toBe(0);
      await echo42(page, before);
    }, 120_000);

    it("bob, whom the policy refuses, is told why in the session", async () => {
      const page = await pageOf("bob");
      await page.goto(`${lab.url}#/ssh/${TEST_USER}@web-01`);
      await page.getByTestId(ID.signInView).waitFor();
      await lab.signIn(page, "bob");
      await page.getByTestId("deeplink-dialog").waitFor({ timeout: 30_000 });
      await page.getByTestId("deeplink-connect").click();
      const reason = page.getByTestId("closed-reason");
      await reason.waitFor({ timeout: 30_000 });
      // The agent's banner: who, from which node, may not log in as whom.
      expect(await reason.textContent()).toMatch(
        new RegExp(`bob@example\\.com on .* may not log in as ${TEST_USER}`),
      );
      expect(await page.getByTestId("login-dialog").count()).toBe(0);
      // The server's refusal: reconnecting as the same user is pointless; the way on is offered.
      expect(await page.getByTestId("reconnect").count()).toBe(0);
      await shot(page, "06-refused");
      await page.getByTestId("other-user").click();
      await page.getByTestId("ssh-dialog").waitFor({ timeout: 10_000 });
      await page.getByTestId("dialog-cancel").click();
      await page.getByTestId("back-to-hosts").click();
      await expect.poll(() => page.evaluate(() => location.hash)).toBe("#/mesh");
    }, 120_000);

    it("sign-out removes the browser's node and shows the sign-in view", async () => {
      const page = await pageOf("alice");
      const [node] = await nodesOf(lab, "alice@example.com");
      expect(node).toBeDefined();
      await page.getByTestId(ID.signOut).click();
      await page.getByTestId(ID.signInView).waitFor({ timeout: 30_000 });
      await expect
        .poll(async () => (await lab.nodes()).some((n) => n.id === node!.id), { timeout: 10_000 })
        .toBe(false);
      const whoami = await page.evaluate(async () => (await fetch("/api/v1/whoami")).status);
      expect(whoami).toBe(401);
      // Chromium logs every 401 answer as a console error: whoami while signed out is expected.
      expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
    }, 60_000);
  },
);
