// `npm run bench:direct` (issue 19): the page's direct path (a WebRTC data channel to the agent)
// against the relay, in Debian's Chromium, same agent, same page, same run. On the direct-path
// lab (test/e2e/direct-lab.ts: `corridor agent` web-01 in a network namespace reachable over UDP,
// `corridor serve` with a real OpenID Provider), alice's page holds an identity SSH session to
// web-01, and the parts alternate between the two paths (the Settings switch "Direct
// connections" moves the page between them):
//   RTT: ICMP echoes through the tunnel (the engine's ping) on each path, median and p90;
//   throughput: terminal output of an SSH command (MB/s from typing it to the end marker), and
//     the relay's forwarded bytes while it runs on the direct path;
//   switch: nft cuts the UDP between page and agent under a live session; the time until the
//     shell answers a command typed at the cut (through the relay), and until the page's path
//     says "relay"; then the UDP returns and the path goes back to direct.
// Targets: switch <= 3 s; direct RTT <= 0.7x the relay's; direct throughput >= the relay's;
// relay bytes during a direct transfer ~0 (under 1% of the transfer).

import type { Page } from "playwright-core";
import { type DirectLab, directLabPrereq, startDirectLab } from "../e2e/direct-lab.ts";
import { TEST_USER } from "../e2e/mesh-lab.ts";
import { inCI } from "../helpers/prereq.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";

const prereq = directLabPrereq();
if (prereq.missing.length > 0) {
  console.log(`bench:direct skipped: ${prereq.reason}`);
  process.exit(inCI() ? 1 : 0);
}

const ROUNDS = Math.max(1, Math.round(3 * timeScale));
const PINGS = Math.max(20, Math.round(60 * timeScale));
const MEGABYTES = Math.max(4, Math.round(16 * timeScale));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

/** web-01's path as the page sees it. */
async function pathOf(page: Page): Promise<string | undefined> {
  const hosts = await page.evaluate(() => window.corridorDebug?.meshHosts() ?? []);
  return hosts.find((h) => h.name === "web-01")?.path;
}

/** Polls until `check` holds; throws `what` after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`bench:direct: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The terminal's text (tab 0). */
const text = (page: Page) => page.evaluate(() => window.corridorDebug?.terminalText(0) ?? "");

/**
 * Types `command` in the session; resolves (ms) when a line `marker` appears. Reading the
 * terminal's text costs the page's main thread (every line of the buffer): a bulk transfer is
 * polled every 250 ms so that reading does not slow what is measured.
 */
async function timed(
  page: Page,
  command: string,
  marker: string,
  timeoutMs = 120_000,
  everyMs = 50,
) {
  await page.getByTestId("terminal").first().click();
  const started = performance.now();
  await page.keyboard.type(`${command}\n`);
  const line = new RegExp(`^${marker}\\s*$`, "m");
  await until(async () => line.test(await text(page)), marker, timeoutMs, everyMs);
  return performance.now() - started;
}

let serial = 0;
/** A unique marker computed by the shell (the typed command's echo does not match it). */
const marker = () => {
  serial++;
  return { typed: `m-$((${serial}*7))`, shown: `m-${serial * 7}` };
};

/** Turns the page's Direct connections setting on or off and waits for the path. */
async function setDirect(page: Page, on: boolean): Promise<void> {
  await page.getByTestId("settings-button").click();
  const toggle = page.getByTestId("direct-paths");
  if (on) await toggle.check();
  else await toggle.uncheck();
  await page.keyboard.press("Escape");
  const want = on ? "direct" : "relay";
  await until(
    async () => {
      const m = marker();
      await timed(page, `echo ${m.typed}`, m.shown, 10_000);
      return (await pathOf(page)) === want;
    },
    `the ${want} path`,
    60_000,
  );
}

async function pings(page: Page, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const rtt = await page.evaluate(() => window.corridorDebug?.meshPing("web-01", 2000) ?? null);
    if (rtt !== null) out.push(rtt);
  }
  if (out.length < count / 2) throw new Error(`bench:direct: ${count - out.length} pings lost`);
  return out;
}

async function bulk(page: Page, lab: DirectLab): Promise<{ mbps: number; relayed: number }> {
  const before = await lab.relayBytesOut();
  const m = marker();
  const bytes = MEGABYTES * 1_000_000;
  const ms = await timed(
    page,
    `head -c ${bytes} /dev/zero | tr '\\0' x | fold -w 100; echo; echo ${m.typed}`,
    m.shown,
    120_000,
    250,
  );
  return { mbps: bytes / 1e6 / (ms / 1000), relayed: (await lab.relayBytesOut()) - before };
}

const lab = await startDirectLab();
const browser = await lab.launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${lab.mesh.url}#/ssh/${TEST_USER}@web-01`);
  await page.getByTestId("sign-in-view").waitFor();
  await lab.mesh.signIn(page, "alice");
  await page.getByTestId("deeplink-connect").click({ timeout: 30_000 });
  await until(
    async () => (await page.evaluate(() => window.corridorDebug?.sessionState(0))) === "connected",
    "the session",
    60_000,
  );
  await setDirect(page, true);

  const rtt = { direct: [] as number[], relay: [] as number[] };
  const mbps = { direct: [] as number[], relay: [] as number[] };
  const relayedDuringDirect: number[] = [];
  const answers: number[] = [];
  const switches: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rtt.direct.push(...(await pings(page, PINGS)));
    const direct = await bulk(page, lab);
    mbps.direct.push(direct.mbps);
    relayedDuringDirect.push(direct.relayed);

    // The cut, under a live session on the direct path.
    await lab.blockUdp();
    const cutAt = performance.now();
    const m = marker();
    const switched = until(async () => (await pathOf(page)) === "relay", "relay", 30_000).then(
      () => performance.now() - cutAt,
    );
    answers.push(await timed(page, `echo ${m.typed}`, m.shown, 60_000));
    switches.push(await switched);
    await lab.unblockUdp();
    await setDirect(page, false);
    rtt.relay.push(...(await pings(page, PINGS)));
    mbps.relay.push((await bulk(page, lab)).mbps);
    await setDirect(page, true);
  }

  const directRtt = median(rtt.direct);
  const relayRtt = median(rtt.relay);
  const directMbps = median(mbps.direct);
  const relayMbps = median(mbps.relay);
  const answer = Math.max(...answers);
  const switchMs = Math.max(...switches);
  const relayed = Math.max(...relayedDuringDirect);
  const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
  printTable(
    `bench:direct (Chromium page to a werift agent in a namespace; ${ROUNDS} rounds, ${PINGS} pings and ${MEGABYTES} MB each)`,
    ["measure", "direct (WebRTC)", "relay", "ratio"],
    [
      [
        "RTT p50 (ICMP through the tunnel)",
        fmt(directRtt),
        fmt(relayRtt),
        formatRatio(directRtt / relayRtt),
      ],
      [
        "RTT p90",
        fmt(quantile(rtt.direct, 0.9)),
        fmt(quantile(rtt.relay, 0.9)),
        formatRatio(quantile(rtt.direct, 0.9) / quantile(rtt.relay, 0.9)),
      ],
      [
        "SSH output throughput (median)",
        `${directMbps.toFixed(2)} MB/s`,
        `${relayMbps.toFixed(2)} MB/s`,
        formatRatio(directMbps / relayMbps),
      ],
      ["relay bytes during a direct transfer (max)", `${relayed} B`, "-", "-"],
      ["UDP cut: the shell answers through the relay (max)", `${answer.toFixed(0)} ms`, "-", "-"],
      ["UDP cut: the page's path says relay (max)", `${switchMs.toFixed(0)} ms`, "-", "-"],
    ],
  );
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  console.log(
    `\nswitch <= 3 s: ${verdict(Math.max(answer, switchMs) <= 3000)} (shell ${answer.toFixed(0)} ms, path ${switchMs.toFixed(0)} ms)`,
  );
  console.log(
    `direct RTT <= 0.7x relay: ${verdict(directRtt <= 0.7 * relayRtt)} (${formatRatio(directRtt / relayRtt)})`,
  );
  console.log(
    `direct throughput >= relay: ${verdict(directMbps >= relayMbps)} (${formatRatio(directMbps / relayMbps)})`,
  );
  console.log(
    `relay bytes during a direct transfer ~0: ${verdict(relayed < MEGABYTES * 10_000)} (${relayed} B of ${MEGABYTES} MB)`,
  );
  await context.close();
} finally {
  await browser.close();
  await lab.close();
}
