// Web benchmark (`npm run bench:web`):
//   (a) bundle sizes of the first load (HTML, JS, CSS, wasm — everything index.html loads or
//       preloads, the engine Worker included), gzip, against the 250 KB budget (issue 8); the
//       lazily loaded terminal chunk for context;
//   (b) cold start to a shell prompt: headless Chromium opens the deep link #/ssh/USER@HOST
//       with the HTTP cache disabled (a returning user: the network, host key and SSH key are
//       in IndexedDB) until the remote shell has printed a marker, against the same flow by
//       `corridor ssh --wg-config --relay` in Node (process start to the marker), both through
//       the same relay to sshd behind wireguard-go, rounds interleaved, median reported.
//
// Prerequisites for (b): root, wireguard-go, sshd, chromium. Missing ones skip (b), except
// under CI=true, where the benchmark exits 1 (DESIGN.md §5).

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "vite";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { startServe } from "../../server/web/serve.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { CHROMIUM_ARGS } from "../helpers/chromium.ts";
import { check, executable, inCI, prereq, root } from "../helpers/prereq.ts";
import { ourWgConfigText } from "../interop/our-wg-config.ts";
import { createWgHost, wgHostPrereq } from "../interop/wg-host.ts";
import { ensureTestUser, startSshd, TEST_USER } from "../ssh/fixtures/servers.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const BUDGET = 250 * 1024;
const ROUNDS = Math.max(3, Math.round(5 * timeScale));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const tmp = mkdtempSync(join(tmpdir(), "corridor-bench-web-"));
const webRoot = join(tmp, "dist");
await build({
  configFile: join(REPO, "vite.config.ts"),
  logLevel: "warn",
  cacheDir: join(tmp, "cache"),
  build: { outDir: webRoot, emptyOutDir: true },
});

// (a) What index.html loads or preloads, and what those scripts pull in at start.
const html = readFileSync(join(webRoot, "index.html"), "utf8");
const referenced = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
const gz = (file: string) => gzipSync(readFileSync(join(webRoot, file)), { level: 9 }).length;
const first = [
  { file: "index.html", size: gz("index.html") },
  ...referenced.map((file) => ({ file, size: gz(file) })),
];
const total = first.reduce((n, f) => n + f.size, 0);
const terminalChunk = readdirSync(join(webRoot, "assets"))
  .filter((f) => f.startsWith("xterm-"))
  .reduce((n, f) => n + gz(`assets/${f}`), 0);
printTable(
  "First load (gzip -9)",
  ["file", "bytes"],
  [
    ...first.map((f) => [f.file, String(f.size)]),
    ["total", String(total)],
    ["(lazy) terminal chunk: xterm + addons", String(terminalChunk)],
  ],
  ["left", "right"],
);
const verdicts: string[][] = [
  [
    "first load, gzip",
    `${(total / 1024).toFixed(1)} KB`,
    "<= 250 KB",
    total <= BUDGET ? "PASS" : "MISS",
  ],
];

// (b) Cold start to a shell prompt.
const need = prereq(
  ...wgHostPrereq().missing.map((w) => check(w, false)),
  executable("/usr/sbin/sshd"),
  executable("/usr/bin/chromium"),
  root(),
);
if (!need.ok) {
  console.log(`\n(b) skipped: ${need.reason}`);
  printTable("Targets", ["measure", "value", "target", "verdict"], verdicts);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(inCI() ? 1 : 0);
}

const { chromium } = await import("playwright-core");
const privateKey = generatePrivateKey();
const host = await createWgHost({
  peer: {
    publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)),
    allowedIps: "100.64.0.1/32",
  },
});
ensureTestUser();
const sshd = await startSshd({ netns: host.namespace, listen: host.tunnelAddress, port: 22 });
const serve = await startServe({
  webRoot,
  relay: {
    auth: { mode: "open" },
    relayId: "bench",
    udpBridge: new UdpBridge({ allow: [`${host.hostAddress}/32:${host.listenPort}`] }),
    log: () => {},
  },
});
const config = ourWgConfigText(privateKey, host, `${host.tunnelAddress}/32`);
const configFile = join(tmp, "wg0.conf");
writeFileSync(configFile, config, { mode: 0o600 });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });

type Page = Awaited<ReturnType<typeof context.newPage>>;
const terminalText = (page: Page) =>
  page.evaluate(() => window.corridorDebug?.terminalText(0) ?? "");

// Setup (not timed): the network, an SSH key (authorized on the host) and the host key.
const setup = await context.newPage();
await setup.goto(serve.url);
await setup.getByTestId("add-network").first().click();
await setup.getByTestId("config-name").fill("bench");
await setup.getByTestId("config-text").fill(config);
await setup.getByTestId("import-submit").click();
await setup.getByTestId("keys-button").click();
await setup.getByTestId("generate-key").click();
const line = (await setup.getByTestId("authorized-key").first().textContent())!.trim();
ensureTestUser([line]);
const keyFile = join(tmp, "id_ed25519");
spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
ensureTestUser([readFileSync(`${keyFile}.pub`, "utf8").trim()]);
await setup.keyboard.press("Escape");
await setup.getByTestId("network-item").filter({ hasText: "bench" }).click();
await setup
  .locator(`[data-testid="host-item"][data-address="${host.tunnelAddress}"]`)
  .getByTestId("ssh-button")
  .click();
await setup.getByTestId("ssh-user").fill(TEST_USER);
await setup.getByTestId("ssh-connect").click();
await setup.getByTestId("hostkey-trust").click();
for (let i = 0; i < 200 && !/\$ $/m.test(await terminalText(setup)); i++)
  await setup.waitForTimeout(50);
await setup.close();

const marker = "bench-ready-$((40+2))";
async function browserColdStart(): Promise<number> {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const start = performance.now();
  await page.goto(`${serve.url}#/ssh/${TEST_USER}@${host.tunnelAddress}`);
  for (;;) {
    const state = await page.evaluate(() => window.corridorDebug?.sessionState(0) ?? "");
    if (state === "connected") break;
    if (performance.now() - start > 30_000) throw new Error(`browser: no session (${state})`);
    await page.waitForTimeout(5);
  }
  await page.getByTestId("terminal").first().click();
  await page.keyboard.type(`echo ${marker}\n`);
  while (!/^bench-ready-42$/m.test(await terminalText(page))) {
    if (performance.now() - start > 30_000) throw new Error("browser: no marker");
    await page.waitForTimeout(5);
  }
  const ms = performance.now() - start;
  await page.close();
  return ms;
}

function nodeColdStart(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(REPO, "cli/corridor.mjs"),
        "ssh",
        "--wg-config",
        configFile,
        "--relay",
        serve.relayUrl,
        "-i",
        keyFile,
        "-o",
        `UserKnownHostsFile=${join(tmp, "kh")}`,
        "-o",
        "StrictHostKeyChecking=accept-new",
        `${TEST_USER}@${host.tunnelAddress}`,
        `echo ${marker}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (/^bench-ready-42$/m.test(out)) resolve(performance.now() - start);
    });
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("close", (code) => {
      if (!/^bench-ready-42$/m.test(out)) reject(new Error(`corridor ssh exited ${code}: ${err}`));
    });
  });
}

const browserMs: number[] = [];
const nodeMs: number[] = [];
try {
  await nodeColdStart(); // learns the host key; warms the OS page cache for both
  for (let round = 0; round < ROUNDS; round++) {
    browserMs.push(await browserColdStart());
    nodeMs.push(await nodeColdStart());
  }
} finally {
  await browser.close();
  await serve.close();
  await sshd.stop();
  await host.close();
  rmSync(tmp, { recursive: true, force: true });
}
const b = median(browserMs);
const n = median(nodeMs);
printTable(
  `Cold start to a shell prompt through the relay and WireGuard (median of ${ROUNDS})`,
  ["client", "ms", "ratio"],
  [
    ["corridor ssh in Node (anchor)", n.toFixed(0), "1.00x"],
    ["the page in headless Chromium, HTTP cache off", b.toFixed(0), formatRatio(b / n)],
  ],
  ["left", "right", "right"],
);
verdicts.push([
  "page cold start vs corridor ssh (time ratio, lower is better)",
  formatRatio(b / n),
  "(context)",
  "",
]);
printTable("Targets", ["measure", "value", "target", "verdict"], verdicts);
process.exit(0);
