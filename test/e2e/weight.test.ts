// The page's weight, counted by a real browser (issue 15 item 11): headless Chromium with its
// HTTP cache off opens the page and counts every response (page and Worker) until the engine
// is ready (the first load: <= 150 KB gzip), then imports a wg-quick network, opens an SSH
// session to sshd behind wireguard-go and counts on until the shell's prompt answers (<= 250
// KB gzip, everything fetched on the way: views, dialogs, the terminal). A size budget, not
// timing. bench:web prints the same counts per file.

import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ServeHandle } from "../../server/web/serve.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { type SshServer, sshdPrereq, TEST_PASSWORD, TEST_USER } from "../ssh/fixtures/servers.ts";
import { BUDGET, describeWeight, kb, watchWeight } from "./page-weight.ts";
import { closeSshdLab, labPrereq, openLabPage, startSshdLab } from "./wg-lab.ts";

describeWithPrereq(labPrereq(sshdPrereq), "the page's weight up to a shell prompt", () => {
  let tmp = "";
  let host: WgHost;
  let sshd: SshServer;
  let serve: ServeHandle;
  let browser: Browser;
  let privateKey: Uint8Array;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "corridor-weight-"));
    ({ privateKey, host, sshd, serve } = await startSshdLab(tmp, "weight"));
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await closeSshdLab({ serve, sshd, host }, tmp);
  }, 60_000);

  it("first load <= 150 KB gzip, everything up to a shell prompt <= 250 KB gzip", async () => {
    const problems: string[] = [];
    const page = await openLabPage(browser, problems);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    const weight = watchWeight(page);
    // The page's own dedicated Worker (?engine=worker), not the SharedWorker: playwright
    // reports a dedicated Worker's requests on the page but not a SharedWorker's, whose lazily
    // imported chunks (worker/engine/lazy.ts) would go uncounted. The same scripts either way.
    await page.goto(`${serve.url}?engine=worker`);
    await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
    const firstLoad = await weight.snapshot();
    await page.getByTestId("add-network").first().click();
    await page.getByTestId("config-name").fill("weight");
    await page
      .getByTestId("config-text")
      .fill(ourWgConfigText(privateKey, host, `${host.tunnelAddress}/32`));
    await page.getByTestId("import-submit").click();
    await page.getByTestId("network-item").filter({ hasText: "weight" }).click();
    const hostItem = page.locator(
      `[data-testid="host-item"][data-address="${host.tunnelAddress}"]`,
    );
    await hostItem.getByTestId("ssh-button").click();
    await page.getByTestId("ssh-user").fill(TEST_USER);
    await page.getByTestId("ssh-connect").click();
    await page.getByTestId("hostkey-trust").click();
    await page.getByTestId("password-input").fill(TEST_PASSWORD);
    await page.getByTestId("dialog-submit").click();
    await page.getByTestId("terminal").first().click();
    await expect
      .poll(() => page.evaluate(() => window.corridorDebug?.sessionState(0)), { timeout: 20_000 })
      .toBe("connected");
    const text = () => page.evaluate(() => window.corridorDebug?.terminalText(0) ?? "");
    await expect.poll(text, { timeout: 20_000 }).toMatch(/\$ $/);
    await page.keyboard.type("echo weight-$((6*7))\n");
    await expect.poll(text, { timeout: 20_000 }).toMatch(/^weight-42$/m);
    const toPrompt = await weight.snapshot();
    await page.context().close();
    const scripts = toPrompt.responses.filter((r) => r.path.endsWith(".js")).map((r) => r.path);
    // The Worker's own script was counted (preloaded, or fetched by the Worker).
    expect(scripts.some((path) => /\/assets\/index-/.test(path))).toBe(true);
    expect(scripts.some((path) => /\/assets\/xterm-/.test(path))).toBe(true);
    // Headless Chromium's WebGL is SwiftShader: the DOM renderer, no WebGL addon fetched.
    expect(scripts.filter((path) => /addon-webgl/.test(path))).toEqual([]);
    console.log(
      `weight: first load ${kb(firstLoad.gzip)} gzip (${kb(firstLoad.transferred)} on the wire), ` +
        `to a shell prompt ${kb(toPrompt.gzip)} gzip (${kb(toPrompt.transferred)} on the wire)`,
    );
    expect(
      firstLoad.gzip,
      `first load ${kb(firstLoad.gzip)} gzip:\n${describeWeight(firstLoad)}`,
    ).toBeLessThanOrEqual(BUDGET.firstLoad);
    expect(
      toPrompt.gzip,
      `to a shell prompt ${kb(toPrompt.gzip)} gzip:\n${describeWeight(toPrompt)}`,
    ).toBeLessThanOrEqual(BUDGET.toPrompt);
    expect(problems).toEqual([]);
  }, 120_000);
});
