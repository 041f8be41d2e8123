// `npm run bench:web`, the mesh part (issue 15's benchmark: sign-in to the first shell prompt).
// On the mesh lab (test/e2e/mesh-lab.ts: `corridor serve` with a real OpenID Provider and a
// `corridor agent` host web-01), headless Chromium opens the deep link #/ssh/USER@web-01:
//   cold: a new browser context (no cookie, no HTTP cache, no provider session): the sign-in
//         view, the SSO round trip (the provider's login and consent forms filled at once), the
//         link's confirmation, identity SSH, until the shell has answered a marker command;
//   warm: the same page signed in, navigated away and back to the link (a reload: new engine,
//         cookie and HTTP cache kept), confirmation to the marker.
// Bytes fetched up to the marker are what the browser received (CDP Network.loadingFinished
// encodedDataLength: headers and bodies, WebSocket frames not counted), from the page's origin
// and in all (the provider's pages too). The anchor is the page load alone: a new context opening
// the page until its sign-in view shows. Rounds alternate; medians are reported.

import { join } from "node:path";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { chromium } from "playwright-core";
import { type MeshLab, startMeshLab, TEST_USER } from "../e2e/mesh-lab.ts";
import { ARTIFACTS } from "../e2e/mesh-page-helpers.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../helpers/chromium.ts";
import { printTable } from "./harness.ts";

/** Options of benchWebMesh. */
export interface WebMeshBenchOptions {
  /** The built page (web.bench.ts's build). */
  webRoot: string;
  rounds: number;
}

/** One measured run: time and bytes received. */
interface Run {
  ms: number;
  ownBytes: number;
  allBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Counts the bytes `page` receives, by origin, through the DevTools protocol. */
async function countBytes(
  context: BrowserContext,
  page: Page,
  origin: string,
): Promise<{ cdp: CDPSession; read(): { own: number; all: number } }> {
  const cdp = await context.newCDPSession(page);
  const urls = new Map<string, string>();
  let own = 0;
  let all = 0;
  cdp.on("Network.responseReceived", (e) => urls.set(e.requestId, e.response.url));
  cdp.on("Network.loadingFinished", (e) => {
    all += e.encodedDataLength;
    if ((urls.get(e.requestId) ?? "").startsWith(origin)) own += e.encodedDataLength;
  });
  await cdp.send("Network.enable");
  return { cdp, read: () => ({ own, all }) };
}

/** From the confirmation of a #/ssh/ link to the shell's answer to a marker command. */
async function connectAndAnswer(page: Page, marker: number): Promise<void> {
  await page.getByTestId("deeplink-connect").click({ timeout: 60_000 });
  await page.waitForFunction(() => window.corridorDebug?.sessionState(0) === "connected", null, {
    timeout: 60_000,
    polling: 10,
  });
  await page.getByTestId("terminal").first().click();
  await page.keyboard.type(`echo mesh-bench-$((${marker}*1000))\n`);
  await page.waitForFunction(
    (want) =>
      new RegExp(`^mesh-bench-${want}\\s*$`, "m").test(window.corridorDebug?.terminalText(0) ?? ""),
    marker * 1000,
    { timeout: 60_000, polling: 10 },
  );
}

/** Cold: a new context, the link, SSO, the session; then warm: a reload of the signed-in page. */
async function coldAndWarm(browser: Browser, lab: MeshLab, round: number): Promise<[Run, Run]> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const link = `${lab.url}#/ssh/${TEST_USER}@web-01`;
    let bytes = await countBytes(context, page, lab.origin);
    let start = performance.now();
    await page.goto(link);
    await lab.signIn(page, "alice");
    await connectAndAnswer(page, 2 * round + 1);
    const cold = { ms: performance.now() - start, ...bytes.read() };
    await bytes.cdp.detach();

    // The session ends first: the engine may outlive the reload (a SharedWorker) and would
    // give the page its live session back instead of a new one.
    await page.keyboard.type("exit\n");
    await page.waitForFunction(() => window.corridorDebug?.sessionState(0) !== "connected", null, {
      timeout: 60_000,
      polling: 10,
    });
    await page.goto("about:blank");
    bytes = await countBytes(context, page, lab.origin);
    start = performance.now();
    await page.goto(link);
    await connectAndAnswer(page, 2 * round + 2);
    const warm = { ms: performance.now() - start, ...bytes.read() };
    await bytes.cdp.detach();
    return [
      { ms: cold.ms, ownBytes: cold.own, allBytes: cold.all },
      { ms: warm.ms, ownBytes: warm.own, allBytes: warm.all },
    ];
  } catch (error) {
    // What the page showed when a step did not come: the table alone would not say.
    const shown = context.pages()[0];
    await shown?.screenshot({ path: join(ARTIFACTS, "bench-mesh-failed.png") }).catch(() => {});
    throw error;
  } finally {
    // The context's engine and its map stream end with it.
    await context.close();
  }
}

/** The anchor: a new context loading the page until its sign-in view shows. */
async function pageLoad(browser: Browser, lab: MeshLab): Promise<Run> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const bytes = await countBytes(context, page, lab.origin);
    const start = performance.now();
    await page.goto(lab.url);
    await page.getByTestId("sign-in-view").waitFor({ timeout: 60_000 });
    const { own, all } = bytes.read();
    return { ms: performance.now() - start, ownBytes: own, allBytes: all };
  } finally {
    await context.close();
  }
}

/**
 * Runs the mesh lab, measures, prints the table, and returns the verdict rows for web.bench.ts's
 * Targets table (bytes to a shell prompt against the 250 KB budget).
 */
export async function benchWebMesh(options: WebMeshBenchOptions): Promise<string[][]> {
  const lab = await startMeshLab({
    webRoot: options.webRoot,
    agents: [{ name: "web-01", tags: ["tag:server"] }],
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const cold: Run[] = [];
  const warm: Run[] = [];
  const load: Run[] = [];
  try {
    await pageLoad(browser, lab); // not counted: warms the server side and the OS caches
    for (let round = 0; round < options.rounds; round++) {
      load.push(await pageLoad(browser, lab));
      const [c, w] = await coldAndWarm(browser, lab, round);
      cold.push(c);
      warm.push(w);
    }
  } finally {
    await browser.close();
    await lab.close();
  }
  const row = (name: string, runs: Run[]) => {
    const ms = median(runs.map((r) => r.ms));
    return [
      name,
      ms.toFixed(0),
      (ms / median(load.map((r) => r.ms))).toFixed(2),
      median(runs.map((r) => r.ownBytes)).toString(),
      median(runs.map((r) => r.allBytes)).toString(),
    ];
  };
  printTable(
    `The mesh: sign-in to the first shell answer in headless Chromium (median of ${options.rounds})`,
    ["flow", "ms", "x page load", "bytes from the page's origin", "bytes in all"],
    [
      row("page load alone, to the sign-in view (anchor)", load),
      row("cold: new context, SSO, link, identity SSH", cold),
      row("warm: signed-in page reloaded, link, identity SSH", warm),
    ],
    ["left", "right", "right", "right", "right"],
  );
  const coldBytes = median(cold.map((r) => r.ownBytes));
  return [
    [
      "mesh: bytes to a shell prompt, cold (page origin, transfer size)",
      `${(coldBytes / 1024).toFixed(1)} KB`,
      "<= 250 KB",
      coldBytes <= 250 * 1024 ? "PASS" : "MISS",
    ],
  ];
}
