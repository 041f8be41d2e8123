// Issue 12, items 5 and 9, in Debian's Chromium against `corridor serve`, a wireguard-go host
// and OpenSSH's sshd in its namespace: a #/ssh/ link on a page of another origin opens the
// page, which asks first (network, host, user, port, the linking site) while nothing connects
// (no tab, no dialog of a session, sshd logs no connection); Cancel leaves it so; Connect
// logs in offering only the keys chosen for the host (none: password only; the sshd log
// names no key), the choice is remembered; a key saved with a passphrase leaves no private
// key bytes in IndexedDB, asks its passphrase in the session and locks again on "Lock keys".
// Screenshots at 1280x800 and 390x844 go to build/e2e-artifacts/.

import { mkdirSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { ServeHandle } from "../../server/web/serve.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  TEST_PASSWORD,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";
import { readCorridorDb, secretTraces } from "./idb-dump.ts";
import { ARTIFACTS } from "./serve-pages.ts";
import { closeSshdLab, importLabNetwork, labPrereq, openLabPage, startSshdLab } from "./wg-lab.ts";

const need = labPrereq(sshdPrereq);

/** TCP connections sshd accepted (its VERBOSE log has one "Connection from" line each). */
const connections = (sshd: SshServer) => sshd.log().match(/Connection from /g)?.length ?? 0;

describeWithPrereq(need, "a deep link from another site asks before connecting", () => {
  let tmp = "";
  let host: WgHost;
  let sshd: SshServer;
  let serve: ServeHandle;
  let other: Server;
  let otherOrigin = "";
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const keyFingerprints = new Map<string, string>();
  /** Screenshots at 1280x800 and 390x844, with `focus` scrolled into view in each. */
  const shot = async (name: string, focus?: Locator) => {
    await focus?.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, `deeplink-${name}-1280.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    await focus?.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, `deeplink-${name}-390.png`) });
    await page.setViewportSize({ width: 1280, height: 800 });
  };

  /** The other site's page: one link to the session, as any site could publish. */
  const linkPage = (href: string) =>
    `<!doctype html><title>elsewhere</title><a id="go" href="${href}">open my server</a>`;

  /** Opens the other site and follows its link into the page; resolves at the confirmation. */
  const followLinkFromOtherSite = async () => {
    // Each link is followed from a page without sessions: the engine is the browser's (a
    // SharedWorker), so a live session would come back as a tab of the next page load.
    while ((await page.getByTestId("tab-close").count()) > 0) {
      await page.getByTestId("tab-close").first().click();
    }
    await page.goto(otherOrigin);
    await page.locator("#go").click();
    await page.getByTestId("deeplink-dialog").waitFor();
    await page.locator('[data-testid="key-chooser"][data-ready="true"]').waitFor();
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), "corridor-deeplink-"));
    const lab = await startSshdLab(tmp, "e2e-deeplink", "cdl");
    ({ host, sshd, serve } = lab);
    const href = `${serve.url.replace(/\/?$/, "/")}#/ssh/${TEST_USER}@${host.tunnelAddress}`;
    other = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(linkPage(href));
    });
    await new Promise<void>((ok) => other.listen(0, "127.0.0.1", () => ok()));
    otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;

    browser = await launchChromium();
    page = await openLabPage(browser, problems);

    // The network and two saved keys, made through the page; only key A may log in.
    await importLabNetwork(page, serve.url, "lab", lab.privateKey, host);
    await page.getByTestId("network-item").filter({ hasText: "lab" }).waitFor();
    await page.getByTestId("keys-button").click();
    for (const name of ["dl-key-a", "dl-key-b"]) {
      await page.getByTestId("key-comment").fill(name);
      await page.getByTestId("generate-key").click();
      const item = page.getByTestId("key-item").filter({ hasText: name });
      await item.waitFor();
      const text = (await item.textContent()) ?? "";
      keyFingerprints.set(name, text.match(/SHA256:[A-Za-z0-9+/]{43}/)![0]);
    }
    const lineA = await page
      .getByTestId("key-item")
      .filter({ hasText: "dl-key-a" })
      .getByTestId("authorized-key")
      .textContent();
    ensureTestUser([lineA!.trim()]);
    await page.keyboard.press("Escape");
  }, 240_000);

  afterEach(async (context) => {
    if (context.task.result?.state === "fail" && page) {
      const name = context.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      await page
        .screenshot({ path: join(ARTIFACTS, `deeplink-failed-${name}.png`) })
        .catch(() => undefined);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((ok) => (other ? other.close(() => ok()) : ok()));
    await closeSshdLab({ serve, sshd, host }, tmp);
  }, 60_000);

  it("shows network, host, user and the linking site, and nothing connects; Cancel keeps it so", async () => {
    await followLinkFromOtherSite();
    const dialog = page.getByTestId("deeplink-dialog");
    expect(await dialog.getByTestId("deeplink-network").textContent()).toBe("lab");
    expect(await dialog.getByTestId("deeplink-host").textContent()).toBe(host.tunnelAddress);
    expect(await dialog.getByTestId("deeplink-user").textContent()).toBe(TEST_USER);
    expect(await dialog.getByTestId("deeplink-port").textContent()).toBe("22");
    expect(await dialog.getByTestId("deeplink-from").textContent()).toBe(otherOrigin);
    // Never chosen for this host: no key is checked.
    const boxes = dialog.getByTestId("key-choice");
    expect(await boxes.count()).toBe(2);
    for (let i = 0; i < 2; i++) expect(await boxes.nth(i).isChecked()).toBe(false);
    // Nothing started: no terminal tab, no question of a session, no TCP connection at sshd.
    expect(await page.getByTestId("terminal-tab").count()).toBe(0);
    expect(await page.getByTestId("hostkey-dialog").count()).toBe(0);
    expect(await page.getByTestId("login-dialog").count()).toBe(0);
    expect(connections(sshd)).toBe(0);
    await shot("01-confirm");

    await dialog.getByTestId("dialog-cancel").click();
    await dialog.waitFor({ state: "detached" });
    expect(new URL(page.url()).hash).toBe("");
    expect(await page.getByTestId("terminal-tab").count()).toBe(0);
    expect(connections(sshd)).toBe(0);
  }, 60_000);

  it("Connect with no key checked logs in by password, and the server is offered no key", async () => {
    await followLinkFromOtherSite();
    expect(connections(sshd)).toBe(0);
    const logStart = sshd.log().length;
    await page.getByTestId("deeplink-connect").click();
    await page.getByTestId("hostkey-trust").click();
    await page.getByTestId("password-input").fill(TEST_PASSWORD);
    await page.getByTestId("dialog-submit").click();
    await expect
      .poll(() => page.evaluate(() => window.corridorDebug?.sessionState(0)), { timeout: 30_000 })
      .toBe("connected");
    const log = sshd.log().slice(logStart);
    expect(connections(sshd)).toBe(1);
    // sshd runs password logins through PAM (keyboard-interactive) when the client offers it.
    expect(log).toMatch(
      new RegExp(`Accepted (password|keyboard-interactive/pam) for ${TEST_USER}`),
    );
    expect(log).not.toMatch(/publickey/);
    for (const fingerprint of keyFingerprints.values()) expect(log).not.toContain(fingerprint);
  }, 60_000);

  it("remembers the choice; the key checked for the host is the only one offered", async () => {
    await followLinkFromOtherSite();
    const dialog = page.getByTestId("deeplink-dialog");
    expect(await dialog.getByTestId("key-choice-note").textContent()).toMatch(/^Your last choice/);
    const boxA = dialog
      .locator(`[data-testid="key-choice"]`)
      .nth(
        (
          await dialog
            .getByTestId("key-choice")
            .evaluateAll((els) => els.map((el) => el.parentElement?.textContent ?? ""))
        ).findIndex((label) => label.startsWith("dl-key-a")),
      );
    expect(await boxA.isChecked()).toBe(false);
    await boxA.check();
    await shot("02-key-chooser");
    const logStart = sshd.log().length;
    await page.getByTestId("deeplink-connect").click();
    await expect
      .poll(() => page.evaluate(() => window.corridorDebug?.sessionState(0)), { timeout: 30_000 })
      .toBe("connected");
    expect(await page.getByTestId("login-dialog").count()).toBe(0);
    const log = sshd.log().slice(logStart);
    expect(log).toContain(`Accepted publickey for ${TEST_USER}`);
    expect(log).toContain(keyFingerprints.get("dl-key-a")!);
    expect(log).not.toContain(keyFingerprints.get("dl-key-b")!);

    // The connect dialog of the host now starts from that choice.
    await page.getByTestId("network-item").filter({ hasText: "lab" }).click();
    await page
      .locator(`[data-testid="host-item"][data-address="${host.tunnelAddress}"]`)
      .getByTestId("ssh-button")
      .click();
    await page.getByTestId("ssh-user").fill(TEST_USER);
    await page.getByTestId("ssh-user").blur();
    const chooser = page.getByTestId("ssh-dialog").getByTestId("key-chooser");
    await page.locator('[data-testid="key-chooser"][data-ready="true"]').waitFor();
    const checked = await chooser
      .getByTestId("key-choice")
      .evaluateAll((els) =>
        els
          .filter((el) => (el as HTMLInputElement).checked)
          .map((el) => el.parentElement?.textContent ?? ""),
      );
    expect(checked.map((label) => label.split(" · ")[0])).toEqual(["dl-key-a"]);
    await shot("03-connect-dialog");
    await page.getByTestId("ssh-dialog").getByTestId("dialog-cancel").click();
  }, 60_000);

  it("a key given a passphrase leaves no private key bytes in IndexedDB and asks it in the session", async () => {
    const before = await readCorridorDb(page);
    const recordA = before.sshKeys.find((r) => JSON.stringify(r).includes("dl-key-a"));
    expect(typeof recordA?.privateKey).toBe("string");
    const traces = secretTraces(String(recordA!.privateKey));

    await page.getByTestId("keys-button").click();
    const item = page.getByTestId("key-item").filter({ hasText: "dl-key-a" });
    await item.getByTestId("key-passphrase").click();
    await item.getByTestId("key-new-passphrase").fill("deep link passphrase");
    await item.getByTestId("key-repeat-passphrase").fill("deep link passphrase");
    await shot("04-set-passphrase", item.getByTestId("key-passphrase-form"));
    await item.getByTestId("key-save-passphrase").click();
    await expect
      .poll(() => item.getByTestId("key-encrypted").textContent())
      .toBe("encrypted · unlocked");
    await page.keyboard.press("Escape");

    const stored = await readCorridorDb(page);
    const after = JSON.stringify(stored);
    for (const trace of traces) expect(after).not.toContain(trace);
    const sealedA = stored.sshKeys.find((r) => r.id === recordA!.id)!;
    expect(Object.keys(sealedA).sort()).toEqual(["id", "persisted", "publicKey", "sealed"]);
    expect(JSON.stringify(sealedA)).not.toContain("PRIVATE KEY");

    // The key stays open in the browser's engine across page loads until "Lock keys": locked,
    // the session asks its passphrase.
    await page.getByTestId("keys-button").click();
    await page.getByTestId("lock-keys").click();
    await expect.poll(() => page.getByTestId("lock-note").textContent()).toBe(" Locked 1 key.");
    await page.keyboard.press("Escape");
    await followLinkFromOtherSite();
    await page.getByTestId("deeplink-connect").click();
    const ask = page.getByTestId("key-passphrase-dialog");
    await ask.waitFor();
    expect(await ask.getByTestId("key-passphrase-key").textContent()).toContain(
      keyFingerprints.get("dl-key-a")!,
    );
    await ask.getByTestId("key-passphrase-input").fill("not it");
    await ask.getByTestId("dialog-submit").click();
    await expect.poll(() => ask.textContent()).toMatch(/Wrong passphrase, try again/);
    await shot("05-key-passphrase");
    await ask.getByTestId("key-passphrase-input").fill("deep link passphrase");
    await ask.getByTestId("dialog-submit").click();
    await expect
      .poll(() => page.evaluate(() => window.corridorDebug?.sessionState(0)), { timeout: 30_000 })
      .toBe("connected");
    expect(await page.getByTestId("login-dialog").count()).toBe(0);

    // Opened in the browser's engine until "Lock keys".
    await page.getByTestId("keys-button").click();
    const badge = page
      .getByTestId("key-item")
      .filter({ hasText: "dl-key-a" })
      .getByTestId("key-encrypted");
    expect(await badge.textContent()).toBe("encrypted · unlocked");
    await page.getByTestId("lock-keys").click();
    await expect.poll(() => page.getByTestId("lock-note").textContent()).toBe(" Locked 1 key.");
    await expect.poll(() => badge.textContent()).toBe("encrypted · locked");
    await page.keyboard.press("Escape");
    expect(problems).toEqual([]);
  }, 90_000);
});
