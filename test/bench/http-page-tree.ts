// bench:http's browser part (http-page.bench.ts), (c): Jupyter Notebook's tree page in a tab of
// its app origin through the whole private-URL chain, navigation to the load event, cold and
// warm, against `curl --parallel` of the same URLs over the kernel route.

import { join } from "node:path";
import type { Page } from "playwright-core";
import { openApp, type PrivateUrlsLab } from "../e2e/private-urls-lab.ts";
import { formatRatio, printTable } from "./harness.ts";

const POOL_IDLE_MS = 30_000; // HttpPool's default idleTimeoutMs: after it, connections are new
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** (c): Jupyter's tree page in a tab of its app origin, cold and warm, against curl --parallel. */
export async function treePage(
  lab: PrivateUrlsLab,
  j: { url: string; port: number; token: string },
  theirs: (...args: string[]) => Promise<{ out: Buffer; ms: number }>,
  tmp: string,
  rounds: number,
): Promise<void> {
  const origin = lab.appOrigin(j.port);
  const login = await openApp(lab, `${origin}/tree?token=${j.token}`);
  await login.page.close();
  const loadMs = (page: Page) =>
    page.evaluate(() => {
      const e = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      return e.loadEventEnd - e.startTime;
    });
  const cold: number[] = [];
  const warm: number[] = [];
  let urls: string[] = [];
  for (let round = 0; round < Math.max(2, rounds); round++) {
    await new Promise((r) => setTimeout(r, POOL_IDLE_MS + 1_000));
    const page = await lab.context.newPage();
    const cdp = await lab.context.newCDPSession(page);
    await cdp.send("Network.clearBrowserCache");
    await page.goto(`${origin}/tree`, { waitUntil: "load" });
    cold.push(await loadMs(page));
    await page.reload({ waitUntil: "load" });
    warm.push(await loadMs(page));
    urls = await page.evaluate(() => [
      location.href,
      ...performance
        .getEntriesByType("resource")
        .map((e) => e.name)
        .filter((u) => u.startsWith(location.origin)),
    ]);
    await page.close();
  }
  // The anchor logs in with the token (a cookie jar) and fetches the same URLs six at a time.
  const jar = join(tmp, "jupyter.cookies");
  await theirs("-o", "/dev/null", "-c", jar, `${j.url}/tree?token=${j.token}`);
  // Not the chain's own files (/__corridor/: inject.js), which the app server does not have.
  const paths = urls
    .map((u) => new URL(u))
    .filter((u) => !u.pathname.startsWith("/__corridor/"))
    .map((u) => `${j.url}${u.pathname}${u.search}`);
  const anchor: number[] = [];
  for (let round = 0; round < Math.max(3, rounds); round++) {
    anchor.push(
      (
        await theirs(
          "-b",
          jar,
          "--parallel",
          "--parallel-max",
          "6",
          ...paths.flatMap((p) => ["-o", "/dev/null", p]),
        )
      ).ms,
    );
  }
  const a = median(anchor);
  printTable(
    `(c) Jupyter tree page, navigation to load event (${paths.length} same-origin requests), ms`,
    ["load", "Chromium app tab", "curl --parallel, kernel (anchor)", "ratio"],
    [
      [
        "cold (new tab, cache cleared, new connections)",
        median(cold).toFixed(0),
        a.toFixed(0),
        formatRatio(a / median(cold)),
      ],
      [
        "warm (reload, kept-alive connections)",
        median(warm).toFixed(0),
        a.toFixed(0),
        formatRatio(a / median(warm)),
      ],
    ],
    ["left", "right", "right", "right"],
  );
}
