// Private URLs through the whole chain in Chromium, part two (the lab: private-urls-lab.ts):
// the service worker's error pages for a refused port and an unknown host; isolation (the app
// page cannot read another private service's origin, cannot frame the Corridor page, sees none
// of Corridor's IndexedDB); the worker stopped mid-session (the next fetch gets a new port from
// the open tab); a bookmark opened in a new window; Shift+Reload (the bootstrap links again); a
// cookie bomb written for the whole site by a hostile app (server/web/header-overflow.ts).
// Screenshots of the error pages: build/e2e-artifacts/private-urls-*.png.

import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import {
  APP_PORT,
  openApp,
  type PrivateUrlsLab,
  privateUrlsPrereq,
  REFUSED_PORT,
  recordDocuments,
  shoot,
  startPrivateUrlsLab,
  waitFor,
  waitForWorkerDocument,
} from "./private-urls-lab.ts";

const TIMEOUT = 180_000;

/** Removes and returns the lab's problems that contain `text` (expected ones, checked). */
function take(lab: PrivateUrlsLab, text: string): string[] {
  const taken = lab.problems.filter((m) => m.includes(text));
  lab.problems.splice(0, lab.problems.length, ...lab.problems.filter((m) => !m.includes(text)));
  return taken;
}

describeWithPrereq(
  privateUrlsPrereq(),
  "private URLs: errors, isolation, the worker's life",
  () => {
    let lab: PrivateUrlsLab;

    beforeAll(async () => {
      // With the control server, as `corridor serve` runs (nobody signs in to the mesh here).
      lab = await startPrivateUrlsLab("pub", { control: true });
    }, 300_000);

    afterAll(async () => {
      await lab?.close();
    }, 60_000);

    // Each test answers for its own pages' errors only.
    beforeEach(() => {
      if (lab !== undefined) lab.problems.length = 0;
    });

    it(
      "a refused port: an error page that says what happened and what to do",
      async () => {
        const refusedOrigin = lab.appOrigin(REFUSED_PORT);
        const refused = (await openApp(lab, `${refusedOrigin}/x`)).page;
        expect(await refused.title()).toMatch(/^Connection refused · 100\.64\.0\.\d+:8099$/);
        const text = (await refused.locator("main").textContent()) ?? "";
        expect(text).toContain("nothing listens on port 8099");
        expect(text).toContain("Start the service on that host");
        expect(await refused.locator("#retry").getAttribute("href")).toBe(`${refusedOrigin}/x`);
        await shoot(refused, "refused");
        expect(take(lab, "status of 502")).not.toEqual([]);
        // The page's favicon: a subresource of a refused service fails as a network error.
        take(lab, "favicon.ico");
        expect(lab.problems).toEqual([]);
        await refused.close();
      },
      TIMEOUT,
    );

    it(
      "an unknown host (an address no network routes; not signed in to the mesh): the 'Host not found' page",
      async () => {
        const unknownOrigin = `http://10-9-9-9--80.corridor.localhost:${lab.serve.port}`;
        const unknown = (await openApp(lab, `${unknownOrigin}/`)).page;
        const said = (await unknown.locator("main").textContent()) ?? "";
        await shoot(unknown, "unknown-host");
        expect(await unknown.title(), said.replace(/\s+/g, " ").trim()).toBe(
          "Host not found · 10.9.9.9:80",
        );
        expect(said).toContain("no WireGuard network of yours routes its address");
        expect(said).toContain("Check the host's name in the Corridor page");
        take(lab, "status of 502");
        take(lab, "favicon.ico");
        expect(lab.problems).toEqual([]);
        await unknown.close();
      },
      TIMEOUT,
    );

    it(
      "isolation: another service's origin is not readable, the Corridor page cannot be framed, no Corridor IndexedDB",
      async () => {
        const other = lab.appOrigin(APP_PORT + 1);
        // The other service linked in its own tab: two app origins side by side.
        const opened = await openApp(lab, `${other}/`);
        const otherTab = opened.page;
        expect(await otherTab.title(), JSON.stringify(opened.documents)).toBe("Other app");
        const { page } = await openApp(lab, `${lab.appOrigin()}/`);
        expect(await page.title()).toBe("Lab app");

        const reads = await page.evaluate(async (other) => {
          const cors = await fetch(`${other}/echo`).then(
            (r) => `read ${r.status}`,
            (e: Error) => `refused: ${e.name}`,
          );
          const opaque = await fetch(`${other}/echo`, { mode: "no-cors" }).then(
            (r) => `${r.type} ${r.status}`,
            (e: Error) => `refused: ${e.name}`,
          );
          return { cors, opaque };
        }, other);
        // Not readable: CORS refuses the read; a no-cors fetch is opaque, or refused outright by
        // the app origin's Cross-Origin-Resource-Policy.
        expect(reads.cors).toBe("refused: TypeError");
        expect(reads.opaque).toMatch(/^(opaque 0|refused: TypeError)$/);
        take(lab, "has been blocked by CORS policy");
        take(lab, "net::ERR_FAILED");
        take(lab, "net::ERR_BLOCKED_BY_RESPONSE");

        // The Corridor page in a frame: refused by its frame-ancestors.
        await page.evaluate((src) => {
          const frame = document.createElement("iframe");
          frame.src = src;
          document.body.append(frame);
        }, `${lab.corridorOrigin}/`);
        await waitFor(
          () => lab.problems.some((m) => m.includes("frame-ancestors")),
          "Chromium's frame-ancestors refusal",
        );
        expect(take(lab, "frame-ancestors").join("\n")).toContain(
          `Framing '${lab.corridorOrigin}/' violates the following Content Security Policy directive: "frame-ancestors 'none'"`,
        );
        const framed = page.frames().find((f) => f !== page.mainFrame());
        expect(framed?.url()).not.toBe(`${lab.corridorOrigin}/`);
        expect(await framed?.evaluate(() => document.title).catch(() => "no access")).not.toMatch(
          /Corridor/,
        );

        const corridorDbs = await lab.corridor.evaluate(async () =>
          (await indexedDB.databases()).map((d) => d.name ?? ""),
        );
        const appDbs = await page.evaluate(async () =>
          (await indexedDB.databases()).map((d) => d.name ?? ""),
        );
        expect(corridorDbs.length).toBeGreaterThan(0);
        expect(appDbs.filter((name) => corridorDbs.includes(name))).toEqual([]);
        expect(lab.problems).toEqual([]);
        await otherTab.close();
        await page.close();
      },
      TIMEOUT,
    );

    it(
      "the service worker stopped mid-session: the next fetch still works (a new port from the open tab)",
      async () => {
        const app = lab.appOrigin();
        const { page } = await openApp(lab, `${app}/`);
        const cdp = await lab.context.newCDPSession(page);
        const stopped: string[] = [];
        cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
          for (const v of versions) {
            if (v.runningStatus === "stopped" && v.scriptURL.startsWith(app))
              stopped.push(v.versionId);
          }
        });
        await cdp.send("ServiceWorker.enable");
        await cdp.send("ServiceWorker.stopAllWorkers");
        await waitFor(() => stopped.length > 0, "the app's worker stopped", 30_000);
        const echo = await page.evaluate(async () => (await fetch("/echo?after=stop")).json());
        expect(echo.path).toBe("/echo?after=stop");
        expect(echo.host).toMatch(/^100\.64\.0\.\d+:8080$/);
        // A navigation as well.
        await page.goto(`${app}/deep/after-stop`);
        expect(await page.locator("#path").textContent()).toBe("/deep/after-stop");
        await cdp.detach();
        expect(lab.problems).toEqual([]);
        await page.close();
      },
      TIMEOUT,
    );

    it(
      "a bookmark opened in a new window lands on its deep path, carried by the worker",
      async () => {
        const app = lab.appOrigin();
        const first = (await openApp(lab, `${app}/`)).page;
        const page = await lab.context.newPage();
        const documents = recordDocuments(page, app);
        await page.goto(`${app}/deep/a/b?c=1#frag`);
        await waitFor(() => documents.some((d) => d.fromSw), "the bookmark from the worker");
        await waitForWorkerDocument(page);
        expect(await page.title()).toBe("deep Lab app");
        expect(await page.locator("#path").textContent()).toBe("/deep/a/b?c=1");
        expect(page.url()).toBe(`${app}/deep/a/b?c=1#frag`);
        expect(lab.problems).toEqual([]);
        await first.close();
        await page.close();
      },
      TIMEOUT,
    );

    it(
      "Shift+Reload brings the bootstrap back, which links again and shows the app",
      async () => {
        const app = lab.appOrigin();
        const { page, documents } = await openApp(lab, `${app}/deep/reload`);
        const cdp = await lab.context.newCDPSession(page);
        const before = documents.length;
        await cdp.send("Page.reload", { ignoreCache: true });
        await waitFor(() => documents.length >= before + 2, "bootstrap and the app again", 90_000);
        expect(documents[before]).toEqual({ url: `${app}/deep/reload`, fromSw: false });
        expect(documents[before + 1]).toEqual({ url: `${app}/deep/reload`, fromSw: true });
        await waitForWorkerDocument(page);
        await expect.poll(() => page.title(), { timeout: 30_000 }).toBe("deep Lab app");
        const echo = await page.evaluate(async () => (await fetch("/echo")).json());
        expect(echo.path).toBe("/echo");
        await cdp.detach();
        expect(lab.problems).toEqual([]);
      },
      TIMEOUT,
    );

    it(
      "a cookie bomb from a hostile app: the Corridor page says so once, the browser clears the site's cookies, the page loads again",
      async () => {
        const { page } = await openApp(lab, `${lab.appOrigin()}/`);
        // The browser's own cookie setter (not the injected script's document.cookie), cookies
        // for the whole site: every request to the Corridor origin would carry 40 KB of them.
        const written = await page.evaluate((domain) => {
          const native = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
          for (let i = 0; i < 40; i++) {
            native?.set?.call(document, `bomb${i}=${"x".repeat(1000)}; Domain=${domain}; Path=/`);
          }
          return String(native?.get?.call(document) ?? "").split("; ").length;
        }, new URL(lab.corridorOrigin).hostname);
        expect(written).toBeGreaterThanOrEqual(40);
        const corridor = await lab.context.newPage();
        const first = await corridor.goto(`${lab.corridorOrigin}/`);
        expect(first?.status()).toBe(431);
        expect(await corridor.locator("h1").textContent()).toBe(
          "This browser sent too many cookies",
        );
        await shoot(corridor, "cookie-bomb");
        const left = await lab.context.cookies(lab.corridorOrigin);
        expect(left.filter((c) => c.name.startsWith("bomb"))).toEqual([]);
        const again = await corridor.reload();
        expect(again?.status()).toBe(200);
        take(lab, "status of 431");
        take(lab, "favicon.ico");
        expect(lab.problems).toEqual([]);
        await corridor.close();
        await page.close();
      },
      TIMEOUT,
    );
  },
);
