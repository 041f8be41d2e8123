// The bridge and the bootstrap in Chromium (docs/private-urls.md, "Bridge and bootstrap"): the
// page built by Vite, served by `corridor serve`'s server at corridor.localhost. The bridge
// (/__corridor/bridge) cannot be framed by another loopback name or another port (its
// frame-ancestors), and refuses a framing origin that is not one service label under an apps
// domain; a real app origin gets its port. The bootstrap registers the service worker, links
// it to the engine and reloads, so the tab is carried by the worker; Shift+Reload brings the
// bootstrap back, which links again. Its failure states are shown with what to do. Screenshots
// at 1280x800 and 390x844 go to build/e2e-artifacts/app-bridge-*.png.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bridgeHeaders } from "../../server/web/bridge-http.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { ARTIFACTS, REPO_ROOT } from "./serve-pages.ts";

const TIMEOUT = 180_000;

/** What a framing page saw from the bridge (window messages, and the answer to its request). */
interface Seen {
  messages: { origin: string; type: string; error?: string }[];
  /** The page's console (Chromium says there why it blocked a frame). */
  console?: string[];
}

/**
 * A page that frames the bridge at `bridge`, and once it says ready asks it for a port (id 7),
 * recording every message in window.seen. Served by page.route, so its origin can be anything.
 */
function framingPage(bridge: string): string {
  return `<!doctype html><title>framer</title><script>
window.seen = { messages: [] };
addEventListener("message", (e) => {
  const d = e.data || {};
  window.seen.messages.push({ origin: e.origin, type: String(d.type), error: d.error });
  if (d.type === "corridor-bridge-ready") {
    const channel = new MessageChannel();
    window.port = channel.port1;
    e.source.postMessage({ type: "corridor-bridge-request", id: 7 }, e.origin, [channel.port2]);
  }
});
addEventListener("DOMContentLoaded", () => {
  const f = document.createElement("iframe");
  f.src = ${JSON.stringify(bridge)};
  document.body.append(f);
});
</script><body></body>`;
}

describeWithPrereq(chromiumPrereq(), "the app bridge and the bootstrap (Chromium)", () => {
  let dir = "";
  let serve: ServeHandle | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  /** A loopback server on another port that answers every Host with a framing page. */
  let framer: Server | undefined;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), "corridor-app-bridge-e2e-"));
    const webRoot = join(dir, "dist");
    await build({
      configFile: join(REPO_ROOT, "vite.config.ts"),
      logLevel: "warn",
      cacheDir: join(dir, "vite-cache"),
      build: { outDir: webRoot, emptyOutDir: true },
    });
    serve = await startServe({
      port: 0,
      webRoot,
      relay: { auth: { mode: "open" }, relayId: "app-bridge-e2e", log: () => {} },
    });
    const bridge = `http://corridor.localhost:${serve.port}/__corridor/bridge`;
    framer = createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(framingPage(bridge));
    });
    await new Promise<void>((resolve) => framer!.listen(0, "127.0.0.1", resolve));
    browser = await launchChromium(TIMEOUT);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["local-network-access"]);
  }, TIMEOUT);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await serve?.close();
    framer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, TIMEOUT);

  async function shoot(page: Page, name: string): Promise<void> {
    // The Corridor page opened in another tab is in front; Chromium may refuse to capture a
    // tab in the background ("Unable to capture screenshot"), so bring this one forward.
    await page.bringToFront();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: join(ARTIFACTS, `app-bridge-${name}-1280.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, `app-bridge-${name}-390.png`) });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  /**
   * Opens a framing page at `origin` and returns what it saw once answered, once `done` holds
   * for the page's console lines (e.g. Chromium's report that it refused to frame the bridge:
   * then no bridge runs that could still answer), or after `waitMs` (a hang guard).
   */
  async function frameFrom(
    origin: string,
    waitMs: number,
    done: (console: string[]) => boolean = () => false,
  ): Promise<Seen> {
    const bridge = `http://corridor.localhost:${serve!.port}/__corridor/bridge`;
    const page = await context!.newPage();
    const console: string[] = [];
    page.on("console", (m) => console.push(m.text()));
    try {
      // The framing server answers any Host on its own port; on the Corridor port the page is
      // given by the test (Chromium then takes it as public, hence the local network grant).
      if (new URL(origin).port === String(serve!.port)) {
        await page.route(`${origin}/frame`, (route) =>
          route.fulfill({ contentType: "text/html", body: framingPage(bridge) }),
        );
      }
      await page.goto(`${origin}/frame`);
      const deadline = Date.now() + waitMs;
      let seen: Seen = { messages: [] };
      while (Date.now() < deadline) {
        seen = await page.evaluate(() => (window as unknown as { seen: Seen }).seen);
        if (
          seen.messages.some(
            (m) => m.type.startsWith("corridor-bridge-") && m.type !== "corridor-bridge-ready",
          ) ||
          done(console)
        ) {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { ...seen, console };
    } finally {
      await page.close();
    }
  }

  it(
    "cannot be framed by another name or port, refuses an origin that names no service, and takes an app origin's port",
    async () => {
      const port = serve!.port;
      const corridor = `http://corridor.localhost:${port}`;
      // frame-ancestors: the browser does not even load it for these (other names, and an
      // app origin's name on another port).
      const other = (framer!.address() as AddressInfo).port;
      for (const origin of [
        `http://evil.localhost:${other}`,
        `http://web-01--3000.localhost:${other}`,
        `http://web-01--3000.corridor.localhost:${other}`,
        `http://127.0.0.1:${other}`,
      ]) {
        // Chromium's CSP report is the event that the frame was refused; before it, a fixed
        // 3 s wait per origin.
        const violation = `violates the following Content Security Policy directive: "frame-ancestors *.corridor.localhost:${port}"`;
        const seen = await frameFrom(origin, 30_000, (lines) =>
          lines.some((l) => l.includes(violation)),
        );
        expect(seen.messages, origin).toEqual([]);
        expect(seen.console?.join("\n"), origin).toContain(violation);
      }
      // Framed (the wildcard covers it) but refused by the bridge: two labels.
      const twoLabels = `http://a.web-01--3000.corridor.localhost:${port}`;
      const refused = await frameFrom(twoLabels, 15_000);
      expect(refused.messages).toEqual([
        { origin: corridor, type: "corridor-bridge-ready" },
        {
          origin: corridor,
          type: "corridor-bridge-error",
          error: `Corridor refused: ${twoLabels} is not an app origin of ${corridor}`,
        },
      ]);
      // An app origin: the engine takes the port.
      const app = `http://10-8-0-1--8080.corridor.localhost:${port}`;
      const taken = await frameFrom(app, 60_000);
      expect(taken.messages).toEqual([
        { origin: corridor, type: "corridor-bridge-ready" },
        { origin: corridor, type: "corridor-bridge-ready-port" },
      ]);
    },
    TIMEOUT,
  );

  /** The browser's SharedWorkers (their URLs), from the DevTools protocol. */
  async function sharedWorkers(): Promise<string[]> {
    const cdp = await browser!.newBrowserCDPSession();
    try {
      const { targetInfos } = await cdp.send("Target.getTargets");
      return targetInfos.filter((t) => t.type === "shared_worker").map((t) => t.url);
    } finally {
      await cdp.detach();
    }
  }

  it(
    "links: bootstrap, service worker, port, reload; Shift+Reload shows the bootstrap, which links again",
    async () => {
      const port = serve!.port;
      const app = `http://10-8-0-1--8080.corridor.localhost:${port}`;
      const page = await context!.newPage();
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(e.message));
      /** Main-frame documents of the app origin: whether the service worker gave each. */
      const documents: { url: string; fromSw: boolean }[] = [];
      page.on("response", (response) => {
        if (response.request().isNavigationRequest() && response.url().startsWith(app)) {
          documents.push({ url: response.url(), fromSw: response.fromServiceWorker() });
        }
      });
      // The Corridor page in another tab: its engine is the one the bridge must join.
      const corridorPage = await context!.newPage();
      try {
        await corridorPage.goto(`http://corridor.localhost:${port}/`);
        await expect.poll(() => sharedWorkers(), { timeout: 30_000 }).toHaveLength(1);
        await page.goto(`${app}/some/path?x=1`);
        await page.waitForFunction(() => navigator.serviceWorker?.controller !== null, undefined, {
          timeout: 60_000,
        });
        await expect.poll(() => documents.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
        expect(documents[0]).toEqual({ url: `${app}/some/path?x=1`, fromSw: false });
        expect(documents[1]).toEqual({ url: `${app}/some/path?x=1`, fromSw: true });
        expect(page.url()).toBe(`${app}/some/path?x=1`);
        await shoot(page, "linked");

        // Shift+Reload: the browser skips the service worker, the server gives the bootstrap.
        const cdp = await context!.newCDPSession(page);
        const before = documents.length;
        await cdp.send("Page.reload", { ignoreCache: true });
        await expect
          .poll(() => documents.length, { timeout: 60_000 })
          .toBeGreaterThanOrEqual(before + 2);
        expect(documents[before]).toEqual({ url: `${app}/some/path?x=1`, fromSw: false });
        expect(documents[before + 1]).toEqual({ url: `${app}/some/path?x=1`, fromSw: true });
        await page.waitForFunction(() => navigator.serviceWorker?.controller !== null);
        // One engine: the bridge iframe (same-site) joined the page's SharedWorker.
        expect(await sharedWorkers()).toHaveLength(1);
        expect(problems).toEqual([]);
      } finally {
        await page.close();
        await corridorPage.close();
      }
    },
    TIMEOUT,
  );

  it(
    "says what to do when the Corridor page does not answer, or the bridge refuses",
    async () => {
      const port = serve!.port;
      const page = await context!.newPage();
      try {
        // config.json gone: this server is no Corridor (or an old one).
        const app = `http://web-01--3000.corridor.localhost:${port}`;
        await page.route(`${app}/__corridor/config.json`, (route) =>
          route.fulfill({ status: 404, body: "no" }),
        );
        await page.goto(`${app}/`);
        await expect
          .poll(() => page.locator("#status").textContent(), { timeout: 30_000 })
          .toBe(
            "Corridor's server answered /__corridor/config.json with 404: is this a Corridor private URL?",
          );
        expect(await page.locator("#detail").textContent()).toContain("corridor serve is running");
        await shoot(page, "no-corridor");

        // The bridge as served, but with no apps domains: it refuses this origin.
        const other = `http://web-02--8080.corridor.localhost:${port}`;
        const bridge = `http://corridor.localhost:${port}/__corridor/bridge`;
        // As built, the meta is empty: the bridge then knows no apps domain.
        const html = readFileSync(join(dir, "dist", "app-bridge", "bridge.html"), "utf8");
        expect(html).toContain('<meta name="corridor-apps-domains" content="">');
        await page.route(bridge, (route) =>
          route.fulfill({
            body: html,
            headers: {
              ...bridgeHeaders(["corridor.localhost"], `corridor.localhost:${port}`),
              "Content-Type": "text/html; charset=utf-8",
            },
          }),
        );
        await page.goto(`${other}/`);
        await expect
          .poll(() => page.locator("#status").textContent(), { timeout: 60_000 })
          .toBe(
            `Corridor refused: ${other} is not an app origin of http://corridor.localhost:${port}`,
          );
        expect(await page.locator("#actions a").getAttribute("href")).toBe(
          `http://corridor.localhost:${port}/`,
        );
        await shoot(page, "refused");
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );
});
