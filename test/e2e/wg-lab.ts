// What the browser tests against a wireguard-go host share (terminal, deep-link, host-key-type,
// terminal-osc, files, live-sessions, weight): their prerequisites, the page built with the
// repo's vite.config.ts into the test's temp dir, the host with our node as its one peer,
// `corridor serve` whose UDP bridge may reach only that host, the whole of that with sshd in
// the host's namespace (startSshdLab), a page whose errors are collected, and the network
// imported through the page as a person would. Each test keeps its own order and what it adds.

import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, ConsoleMessage, Page } from "playwright-core";
import { build } from "vite";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { type ServeHandle, type ServeOptions, startServe } from "../../server/web/serve.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { chromiumPrereq } from "../helpers/chromium.ts";
import { check, type Prereq, prereq } from "../helpers/prereq.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import { type SshServer, startSshd } from "../ssh/fixtures/servers.ts";
import { REPO_ROOT } from "./serve-pages.ts";

/** Chromium, a wireguard-go host, and what else the test names (sshd, Dropbear), as one. */
export function labPrereq(...more: Prereq[]): Prereq {
  return prereq(
    ...[chromiumPrereq(), wgHostPrereq(), ...more]
      .flatMap((p) => p.missing)
      .map((what) => check(what, false)),
  );
}

/** Builds the page (the repo's vite.config.ts) into `tmp`/dist; resolves with that folder. */
export async function buildPage(tmp: string): Promise<string> {
  const webRoot = join(tmp, "dist");
  await build({
    configFile: join(REPO_ROOT, "vite.config.ts"),
    logLevel: "warn",
    cacheDir: join(tmp, "vite-cache"),
    build: { outDir: webRoot, emptyOutDir: true },
  });
  return webRoot;
}

/** A wireguard-go host whose one peer is our node (`privateKey`) at 100.64.0.1. */
export async function createLabHost(privateKey: Uint8Array, prefix?: string): Promise<WgHost> {
  return createWgHost({
    prefix,
    peer: {
      publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)),
      allowedIps: "100.64.0.1/32",
    },
  });
}

/** `corridor serve`'s relay options: open, its UDP bridge allowed to `host` only, no logs. */
export function labRelay(host: WgHost, relayId: string): ServeOptions["relay"] {
  return {
    auth: { mode: "open" as const },
    relayId,
    udpBridge: new UdpBridge({ allow: [`${host.hostAddress}/32:${host.listenPort}`] }),
    log: () => {},
  };
}

/** `corridor serve` on an ephemeral port with the page in `webRoot` and labRelay(). */
export function startLabServe(
  host: WgHost,
  webRoot: string,
  relayId: string,
): Promise<ServeHandle> {
  return startServe({ port: 0, webRoot, relay: labRelay(host, relayId) });
}

/** The page built, a wireguard-go host with sshd on its tunnel address, and serve for it. */
export interface SshdLab {
  /** Our node's WireGuard key: the host's one peer; the page imports it. */
  privateKey: Uint8Array;
  host: WgHost;
  /** OpenSSH's sshd in the host's namespace, on port 22 of its tunnel address. */
  sshd: SshServer;
  serve: ServeHandle;
}

/**
 * Builds the page into `tmp`, makes a lab host (namespaces named with `prefix`), starts sshd
 * in it (the test account is made per server; keys for it go through ensureTestUser) and
 * `corridor serve` with relay `relayId`. What started is stopped again if a later step fails,
 * so a test's afterAll has only the finished lab to close (closeSshdLab).
 */
export async function startSshdLab(
  tmp: string,
  relayId: string,
  prefix?: string,
): Promise<SshdLab> {
  const webRoot = await buildPage(tmp);
  const privateKey = generatePrivateKey();
  const host = await createLabHost(privateKey, prefix);
  let sshd: SshServer | undefined;
  try {
    sshd = await startSshd({ netns: host.namespace, listen: host.tunnelAddress, port: 22 });
    const serve = await startLabServe(host, webRoot, relayId);
    return { privateKey, host, sshd, serve };
  } catch (error) {
    await closeSshdLab({ sshd, host });
    throw error;
  }
}

/**
 * Stops what of a lab there is: serve, then sshd, then the host and its namespaces; then
 * removes the test's temp dir `tmp` (when one was made).
 */
export async function closeSshdLab(lab: Partial<SshdLab> | undefined, tmp = ""): Promise<void> {
  await lab?.serve?.close();
  await lab?.sshd?.stop();
  await lab?.host?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}

/**
 * The page asks GET /api/v1/login/methods once to learn whether a control server (the mesh) is
 * there; served without one (a plain static server, or serve without the control mount) that
 * answer is a 404, which the browser logs as a failed load: expected, not a problem.
 */
export function isControlProbe(message: ConsoleMessage): boolean {
  const where = message.location().url;
  return where !== "" && new URL(where).pathname === "/api/v1/login/methods";
}

/** Collects the page's errors (uncaught, console.error) into `problems`. */
export function collectProblems(page: Page, problems: string[]): void {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !isControlProbe(message)) {
      problems.push(`console: ${message.text()}`);
    }
  });
}

/** A 1280x800 page in a new context of `browser` (or in `context`), its errors collected. */
export async function openLabPage(
  from: Browser | BrowserContext,
  problems: string[],
): Promise<Page> {
  const context =
    "newContext" in from ? await from.newContext({ viewport: { width: 1280, height: 800 } }) : from;
  const page = await context.newPage();
  collectProblems(page, problems);
  return page;
}

/**
 * Opens `url`, waits for the engine, and imports our node's wg-quick config for `host` under
 * `name` (keepalive 25 s); the network is listed after this, not opened.
 */
export async function importLabNetwork(
  page: Page,
  url: string,
  name: string,
  privateKey: Uint8Array,
  host: WgHost,
): Promise<void> {
  await page.goto(url);
  await page.getByTestId("engine-status").filter({ hasText: "Engine ready" }).waitFor();
  await page.getByTestId("add-network").first().click();
  await page.getByTestId("config-name").fill(name);
  await page
    .getByTestId("config-text")
    .fill(
      ourWgConfigText(privateKey, host, `${host.tunnelAddress}/32`, ["PersistentKeepalive = 25"]),
    );
  await page.getByTestId("import-submit").click();
}
