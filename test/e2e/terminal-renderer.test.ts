// The terminal's renderer in headless Chromium (DESIGN §5: Debian's Chromium, no GPU): WebGL
// there is SwiftShader, so "auto" must pick the DOM renderer and never fetch the WebGL addon;
// the Settings override moves a live terminal to WebGL (the addon loaded after the first
// frame) and back; the page's Settings dialog says what auto picks and why. The pure choice is
// tested in Node (test/web/renderer-choice.test.ts).

import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { serveRendererPage } from "./renderer-lab.ts";
import { REPO_ROOT } from "./serve-pages.ts";
import { buildPage, collectProblems } from "./wg-lab.ts";

const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");

describeWithPrereq(chromiumPrereq(), "the terminal renderer in headless Chromium", () => {
  let tmp = "";
  let browser: Browser;
  let lab: Awaited<ReturnType<typeof serveRendererPage>>;
  let serve: ServeHandle;
  const problems: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "corridor-renderer-"));
    lab = await serveRendererPage(tmp);
    serve = await startServe({
      port: 0,
      webRoot: await buildPage(tmp),
      relay: { auth: { mode: "open" }, relayId: "renderer", log: () => {} },
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
    await serve?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  async function labPage(): Promise<{ page: Page; fetched: string[] }> {
    const page = await browser.newPage();
    collectProblems(page, problems);
    const fetched: string[] = [];
    page.on("request", (request) => fetched.push(new URL(request.url()).pathname));
    await page.goto(lab.url);
    await page.waitForFunction(() => window.rendererLab !== undefined);
    return { page, fetched };
  }

  const state = (page: Page) => page.evaluate(() => window.rendererLab!.state());

  it("auto picks DOM on SwiftShader and never fetches the WebGL addon", async () => {
    const { page, fetched } = await labPage();
    try {
      const probe = await page.evaluate(() => window.rendererLab!.probe());
      expect(probe.renderer).toMatch(/SwiftShader|llvmpipe|^$/);
      await page.evaluate(() => window.rendererLab!.open("auto"));
      // A frame or two later (when WebGL would have been loaded), still DOM.
      await page.evaluate(
        () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))),
      );
      await page.evaluate(() => window.rendererLab!.write(200_000, 16_384, 256));
      const now = await state(page);
      expect(now.renderer).toBe("dom");
      expect(now.dataset).toBe("dom");
      expect(now.reason).toMatch(/software \(.*SwiftShader|no WebGL2/);
      expect(fetched.filter((path) => /addon-webgl/.test(path))).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("the override moves a live terminal to WebGL and back to DOM", async () => {
    const { page, fetched } = await labPage();
    try {
      const probe = await page.evaluate(() => window.rendererLab!.probe());
      await page.evaluate(() => window.rendererLab!.open("webgl"));
      if (!probe.webgl2) {
        expect((await state(page)).renderer).toBe("dom");
        return;
      }
      // Loaded after the first frame: DOM until then.
      await expect.poll(async () => (await state(page)).renderer).toBe("webgl");
      expect(await state(page)).toMatchObject({
        dataset: "webgl",
        reason: "WebGL chosen in Settings",
      });
      expect(fetched.filter((path) => /addon-webgl/.test(path))).toHaveLength(1);
      await page.evaluate(() => window.rendererLab!.write(100_000, 16_384, 256));
      expect(await page.evaluate(() => window.rendererLab!.lastLine())).toMatch(/^[A-Za-z0-9+/]+$/);
      await page.evaluate(() => window.rendererLab!.apply("dom"));
      expect(await state(page)).toMatchObject({ renderer: "dom", dataset: "dom" });
      await page.evaluate(() => window.rendererLab!.apply("auto"));
      expect((await state(page)).renderer).toBe("dom");
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("Settings offers auto / WebGL / DOM and says what auto picks", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    collectProblems(page, problems);
    try {
      await page.goto(serve.url);
      await page.getByTestId("settings-button").first().click();
      const select = page.getByTestId("renderer-select");
      expect(await select.inputValue()).toBe("auto");
      const note = page.getByTestId("renderer-choice");
      expect(await note.getAttribute("data-renderer")).toBe("dom");
      expect(await note.textContent()).toMatch(/draw with DOM: WebGL here is software/);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "renderer-settings-1280.png") });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(ARTIFACTS, "renderer-settings-390.png") });
      await select.selectOption("webgl");
      expect(await note.getAttribute("data-renderer")).toBe("webgl");
      expect(
        await page.evaluate(() => JSON.parse(localStorage.getItem("corridor.settings")!).renderer),
      ).toBe("webgl");
      await select.selectOption("auto");
      // The app asks the control API for the signed-in person; this server has none (404s).
      expect(problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
