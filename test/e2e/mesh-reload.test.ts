// Issue 15's second tests bullet on the mesh, in Debian's Chromium against the mesh lab
// (mesh-lab.ts): alice signs in through the OpenID Provider and opens an identity SSH session
// to web-01; a reload of the page gives the same session back (one engine per browser: the
// SharedWorker outlives the reload) with its scrollback, and typing works; a second tab of the
// same browser opens a session of its own through the same mesh node (the owner still sees one
// node of alice) while the first tab keeps only its own. Screenshots at 1280x800 and 390x844.

import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab, TEST_USER } from "./mesh-lab.ts";
import {
  collectOurProblems,
  echo42,
  nodesOf,
  openMeshBrowser,
  sessionState,
  shot,
  shotOnFailure,
  terminalText,
} from "./mesh-page-helpers.ts";

describeWithPrereq(meshLabPrereq(), "the page on the mesh: reload and a second tab", () => {
  let lab: MeshLab;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    lab = await startMeshLab({ agents: [{ name: "web-01", tags: ["tag:server"] }] });
    ({ browser, context, page } = await openMeshBrowser(lab, problems));
  }, 240_000);

  afterEach((test) => shotOnFailure(test, page, "reload"));

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("a reload during a session gives it back with its scrollback, and typing works", async () => {
    await page.goto(`${lab.url}#/ssh/${TEST_USER}@web-01`);
    await page.getByTestId("sign-in-view").waitFor();
    await lab.signIn(page, "alice");
    await page.getByTestId("deeplink-connect").click({ timeout: 30_000 });
    await expect.poll(() => sessionState(page, 0), { timeout: 30_000 }).toBe("connected");
    await echo42(page, 0, "before");
    const [node] = await nodesOf(lab, "alice@example.com");
    expect(node).toBeDefined();

    await page.reload();
    await expect.poll(() => page.getByTestId("terminal-tab").count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => sessionState(page, 0), { timeout: 30_000 }).toBe("connected");
    expect(await terminalText(page, 0)).toMatch(/^before-42\s*$/m);
    await echo42(page, 0, "after");
    // The same node: the engine and its mesh node outlived the reload.
    expect((await nodesOf(lab, "alice@example.com")).map((n) => n.id)).toEqual([node!.id]);
    await shot(page, "07-after-reload");
  }, 120_000);

  it("a second tab opens its own session through the same node", async () => {
    const [node] = await nodesOf(lab, "alice@example.com");
    const second = await context.newPage();
    collectOurProblems(second, problems, lab.origin);
    try {
      await second.goto(`${lab.url}#/ssh/${TEST_USER}@web-01`);
      await second.getByTestId("deeplink-connect").click({ timeout: 30_000 });
      await expect.poll(() => sessionState(second, 0), { timeout: 30_000 }).toBe("connected");
      await echo42(second, 0, "second");
      expect(await terminalText(second, 0)).not.toMatch(/^before-42\s*$/m);
      await shot(second, "08-second-tab");
    } finally {
      await second.close();
    }
    expect((await nodesOf(lab, "alice@example.com")).map((n) => n.id)).toEqual([node!.id]);
    // The first tab keeps its one session, and it still answers.
    expect(await page.getByTestId("terminal-tab").count()).toBe(1);
    await echo42(page, 0, "first");
    expect(problems).toEqual([]);
  }, 120_000);
});
