// Issue 19's browser tests, in Debian's Chromium against the direct-path lab (direct-lab.ts): the
// agent web-01 in a network namespace reachable over UDP, the page signed in through the real
// OpenID Provider.
// - The page opens a WebRTC data channel to the agent (werift on its side) and an identity SSH
//   session runs over it: the page's host details say "direct (WebRTC)", and `corridor status`
//   on the agent shows the browser's node on a direct webrtc path.
// - A bulk transfer (8 MB of terminal output) leaves the relay's forwarded bytes flat.
// - nft cuts the UDP between them mid-session: the session goes on through the relay (the time
//   the shell took to answer across the cut is printed; bench:direct holds the <= 3 s goal);
//   once the UDP is let through again, the path returns to direct.
// - The Settings switch "Direct connections" off moves the path to the relay; on, back to direct.
// Screenshots (1280x800 and 390x844) of the host's details and the settings go to
// build/e2e-artifacts/.

import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { MeshHost } from "../../worker/api.ts";
import { corridorBin } from "../agent/agent-harness.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { run } from "../interop/wg-tools.ts";
import { type DirectLab, directLabPrereq, startDirectLab } from "./direct-lab.ts";
import { TEST_USER } from "./mesh-lab.ts";
import {
  collectOurProblems,
  echo42,
  sessionState,
  shot,
  terminalText,
} from "./mesh-page-helpers.ts";

/** The page's view of web-01 (path and round trip), through its debug hook. */
async function web01(page: Page): Promise<MeshHost | undefined> {
  const hosts = await page.evaluate(() => window.corridorDebug?.meshHosts() ?? []);
  return hosts.find((h) => h.name === "web-01");
}

/** Waits until the page sends to web-01 on `path`, typing an echo now and then (traffic). */
async function waitForPath(page: Page, path: "direct" | "relay", timeoutMs: number) {
  await expect
    .poll(async () => (await web01(page))?.path, { timeout: timeoutMs, interval: 250 })
    .toBe(path);
}

describeWithPrereq(directLabPrereq(), "direct paths from the browser (WebRTC)", () => {
  let lab: DirectLab;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  /** `corridor status --json` of the agent, read through its local socket. */
  const agentStatus = async (): Promise<{ peers: Record<string, unknown>[] }> => {
    const socket = lab.mesh.agentSocket("web-01");
    const result = await run(
      ["env", `CORRIDOR_SOCKET=${socket}`, process.execPath, corridorBin, "status", "--json"],
      { timeoutMs: 30_000 },
    );
    if (result.code !== 0) throw new Error(`corridor status: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };

  beforeAll(async () => {
    lab = await startDirectLab();
    browser = await lab.launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    collectOurProblems(page, problems, lab.mesh.origin);
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("opens a data channel to the agent and runs an SSH session over it", async () => {
    await page.goto(`${lab.mesh.url}#/ssh/${TEST_USER}@web-01`);
    await page.getByTestId("sign-in-view").waitFor();
    await lab.mesh.signIn(page, "alice");
    await page.getByTestId("deeplink-connect").click({ timeout: 30_000 });
    await expect.poll(() => sessionState(page, 0), { timeout: 30_000 }).toBe("connected");
    await echo42(page, 0, "first");
    await waitForPath(page, "direct", 30_000);
    await echo42(page, 0, "direct");
    // The agent sees the browser's node on the data channel too.
    const self = await page.evaluate(async () => {
      const hosts = await window.corridorDebug?.meshHosts();
      return hosts?.length ?? 0;
    });
    expect(self).toBeGreaterThan(0);
    const status = await agentStatus();
    const browserPeer = status.peers.find((p) => p.path === "direct");
    expect(browserPeer, JSON.stringify(status.peers)).toBeDefined();
    expect(String(browserPeer!.endpoint)).toMatch(/^webrtc/);
    // What a person sees: the host's details.
    await page.goto(`${lab.mesh.url}#/mesh/host/web-01`);
    await expect
      .poll(() => page.getByTestId("mesh-host-path").first().textContent(), { timeout: 15_000 })
      .toMatch(/^direct \(WebRTC\)/);
    await shot(page, "direct-01-host");
    expect(problems).toEqual([]);
  }, 180_000);

  it("leaves the relay's forwarded bytes flat during a bulk transfer", async () => {
    const before = await lab.relayBytesOut();
    await page.getByTestId("terminal-tab").first().click();
    await page.getByTestId("terminal").first().click();
    // 8 MB of output (80,000 lines of 100 characters), then a marker.
    const started = performance.now();
    // fold leaves the last line without its newline: the echo gives the marker its own line.
    await page.keyboard.type(
      "head -c 8000000 /dev/zero | tr '\\0' x | fold -w 100; echo; echo bulk-$((6*7))\n",
    );
    await expect
      .poll(() => terminalText(page, 0), { timeout: 120_000, interval: 250 })
      .toMatch(/^bulk-42\s*$/m);
    const seconds = (performance.now() - started) / 1000;
    const relayed = (await lab.relayBytesOut()) - before;
    console.log(
      `8 MB of output over the direct path in ${seconds.toFixed(1)} s; relay bytes meanwhile: ${relayed}`,
    );
    // Path probes through the relay (a few hundred bytes a second) are all it may carry.
    expect(relayed).toBeLessThan(256 * 1024);
    expect((await web01(page))?.path).toBe("direct");
  }, 180_000);

  it("moves a running session to the relay when UDP is cut, and back when it returns", async () => {
    await page.getByTestId("terminal").first().click();
    await lab.blockUdp();
    const cut = performance.now();
    await page.keyboard.type("echo cut-$((6*7))\n");
    await expect
      .poll(() => terminalText(page, 0), { timeout: 60_000, interval: 50 })
      .toMatch(/^cut-42\s*$/m);
    const switchMs = performance.now() - cut;
    console.log(`UDP cut: the shell answered through the relay after ${switchMs.toFixed(0)} ms`);
    await waitForPath(page, "relay", 15_000);
    await echo42(page, 0, "relayed");
    await lab.unblockUdp();
    await waitForPath(page, "direct", 90_000);
    await echo42(page, 0, "back");
  }, 240_000);

  it("keeps everything on the relay while Direct connections is off", async () => {
    await page.getByTestId("settings-button").click();
    const toggle = page.getByTestId("direct-paths");
    expect(await toggle.isChecked()).toBe(true);
    await toggle.uncheck();
    await shot(page, "direct-02-settings");
    await page.keyboard.press("Escape");
    await waitForPath(page, "relay", 15_000);
    const offers = async () =>
      (await page.evaluate(() => window.corridorDebug?.meshStatus()))?.direct;
    const before = await offers();
    expect(before).toMatchObject({ enabled: false, channels: 0 });
    // Traffic while off makes no offer (no peer learns the browser's addresses).
    await echo42(page, 0, "off");
    await page.waitForTimeout(1500);
    await echo42(page, 0, "still-off");
    expect((await web01(page))?.path).toBe("relay");
    expect((await offers())?.offersSent).toBe(before?.offersSent);
    await page.getByTestId("settings-button").click();
    await page.getByTestId("direct-paths").check();
    await page.keyboard.press("Escape");
    await echo42(page, 0, "on");
    await waitForPath(page, "direct", 60_000);
  }, 180_000);
});
