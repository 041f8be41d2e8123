// The relay's warning and error in the network details, in Debian's Chromium against the real
// page and `corridor serve`'s server:
//   - a network whose relay URL pins the relay's key (#key=) connects; when the relay comes
//     back on the same port with another key (what a restart without a kept key did), the
//     details show "Relay stopped: ... is pinned" naming both keys, and the state "failed";
//   - a page reached at a non-loopback address (a veth address of this machine, made by the
//     test; Chromium is told to treat that origin as secure, as an https page would be) uses
//     ws:// to it and shows "Unencrypted relay: ..." with the engine's wording.
// Screenshots at 1280x800 and 390x844 go to build/e2e-artifacts/relay-notices-*.png.

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { CHROMIUM, CHROMIUM_ARGS, chromiumPrereq } from "../helpers/chromium.ts";
import { describeWithPrereq, executable, onPath, prereq, root } from "../helpers/prereq.ts";
import { REPO_ROOT } from "./serve-pages.ts";

const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");
/** This test's own veth pair and addresses (a /30 no other test uses). */
const VETH = "rnotice0";
const VETH_PEER = "rnotice1";
const VETH_ADDRESS = "10.213.77.1";

let tmp = "";
let webRoot = "";

/** Builds the page once for both groups. */
async function buildPage(): Promise<void> {
  if (webRoot !== "") return;
  mkdirSync(ARTIFACTS, { recursive: true });
  tmp = await mkdtemp(join(tmpdir(), "corridor-e2e-notices-"));
  webRoot = join(tmp, "dist");
  await build({
    configFile: join(REPO_ROOT, "vite.config.ts"),
    logLevel: "warn",
    cacheDir: join(tmp, "vite-cache"),
    build: { outDir: webRoot, emptyOutDir: true },
  });
}

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A wg-quick config with one peer that is never reached (only the relay matters here). */
async function configText(): Promise<string> {
  const peer = keyToBase64(await nodeX25519.publicKey(generatePrivateKey()));
  return [
    "[Interface]",
    `PrivateKey = ${keyToBase64(generatePrivateKey())}`,
    "Address = 100.64.9.2/32",
    "",
    "[Peer]",
    `PublicKey = ${peer}`,
    "AllowedIPs = 100.64.9.1/32",
    "",
  ].join("\n");
}

/** Imports a network named `name` with `relayUrl` (or the default), opens its details. */
async function openDetails(page: Page, name: string, relayUrl?: string): Promise<void> {
  await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
  await page.getByTestId("add-network").first().click();
  await page.getByTestId("config-name").fill(name);
  await page.getByTestId("config-text").fill(await configText());
  if (relayUrl !== undefined) {
    await page.locator("details.advanced").first().locator("summary").click();
    await page.getByTestId("config-relay-url").fill(relayUrl);
  }
  await page.getByTestId("import-submit").click();
  await page.getByTestId("network-item").filter({ hasText: name }).click();
  await page.getByTestId("details-button").click();
  await page.getByTestId("details-panel").waitFor();
}

/** Screenshots of the details at desktop and phone sizes. */
async function screenshots(page: Page, name: string): Promise<void> {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: join(ARTIFACTS, `relay-notices-${name}-1280.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  // On a phone the sidebar covers the page: hide it, as a person would, to see the details.
  const shell = page.locator(".app");
  if ((await shell.getAttribute("data-sidebar")) === "open") {
    await page.getByTestId("menu-toggle").click();
  }
  await page.getByTestId("details-panel").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ARTIFACTS, `relay-notices-${name}-390.png`), fullPage: true });
  await page.getByTestId("menu-toggle").click();
  await page.setViewportSize({ width: 1280, height: 800 });
}

function removeVeth(): void {
  try {
    execFileSync("ip", ["link", "del", VETH], { stdio: "ignore" });
  } catch {
    // Not there: nothing to remove.
  }
}

function watchProblems(page: Page, problems: string[]): void {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
}

describeWithPrereq(chromiumPrereq(), "the network details show the relay's pin error", () => {
  let serve: ServeHandle;
  let browser: Browser;
  const problems: string[] = [];
  const serveOptions = () => ({
    port: 0,
    webRoot,
    relay: { auth: { mode: "open" as const }, relayId: "notices", log: () => {} },
  });

  beforeAll(async () => {
    await buildPage();
    serve = await startServe(serveOptions());
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.close();
  });

  it("the pinned relay comes back with another key: Relay stopped, naming both keys", async () => {
    const page = await (
      await browser.newContext({ viewport: { width: 1280, height: 800 } })
    ).newPage();
    watchProblems(page, problems);
    await page.goto(serve.url);
    const pinned = keyToBase64(serve.relay.relayPublicKey);
    await openDetails(page, "pinned", `${serve.relayUrl}#key=${pinned}`);
    await expect
      .poll(() => page.getByTestId("relay-state").textContent(), { timeout: 20_000 })
      .toContain("ready");
    expect(await page.getByTestId("relay-error").count()).toBe(0);
    // What `corridor relay` without --key-file did at every restart: same place, a new key.
    const port = serve.port;
    await serve.close({ restarting: { reconnectInMs: 100, tryForMs: 30_000 } });
    serve = await startServe({
      ...serveOptions(),
      port,
      relay: { ...serveOptions().relay, privateKey: generatePrivateKey() },
    });
    const actual = keyToBase64(serve.relay.relayPublicKey);
    const error = page.getByTestId("relay-error");
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toBe(
      `Relay stopped: relay ${serve.relayUrl} presented key ${actual}, but ${pinned} is pinned: ` +
        "not proving our key to it (another relay, or a machine in the middle)",
    );
    expect(await error.getAttribute("role")).toBe("alert");
    await expect
      .poll(() => page.getByTestId("relay-state").textContent(), { timeout: 10_000 })
      .toContain("failed");
    // Loopback ws:// is not a network crossing: no warning.
    expect(await page.getByTestId("relay-warning").count()).toBe(0);
    await screenshots(page, "pin-error");
    expect(problems).toEqual([]);
  }, 120_000);
});

describeWithPrereq(
  prereq(executable(CHROMIUM), root(), onPath("ip")),
  "the network details warn about ws:// to a relay that is not on loopback",
  () => {
    let serve: ServeHandle;
    let browser: Browser;
    const problems: string[] = [];

    beforeAll(async () => {
      await buildPage();
      removeVeth(); // left over by a run that was killed
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await serve?.close();
      removeVeth();
    });

    it("shows Unencrypted relay with the engine's wording, and the relay still works", async () => {
      execFileSync("ip", ["link", "add", VETH, "type", "veth", "peer", "name", VETH_PEER]);
      execFileSync("ip", ["addr", "add", `${VETH_ADDRESS}/30`, "dev", VETH]);
      execFileSync("ip", ["link", "set", VETH, "up"]);
      serve = await startServe({
        host: VETH_ADDRESS,
        port: 0,
        webRoot,
        relay: { auth: { mode: "open" }, relayId: "notices-veth", log: () => {} },
      });
      const origin = `http://${VETH_ADDRESS}:${serve.port}`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`],
      });
      const page = await (
        await browser.newContext({ viewport: { width: 1280, height: 800 } })
      ).newPage();
      watchProblems(page, problems);
      await page.goto(`${origin}/`);
      await openDetails(page, "over-ws");
      const relayUrl = `ws://${VETH_ADDRESS}:${serve.port}/relay`;
      const warning = page.getByTestId("relay-warning");
      await warning.waitFor({ timeout: 20_000 });
      expect(await warning.textContent()).toBe(
        `Unencrypted relay: relay ${relayUrl} is reached over unencrypted ws://: anyone on the ` +
          "way can read the relay token and watch, delay, drop or take over this relay connection " +
          `(WireGuard still encrypts the packets inside it); use wss://${VETH_ADDRESS}:${serve.port}/relay, ` +
          "and pin the relay's key with #key=",
      );
      expect(await warning.getAttribute("role")).toBe("status");
      // A warning, not a refusal: the relay connection is up.
      await expect
        .poll(() => page.getByTestId("relay-state").textContent(), { timeout: 20_000 })
        .toContain("ready");
      expect(await page.getByTestId("relay-error").count()).toBe(0);
      await screenshots(page, "ws-warning");
      expect(problems).toEqual([]);
    }, 120_000);
  },
);
