// The shipped page: `vite build` with the repo's own vite.config.ts (what `npm run build`
// makes), served statically under its Content-Security-Policy, opened in Debian's Chromium.
// The page must start the engine (the browser's SharedWorker, or with ?engine=worker a module
// Web Worker of its own) and report the SIMD crypto core.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { REPO_ROOT, type ServedPages, serveDirectory } from "./serve-pages.ts";
import { isControlProbe } from "./wg-lab.ts";

const TIMEOUT = 120_000;

describeWithPrereq(chromiumPrereq(), "the built page", () => {
  let tmp = "";
  let served: ServedPages | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "corridor-page-"));
    await build({
      configFile: join(REPO_ROOT, "vite.config.ts"),
      logLevel: "warn",
      cacheDir: join(tmp, "vite-cache"),
      build: { outDir: join(tmp, "dist"), emptyOutDir: true },
    });
    served = await serveDirectory(join(tmp, "dist"));
    browser = await launchChromium(TIMEOUT);
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, TIMEOUT);

  it("keeps a strict Content-Security-Policy without inline scripts", async () => {
    const html = await readFile(join(tmp, "dist", "index.html"), "utf8");
    expect(html).toMatch(/Content-Security-Policy/);
    expect(html).toMatch(/script-src 'self' 'wasm-unsafe-eval'/);
    expect(html).not.toMatch(/unsafe-inline/);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
  });

  // The engine is the browser's SharedWorker (one for every tab; docs/page.md "One engine per
  // browser"), or with ?engine=worker (and where there is no SharedWorker) the page's own Worker.
  for (const [query, text, ownWorkers] of [
    ["", "Engine ready, shared by this browser's tabs; crypto core: WebAssembly SIMD.", 0],
    ["?engine=worker", "Engine ready in this tab's Web Worker; crypto core: WebAssembly SIMD.", 1],
  ] as const) {
    it(
      `starts the engine (${query || "SharedWorker"}) and reports the SIMD crypto core`,
      async () => {
        const page = await browser!.newPage();
        const problems: string[] = [];
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        page.on("console", (message) => {
          if (message.type() === "error" && !isControlProbe(message)) {
            problems.push(`console: ${message.text()}`);
          }
        });
        try {
          await page.goto(`${served!.origin}${query}`, { waitUntil: "load" });
          const status = page.locator("#engine-status[data-state]");
          await status.waitFor({ timeout: 30_000 });
          expect(await status.getAttribute("data-state")).toBe("ready");
          expect(await status.textContent()).toBe(text);
          // A SharedWorker is not one of the page's own workers.
          expect(page.workers().length).toBe(ownWorkers);
          expect(problems).toEqual([]);
        } finally {
          await page.close();
        }
      },
      TIMEOUT,
    );
  }
});
