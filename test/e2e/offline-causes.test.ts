// Why a host is offline, in Debian's Chromium against the real page, `corridor serve`'s relay
// and a wireguard-go host in a namespace (issue 15 item 7): three networks for the same host,
// each broken in its own way, show their own sentence in the host row (sidebar) and in Details:
//   - Endpoint outside the relay's --allow-udp: "the relay does not allow this endpoint (start
//     it with --allow-udp …)";
//   - an allowed endpoint where nothing listens: "no answer from the endpoint …";
//   - the real host under a wrong public key: "the host does not answer our handshake …".
// Screenshots at 1280x800 and 390x844 go to build/e2e-artifacts/offline-*.png.

import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { REPO_ROOT } from "./serve-pages.ts";
import { buildPage, createLabHost, labPrereq, openLabPage } from "./wg-lab.ts";

const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");
/** A UDP port nothing in the host's namespace listens on (discard). */
const CLOSED_PORT = 9;

describeWithPrereq(labPrereq(), "why a host is offline, in the page", () => {
  let tmp = "";
  let host: WgHost;
  let serve: ServeHandle;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), "corridor-offline-"));
    const webRoot = await buildPage(tmp);
    // None of the networks below may reach the host: it knows another key.
    host = await createLabHost(generatePrivateKey(), "coff");
    serve = await startServe({
      port: 0,
      webRoot,
      relay: {
        auth: { mode: "open" as const },
        relayId: "e2e-offline",
        udpBridge: new UdpBridge({
          allow: [
            `${host.hostAddress}/32:${host.listenPort}`,
            `${host.hostAddress}/32:${CLOSED_PORT}`,
          ],
        }),
        log: () => {},
      },
    });
    browser = await launchChromium();
    page = await openLabPage(browser, problems);
    await page.goto(serve.url);
    await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.close();
    await host?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /**
   * Imports a network for the host with `endpoint` and the host's `publicKey`, under its own
   * node key (one relay connection per key: networks sharing a key would replace each other).
   */
  async function importNetwork(name: string, endpoint: string, publicKey: string): Promise<void> {
    await page.getByTestId("add-network").first().click();
    await page.getByTestId("config-name").fill(name);
    await page
      .getByTestId("config-text")
      .fill(
        [
          "[Interface]",
          `PrivateKey = ${keyToBase64(generatePrivateKey())}`,
          "Address = 100.64.0.1/32",
          "",
          "[Peer]",
          `PublicKey = ${publicKey}`,
          `Endpoint = ${endpoint}`,
          `AllowedIPs = ${host.tunnelAddress}/32`,
          "PersistentKeepalive = 25",
          "",
        ].join("\n"),
      );
    await page.getByTestId("import-submit").click();
    await page.getByTestId("network-item").filter({ hasText: name }).waitFor();
  }

  /**
   * Screenshots of the current view at 1280x800 and 390x844; with `inSidebar`, the narrow one has
   * the sidebar opened until `inSidebar` shows (it lies over the page there, closed until ☰).
   */
  async function shot(name: string, inSidebar?: Locator): Promise<void> {
    await page.screenshot({ path: join(ARTIFACTS, `offline-${name}-1280.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    const toggle = page.getByTestId("menu-toggle");
    // The narrow layout closes the sidebar when it takes over (on its own media-query event),
    // so wait for the toggle and for it to say closed, then open it.
    await toggle.waitFor({ state: "visible" });
    await expect.poll(() => toggle.getAttribute("aria-expanded")).toBe("false");
    const open = inSidebar !== undefined;
    if (open) {
      await toggle.click();
      await inSidebar.waitFor({ state: "visible" });
    }
    await page.screenshot({ path: join(ARTIFACTS, `offline-${name}-390.png`) });
    if (open) await toggle.click();
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  /**
   * Opens the network, waits for its host row to say why it is offline (the page pings every
   * 10 s; a wrong key needs two unanswered handshakes), then opens Details for the same
   * sentence. Returns the sentence.
   */
  async function showsCause(name: string, kind: string, sentence: RegExp): Promise<string> {
    await page.getByTestId("network-item").filter({ hasText: name }).click();
    const row = page.locator(`[data-testid="host-item"][data-address="${host.tunnelAddress}"]`);
    const why = row.locator(`[data-testid="host-problem"][data-kind="${kind}"]`);
    await why.waitFor({ timeout: 60_000 });
    const text = (await why.textContent()) ?? "";
    expect(text).toMatch(sentence);
    await expect
      .poll(() => row.getByTestId("host-status").getAttribute("data-status"))
      .toBe("offline");
    await shot(`${kind}-row`, why);
    await page.getByTestId("details-button").click();
    const detail = page.locator(`[data-testid="peer-problem"][data-kind="${kind}"]`);
    await detail.waitFor({ timeout: 30_000 });
    expect(await detail.textContent()).toBe(text);
    // Flags are code that never wraps: "--allow-udp" stays whole on a phone, in Details and in
    // the sidebar row, and never runs past the row's edge.
    if (text.includes("--")) {
      for (const where of [detail, why]) {
        const flag = where.locator("code.flag .flag-name").first();
        expect(await flag.textContent()).toMatch(/^--[a-z-]+$/);
        expect(await flag.evaluate((el) => getComputedStyle(el).whiteSpace)).toBe("nowrap");
      }
      expect(await detail.locator("code.flag").first().textContent()).toMatch(/^--[a-z-]+ \S+$/);
      const box = (el: Element) => {
        const block = el.parentElement;
        return block !== null && block.scrollWidth <= block.clientWidth;
      };
      expect(await why.evaluate(box)).toBe(true);
    }
    await shot(`${kind}-details`);
    return text;
  }

  it("each cause shows its own message in the host row and in Details", async () => {
    await importNetwork("refused", "192.0.2.1:51820", host.publicKey);
    await importNetwork("closed-port", `${host.hostAddress}:${CLOSED_PORT}`, host.publicKey);
    const wrongKey = keyToBase64(await nodeX25519.publicKey(generatePrivateKey()));
    await importNetwork("wrong-key", `${host.hostAddress}:${host.listenPort}`, wrongKey);

    const texts = [
      await showsCause(
        "refused",
        "relay-refused",
        /^the relay does not allow this endpoint \(start it with --allow-udp 192\.0\.2\.1\/32:51820\)$/,
      ),
      await showsCause(
        "closed-port",
        "unreachable",
        /^no answer from the endpoint: nothing listens/,
      ),
      await showsCause(
        "wrong-key",
        "no-handshake",
        /^the host does not answer our handshake: check its public key and that it has this browser's key$/,
      ),
    ];
    expect(new Set(texts).size).toBe(3);
    expect(problems).toEqual([]);
  }, 240_000);

  it("a network whose relay fails says so in the sidebar too, not only in Details", async () => {
    // Pinned to a key the relay does not have: the relay connection stops for good.
    const wrongPin = keyToBase64(await nodeX25519.publicKey(generatePrivateKey()));
    await page.getByTestId("add-network").first().click();
    await page.getByTestId("config-name").fill("bad-pin");
    await page
      .getByTestId("config-text")
      .fill(
        [
          "[Interface]",
          `PrivateKey = ${keyToBase64(generatePrivateKey())}`,
          "Address = 100.64.0.1/32",
          "[Peer]",
          `PublicKey = ${host.publicKey}`,
          `AllowedIPs = ${host.tunnelAddress}/32`,
          "",
        ].join("\n"),
      );
    await page.locator("details.advanced").first().locator("summary").click();
    await page.getByTestId("config-relay-url").fill(`${serve.relayUrl}#key=${wrongPin}`);
    await page.getByTestId("import-submit").click();
    await page.getByTestId("network-item").filter({ hasText: "bad-pin" }).click();
    const error = page.getByTestId("network-error");
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toMatch(
      /relay ws:\/\/127\.0\.0\.1:\d+\/relay presented key \S+, but \S+ is pinned/,
    );
    await shot("network-error", error);
    // The host under it has no peer problem of its own: the relay is the cause.
    expect(await page.getByTestId("host-problem").count()).toBe(0);
  }, 120_000);

  it("Add network shows the wg set one-liner beside the [Peer] block", async () => {
    await page.getByTestId("add-network").first().click();
    await page.getByTestId("mode-generate").click();
    await page.getByTestId("generate-network-key").click();
    // The engine makes the key (its WireGuard code loads on first use): wait for it to show.
    const generated = page.getByTestId("generated-public-key");
    await expect
      .poll(async () => (await generated.textContent()) ?? "")
      .toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const key = (await generated.textContent()) ?? "";
    await page.getByTestId("tunnel-address").fill("10.8.0.5");
    expect(await page.getByTestId("wg-set-line").textContent()).toBe(
      `wg set wg0 peer ${key} allowed-ips 10.8.0.5/32`,
    );
    expect(await page.getByTestId("peer-block").textContent()).toContain(`PublicKey = ${key}`);
    await page.getByTestId("wg-set-line").scrollIntoViewIfNeeded();
    await shot("wg-set");
    expect(problems).toEqual([]);
  }, 60_000);
});
