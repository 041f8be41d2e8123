// An app origin in Chromium (issue 16, item 1; docs/private-urls.md): the page built by Vite,
// served by `corridor serve`'s server; http://web-01--3000.corridor.localhost:PORT/deep/path
// resolves to loopback, is a secure context with service workers, and shows the bootstrap
// naming the service while it links (the link itself is test/e2e/app-bridge.test.ts: here the
// service worker is a stand-in and config.json never answers, so the page stays linking). The
// Corridor session cookie set on corridor.localhost is never sent to the app origin. Reloading
// more than 3 times within 10 s trips the loop guard. Screenshots at 1280x800 and 390x844 go to
// build/e2e-artifacts/app-origin-*.png.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sessionSetCookie } from "../../server/control/auth/sessions.ts";
import type { HttpMount } from "../../server/control/http.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { ARTIFACTS, REPO_ROOT } from "./serve-pages.ts";

const TIMEOUT = 180_000;
const COOKIE_VALUE = "A".repeat(43);
/** The headers of a stand-in service worker. */
const SW_HEADERS = { "Service-Worker-Allowed": "/", "Cache-Control": "no-store" };

describeWithPrereq(chromiumPrereq(), "an app origin's bootstrap (Chromium)", () => {
  let dir = "";
  let serve: ServeHandle | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  /** The Cookie header of every request that reached the server, by Host and path. */
  const seen: { host: string; path: string; cookie: string | undefined }[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "corridor-app-origin-e2e-"));
    const webRoot = join(dir, "dist");
    await build({
      configFile: join(REPO_ROOT, "vite.config.ts"),
      logLevel: "warn",
      cacheDir: join(dir, "vite-cache"),
      build: { outDir: webRoot, emptyOutDir: true },
    });
    // Stands for the control server's sign-in: /login/test sets the real session cookie.
    const mount: HttpMount = {
      request(req, res) {
        if ((req.url ?? "").split("?")[0] !== "/login/test") return false;
        res.writeHead(200, {
          "Set-Cookie": sessionSetCookie(COOKIE_VALUE, false, Date.now() + 600_000, Date.now()),
          "Content-Type": "text/plain",
        });
        res.end("signed in\n");
        return true;
      },
      upgrade: () => false,
    };
    serve = await startServe({
      port: 0,
      webRoot,
      mount,
      relay: { auth: { mode: "open" }, relayId: "app-origin-e2e", log: () => {} },
    });
    browser = await launchChromium(TIMEOUT);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.on("request", (request) => {
      const url = new URL(request.url());
      void request.allHeaders().then((headers) => {
        seen.push({ host: url.host, path: url.pathname, cookie: headers.cookie });
      });
    });
  }, TIMEOUT);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await serve?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, TIMEOUT);

  async function shoot(page: Page, name: string): Promise<void> {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, `app-origin-${name}-1280.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, `app-origin-${name}-390.png`) });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  it(
    "shows which service the origin is for while it links, and gets no Corridor cookie",
    async () => {
      const port = serve!.port;
      const page = await context!.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        // The Corridor origin's own 404s (its favicon, fetched late) are not this test's.
        const from = m.location().url;
        if (m.type() === "error" && !from.startsWith("http://corridor.localhost:")) {
          problems.push(`${m.text()} ${from}`);
        }
      });
      page.on("pageerror", (e) => problems.push(e.message));
      try {
        // Sign in on the Corridor origin: the session cookie is stored for corridor.localhost.
        await page.goto(`http://corridor.localhost:${port}/login/test`);
        const cookies = await context!.cookies(`http://corridor.localhost:${port}/`);
        expect(cookies.map((c) => [c.name, c.domain, c.httpOnly])).toEqual([
          ["corridor_session", "corridor.localhost", true],
        ]);

        const app = `http://web-01--3000.corridor.localhost:${port}`;
        // A stand-in service worker, and a config.json that never answers: the bootstrap then
        // stays at "Linking", the state shown while the bridge and the engine start.
        await page.route(`${app}/__corridor/sw.js`, (route) =>
          route.fulfill({
            contentType: "text/javascript",
            headers: SW_HEADERS,
            body: "self.addEventListener('install', () => self.skipWaiting());",
          }),
        );
        await page.route(`${app}/__corridor/config.json`, () => undefined);
        const response = await page.goto(`${app}/deep/path?x=1`);
        expect(response?.status()).toBe(200);
        expect(response?.headers()["cache-control"]).toBe("no-store");
        await expect
          .poll(() => page.locator("#status").textContent())
          .toBe("Linking to Corridor's engine…");
        expect(await page.title()).toBe("web-01:3000 · Corridor");
        expect(await page.locator("h1").textContent()).toBe("web-01:3000");
        const service = await page.locator("#service").textContent();
        expect(service).toBe(
          "This tab is for the private service http://web-01:3000 (web-01, port 3000, http). You asked for /deep/path?x=1.",
        );
        expect(
          await page.evaluate(() => window.isSecureContext && "serviceWorker" in navigator),
        ).toBe(true);
        expect(await page.evaluate(() => document.cookie)).toBe("");
        await shoot(page, "bootstrap");

        // The Corridor origin's cookie went only to corridor.localhost.
        const appRequests = seen.filter((r) => r.host.startsWith("web-01--3000."));
        expect(appRequests.map((r) => r.path)).toEqual(
          expect.arrayContaining([
            "/deep/path",
            "/__corridor/bootstrap.css",
            "/__corridor/bootstrap.js",
            "/__corridor/sw.js",
            "/__corridor/config.json",
          ]),
        );
        for (const r of appRequests) expect(r.cookie, r.path).toBeUndefined();
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );

  it(
    "stops after 3 reloads within 10 seconds, and shows a 400 page for a label that names no service",
    async () => {
      const port = serve!.port;
      const page = await context!.newPage();
      try {
        const app = `http://ip6--fd7a-115c-x-1--8443--https.corridor.localhost:${port}`;
        // As above: the bootstrap never links here, so only the test's reloads count.
        await page.route(`${app}/__corridor/sw.js`, (route) =>
          route.fulfill({ contentType: "text/javascript", body: "", headers: SW_HEADERS }),
        );
        await page.route(`${app}/__corridor/config.json`, () => undefined);
        await page.goto(`${app}/tree?x=1`);
        await expect.poll(() => page.locator("h1").textContent()).toBe("fd7a:115c::1:8443");
        for (let i = 0; i < 3; i++) await page.reload();
        await expect
          .poll(() => page.locator("#status").textContent())
          .toBe(
            "Stopped: this tab loaded this page 4 times within 10 seconds, so the service worker is not taking over and reloading again would only loop.",
          );
        await shoot(page, "loop-guard");

        const bad = await page.goto(`http://web--01--3000.corridor.localhost:${port}/x`);
        expect(bad?.status()).toBe(400);
        expect(await page.locator("h1").textContent()).toBe("Not a private URL");
        expect(await page.locator(".problem").textContent()).toContain('has too many "--" fields');
        await shoot(page, "invalid-label");
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );
});
