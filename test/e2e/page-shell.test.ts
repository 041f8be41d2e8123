// The page's shell in Chromium against `corridor serve` with its control server (owner links,
// no identity provider): the signed-out view, the owner link signing in and coming back to
// the route the page was opened with, sign-out, the sidebar on a phone (closed at load, closed
// by a tap outside and by navigating, back after widening), pages at full height with an SSH
// tab open, bookmarkable routes (reload, back/forward). Screenshots of each view at 1280x800
// and 390x844 go to build/e2e-artifacts/.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import type { Store } from "../../server/control/store/types.ts";
import type { ServeHandle } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { closeOwnerServe, type OwnerServe, startOwnerServe } from "./owner-serve.ts";

const ARTIFACTS = join(process.cwd(), "build", "e2e-artifacts");
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** A wg-quick file whose peer nobody answers: enough for a network, a host and a session tab. */
function configText(seed: number): string {
  const bytes = seededBytes(seed);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  return [
    "[Interface]",
    `PrivateKey = ${b64(bytes(32))}`,
    "Address = 100.64.0.1/32",
    "",
    "[Peer]",
    `PublicKey = ${b64(bytes(32))}`,
    "AllowedIPs = 100.64.0.2/32",
    "Endpoint = 127.0.0.1:9",
    "",
  ].join("\n");
}

describeWithPrereq(chromiumPrereq(), "the page's shell", () => {
  let owner: OwnerServe | undefined;
  let store: Store;
  let serve: ServeHandle;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    owner = await startOwnerServe("shell");
    ({ store, serve } = owner);
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await closeOwnerServe(owner);
  }, 60_000);

  async function newPage(viewport = WIDE): Promise<Page> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      // The server's sign-in pages have no icon: the browser's own /favicon.ico asks 404.
      const where = message.location().url;
      if (where !== "" && new URL(where).pathname === "/favicon.ico") return;
      problems.push(`console: ${message.text()} (${where})`);
    });
    return page;
  }

  async function shot(page: Page, name: string): Promise<void> {
    const { width } = page.viewportSize() ?? WIDE;
    await page.screenshot({ path: join(ARTIFACTS, `shell-${name}-${width}.png`) });
  }

  async function bothSizes(page: Page, name: string): Promise<void> {
    const before = page.viewportSize() ?? WIDE;
    for (const size of [WIDE, PHONE]) {
      await page.setViewportSize(size);
      await shot(page, name);
    }
    await page.setViewportSize(before);
  }

  const sidebarShown = (page: Page) => page.getByTestId("sidebar").isVisible();

  it("signed out: the sign-in view names the owner and invitation links; no error on the way", async () => {
    const page = await newPage();
    await page.goto(serve.url);
    const view = page.getByTestId("sign-in-view");
    await view.waitFor();
    expect(await view.getByTestId("sign-in-links").textContent()).toContain("corridor serve");
    expect(await page.getByTestId("sign-in-oidc").count()).toBe(0);
    expect(await page.getByTestId("header-sign-in").isVisible()).toBe(true);
    // The wg-quick networks are there without signing in.
    expect(await page.getByTestId("add-network").isVisible()).toBe(true);
    await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
    await bothSizes(page, "sign-in");
    expect(problems).toEqual([]);
    await page.context().close();
  }, 120_000);

  it("the owner link signs in and comes back to the route the page was opened with; sign-out", async () => {
    const page = await newPage();
    await page.goto(`${serve.url}#/mesh/host/web-01`);
    await page.getByTestId("sign-in-view").waitFor();
    // The person opens the owner link in this tab (as the sign-in view says).
    await page.goto(await createOwnerLink(store, serve.url));
    await page.waitForURL((u) => u.pathname === "/" && u.hash === "#/mesh/host/web-01");
    await page.getByTestId("mesh-host-page").waitFor();
    expect(await page.getByTestId("account-user").textContent()).toBe("owner");
    expect(await page.evaluate(() => sessionStorage.getItem("corridor.return"))).toBeNull();
    // The owner sees the admin links.
    expect(await page.getByTestId("nav-admin-nodes").isVisible()).toBe(true);
    await bothSizes(page, "mesh-host");
    await page.goto(`${serve.url}#/mesh`);
    await page.getByTestId("mesh-hosts").waitFor();
    await bothSizes(page, "mesh-hosts");

    await page.getByTestId("sign-out").click();
    await page.getByTestId("sign-in-view").waitFor();
    expect(await page.getByTestId("header-sign-in").isVisible()).toBe(true);
    const whoami = await page.evaluate(async () => (await fetch("/api/v1/login/methods")).json());
    expect(whoami.signedIn).toBe(false);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 120_000);

  it("a phone: the sidebar starts closed, closes on an outside tap and after navigating, and shows again when widened", async () => {
    const page = await newPage(PHONE);
    await page.goto(serve.url);
    await page.getByTestId("sign-in-view").waitFor();
    expect(await sidebarShown(page)).toBe(false);
    await page.getByTestId("menu-toggle").click();
    expect(await sidebarShown(page)).toBe(true);
    await shot(page, "sidebar-open");
    // A tap on the page beside the overlay closes it.
    await page.mouse.click(PHONE.width - 10, PHONE.height / 2);
    expect(await sidebarShown(page)).toBe(false);
    // Navigating from it (Add network) closes it: the form is not covered.
    await page.getByTestId("menu-toggle").click();
    await page.getByTestId("add-network").click();
    await page.waitForURL((u) => u.hash === "#/network/add");
    expect(await sidebarShown(page)).toBe(false);
    await page.getByTestId("config-text").waitFor();
    // Closed on a narrow window, then widened: the sidebar is part of the page again.
    await page.setViewportSize(WIDE);
    await expect.poll(() => sidebarShown(page)).toBe(true);
    await page.setViewportSize(PHONE);
    await expect.poll(() => sidebarShown(page)).toBe(false);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 120_000);

  it("pages take the full height with an SSH tab open; routes survive a reload and back/forward", async () => {
    const page = await newPage();
    await page.goto(`${serve.url}#/network/add`);
    await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
    await page.getByTestId("config-name").fill("shell-lab");
    await page.getByTestId("config-text").fill(configText(15));
    await page.getByTestId("import-submit").click();
    const item = page.getByTestId("network-item").filter({ hasText: "shell-lab" });
    await item.waitFor();
    await page.waitForURL((u) => u.hash.startsWith("#/network/"));
    const id = new URL(page.url()).hash.split("/")[2]!;
    // A session tab to the peer's address (nobody answers: it stays a tab while it tries).
    const host = page.getByTestId("host-item").first();
    // The host's state ("checking…", "offline", "12 ms") fits its box and ends before the address.
    const fits = await host.evaluate((el) => {
      const status = el.querySelector<HTMLElement>(".host-status");
      const label = el.querySelector<HTMLElement>(".host-label");
      if (status === null || label === null) return false;
      const right = status.getBoundingClientRect().right;
      return (
        status.scrollWidth <= status.clientWidth && right <= label.getBoundingClientRect().left
      );
    });
    expect(fits).toBe(true);
    await host.getByTestId("ssh-button").click();
    await page.getByTestId("ssh-user").fill("nobody");
    await page.getByTestId("ssh-connect").click();
    await page.getByTestId("terminal-tab").waitFor();

    await page.getByTestId("details-button").click();
    await page.waitForURL((u) => u.hash === `#/network/${id}/details`);
    const details = page.getByTestId("details-panel");
    await details.waitFor();
    const area = await page.getByTestId("page-area").boundingBox();
    const main = await page.locator("main.main").boundingBox();
    const strip = await page.getByTestId("tab-strip").boundingBox();
    // The page gets all of the main area below the tab strip (it got half before: 356 of 800).
    expect(area!.height).toBeGreaterThanOrEqual(main!.height - strip!.height - 1);
    await bothSizes(page, "details-with-tab");
    // A session opened while a page is in front comes to the front.
    await host.getByTestId("ssh-button").click();
    await page.getByTestId("ssh-user").fill("corridor-ssh-operator");
    await page.getByTestId("ssh-connect").click();
    await expect.poll(() => page.getByTestId("terminal-panel").nth(1).isVisible()).toBe(true);
    expect(await details.count()).toBe(0);
    // Tab labels put the host first and cut a long user short before it: the host stays whole,
    // at both sizes, and the tooltip has the full target.
    const tabs = page.getByTestId("terminal-tab");
    expect(await tabs.nth(1).locator(".tab-label").textContent()).toBe(
      "100.64.0.2 · corridor-ssh-operator · shell-lab",
    );
    expect(await tabs.nth(1).getAttribute("title")).toBe(
      "corridor-ssh-operator@100.64.0.2 on network shell-lab",
    );
    for (const size of [WIDE, PHONE]) {
      await page.setViewportSize(size);
      for (const i of [0, 1]) {
        for (const part of [".tab-host", ".tab-network"]) {
          // Not cut short itself, and not cut off by the tab's edge.
          const whole = await tabs
            .nth(i)
            .locator(part)
            .evaluate((el) => {
              const box = el.closest(".tab-label")?.getBoundingClientRect();
              const own = el.getBoundingClientRect();
              return (
                el.scrollWidth <= el.clientWidth && box !== undefined && own.right <= box.right
              );
            });
          expect(whole).toBe(true);
        }
      }
      await shot(page, "two-tabs");
    }
    await page.setViewportSize(WIDE);
    await page.getByTestId("details-button").click();
    await details.waitFor();

    // Bookmarkable: a reload shows the same page.
    await page.reload();
    await page.getByTestId("details-panel").waitFor();
    // Back and forward move between pages.
    await page.goto(`${serve.url}#/network/add`);
    await page.getByTestId("config-text").waitFor();
    await page.setViewportSize(PHONE);
    await page.getByTestId("mode-generate").click();
    await page.getByTestId("generate-network-key").click();
    await page.getByTestId("peer-block").waitFor();
    await shot(page, "add-network-generate");
    await page.setViewportSize(WIDE);
    await page.goBack();
    await page.getByTestId("details-panel").waitFor();
    await page.goForward();
    await page.getByTestId("config-text").waitFor({ state: "attached" });
    expect(problems).toEqual([]);
    await page.context().close();
  }, 180_000);
});
