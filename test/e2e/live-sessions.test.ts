// One engine per browser (issue 15 item 4), in Debian's Chromium against `corridor serve`, a
// wireguard-go host and sshd in its namespace. The engine runs in the browser's SharedWorker:
// a reload re-attaches the live SSH session (the same shell, its scrollback back on screen,
// typing works) without asking; a crashed tab's session goes to the next page; a second tab
// of the same browser opens its own session on the same network while the first tab's runs
// (before, the network was "in use in another tab"). With the per-tab Worker forced
// (?engine=worker) the page asks before a reload ends a live session, and after one it says
// the session ended. Screenshots of a restored session at 1280x800 and 390x844 go to
// build/e2e-artifacts/.

import { mkdirSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Dialog, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { ServeHandle } from "../../server/web/serve.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { type SshServer, sshdPrereq, TEST_PASSWORD, TEST_USER } from "../ssh/fixtures/servers.ts";
import { ARTIFACTS } from "./serve-pages.ts";
import {
  closeSshdLab,
  collectProblems,
  importLabNetwork,
  labPrereq,
  startSshdLab,
} from "./wg-lab.ts";

const need = labPrereq(sshdPrereq);

const terminalText = (page: Page, index: number) =>
  page.evaluate((i) => window.corridorDebug?.terminalText(i) ?? "", index);
const sessionState = (page: Page, index: number) =>
  page.evaluate((i) => window.corridorDebug?.sessionState(i) ?? "", index);

/** The terminal text of tab `index` once it matches `pattern` (xterm's buffer, polled). */
async function waitForText(page: Page, index: number, pattern: RegExp): Promise<string> {
  let text = "";
  await expect
    .poll(
      async () => {
        text = await terminalText(page, index);
        return pattern.test(text);
      },
      { timeout: 20_000 },
    )
    .toBe(true);
  return text;
}

/** Types a command into tab `index`'s terminal like a person. */
async function typeLine(page: Page, index: number, line: string): Promise<void> {
  await page.getByTestId("terminal").nth(index).click();
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
}

describeWithPrereq(need, "one engine per browser: live sessions", () => {
  let tmp = "";
  let host: WgHost;
  let sshd: SshServer;
  let serve: ServeHandle;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let privateKey: Uint8Array;
  const problems: string[] = [];
  const hostItem = (p: Page) =>
    p.locator(`[data-testid="host-item"][data-address="${host.tunnelAddress}"]`);

  /** Opens an SSH session to sshd from `p`'s network "lab", trusting the key if asked. */
  async function connect(p: Page, tab: number): Promise<void> {
    await p.getByTestId("network-item").filter({ hasText: "lab" }).click();
    await hostItem(p).getByTestId("ssh-button").click();
    await p.getByTestId("ssh-user").fill(TEST_USER);
    await p.getByTestId("ssh-connect").click();
    await p
      .locator('[data-testid="hostkey-dialog"], [data-testid="password-input"]')
      .first()
      .waitFor();
    if (await p.getByTestId("hostkey-dialog").isVisible()) {
      await p.getByTestId("hostkey-trust").click();
    }
    await p.getByTestId("password-input").fill(TEST_PASSWORD);
    await p.getByTestId("dialog-submit").click();
    await expect.poll(() => sessionState(p, tab), { timeout: 30_000 }).toBe("connected");
  }

  /** The shell's PID, printed behind a marker the shell computes (never the typed echo). */
  async function shellPid(p: Page, tab: number, tag: number): Promise<string> {
    await typeLine(p, tab, `echo pid-${tag}-$((${tag}+1))-$$`);
    const text = await waitForText(p, tab, new RegExp(`^pid-${tag}-${tag + 1}-(\\d+)$`, "m"));
    return new RegExp(`^pid-${tag}-${tag + 1}-(\\d+)$`, "m").exec(text)![1]!;
  }

  const restored = (p: Page) =>
    p.locator('[data-testid="tab-strip"][data-restored]').getAttribute("data-restored");

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), "corridor-live-"));
    ({ privateKey, host, sshd, serve } = await startSshdLab(tmp, "e2e-live", "cls"));
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    collectProblems(page, problems);
  }, 240_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail" && page && !page.isClosed()) {
      const name = ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      await page
        .screenshot({ path: join(ARTIFACTS, `live-failed-${name}.png`) })
        .catch(() => undefined);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await closeSshdLab({ serve, sshd, host }, tmp);
  }, 60_000);

  it("a reload keeps the session: the same shell, its scrollback, typing works, nothing asked", async () => {
    await importLabNetwork(page, serve.url, "lab", privateKey, host);
    expect(await page.getByTestId("engine-status").textContent()).toMatch(
      /shared by this browser's tabs/,
    );
    await connect(page, 0);
    const pid = await shellPid(page, 0, 1);
    await typeLine(page, 0, "seq -f row-%g 1 300; echo before-$((6*7))");
    await waitForText(page, 0, /^before-42$/m);
    // The tab says who, where and on which network; the tooltip names the whole target.
    const tab = page.getByTestId("terminal-tab").first();
    expect(await tab.textContent()).toContain(`${host.tunnelAddress} · ${TEST_USER} · lab`);
    expect(await tab.getAttribute("title")).toBe(
      `${TEST_USER}@${host.tunnelAddress} on network lab`,
    );

    const dialogs: string[] = [];
    const answer = (dialog: Dialog) => {
      dialogs.push(dialog.type());
      void dialog.accept();
    };
    page.on("dialog", answer);
    await page.reload();
    await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
    await expect.poll(() => restored(page)).toBe("1");
    page.off("dialog", answer);
    expect(dialogs).toEqual([]);
    await expect.poll(() => sessionState(page, 0)).toBe("connected");
    // The scrollback came back from the engine: the output from before the reload.
    const text = await waitForText(page, 0, /^before-42$/m);
    expect(text).toMatch(/^row-1$/m);
    expect(text).toMatch(/^row-300$/m);
    // The same shell: its PID did not change, and it answers what is typed now.
    expect(await shellPid(page, 0, 2)).toBe(pid);
    await typeLine(page, 0, "echo after-$((3*3))");
    await waitForText(page, 0, /^after-9$/m);
    await page.screenshot({ path: join(ARTIFACTS, "live-restored-1280.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, "live-restored-390.png") });
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(problems).toEqual([]);
  }, 120_000);

  it("a tab gone without detaching (no pagehide: a crash) leaves its session to the next page", async () => {
    if ((await sessionState(page, 0)) !== "connected") {
      await page.goto(serve.url);
      await connect(page, 0);
    }
    const pid = await shellPid(page, 0, 5);
    // As a crashed tab: the page's pagehide never reaches the tabs (a capturing listener on
    // the window stops it first), so nothing detaches; only the page's Web Lock goes with it.
    // (CDP's Page.crash would take the renderer the SharedWorker shares down with it.)
    await page.evaluate(() =>
      window.addEventListener("pagehide", (event) => event.stopImmediatePropagation(), {
        capture: true,
      }),
    );
    await page.close();
    const next = await context.newPage();
    collectProblems(next, problems);
    await next.goto(serve.url);
    await expect.poll(() => restored(next)).toBe("1");
    await expect.poll(() => sessionState(next, 0)).toBe("connected");
    expect(await shellPid(next, 0, 6)).toBe(pid);
    page = next;
  }, 120_000);

  it("a second tab opens its own session on the same network while the first one's runs", async () => {
    if ((await sessionState(page, 0)) !== "connected") {
      await page.goto(serve.url);
      await connect(page, 0);
    }
    const second = await context.newPage();
    collectProblems(second, problems);
    try {
      await second.goto(serve.url);
      await second.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
      // The first tab holds its session: nothing to restore here.
      await expect.poll(() => restored(second)).toBe("0");
      expect(await second.getByTestId("terminal-tab").count()).toBe(0);
      // The network runs in the shared engine: the host answers pings from this tab too.
      await second.getByTestId("network-item").filter({ hasText: "lab" }).click();
      await expect
        .poll(() => hostItem(second).getByTestId("host-status").textContent(), {
          timeout: 20_000,
        })
        .toMatch(/ms/);
      await connect(second, 0);
      const secondPid = await shellPid(second, 0, 3);
      // Both shells answer, and they are two shells.
      const firstPid = await shellPid(page, 0, 4);
      expect(secondPid).not.toBe(firstPid);
      await typeLine(second, 0, "echo second-$((2*2))");
      await waitForText(second, 0, /^second-4$/m);
      // Closing the tab's session ends it in the engine (not left for a later page).
      await second.getByTestId("tab-close").first().click();
    } finally {
      await second.close();
    }
    await typeLine(page, 0, "echo first-$((5*5))");
    await waitForText(page, 0, /^first-25$/m);
    expect(problems).toEqual([]);
  }, 120_000);

  it("with the per-tab Worker (?engine=worker) it asks before a reload ends a live session", async () => {
    // The shared engine of the first browser profile runs the same WireGuard key: close it.
    await context.close();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    collectProblems(page, problems);
    await importLabNetwork(page, `${serve.url}?engine=worker`, "lab", privateKey, host);
    expect(await page.getByTestId("engine-status").textContent()).toMatch(
      /in this tab's Web Worker/,
    );
    await connect(page, 0);
    await typeLine(page, 0, "echo fallback-$((4*4))");
    await waitForText(page, 0, /^fallback-16$/m);

    // Leaving is refused once: the page stays, the session with it.
    const stay = new Promise<string>((resolve) => {
      page.once("dialog", (dialog) => {
        resolve(dialog.type());
        void dialog.dismiss();
      });
    });
    await page.close({ runBeforeUnload: true });
    expect(await stay).toBe("beforeunload");
    expect(page.isClosed()).toBe(false);
    await typeLine(page, 0, "echo still-$((8*8))");
    await waitForText(page, 0, /^still-64$/m);

    // A reload the person confirms ends it, and the new page says so.
    const leave = new Promise<string>((resolve) => {
      page.once("dialog", (dialog) => {
        resolve(dialog.type());
        void dialog.accept();
      });
    });
    await page.reload();
    expect(await leave).toBe("beforeunload");
    await expect
      .poll(() => page.getByTestId("engine-status").textContent())
      .toMatch(/The engine restarted since the last page: its session ended\./);
    await expect.poll(() => restored(page)).toBe("0");
    expect(await page.getByTestId("terminal-tab").count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "live-worker-reloaded-1280.png") });
    expect(problems).toEqual([]);
  }, 120_000);
});
