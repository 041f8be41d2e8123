// `npm run bench:direct` (issue 19): the page's direct path (a WebRTC data channel to the agent)
// against the relay, in Debian's Chromium, same agent, same page, same run. On the direct-path
// lab (test/e2e/direct-lab.ts: `corridor agent` web-01 in a network namespace reachable over UDP,
// `corridor serve` with a real OpenID Provider), alice's page holds an identity SSH session to
// web-01, and the parts alternate between the two paths (the Settings switch "Direct
// connections" moves the page between them):
//   RTT: ICMP echoes through the tunnel (the engine's ping) on each path, median and p90;
//   throughput: terminal output of an SSH command (MB/s from typing it to the end marker), and
//     the relay's forwarded bytes while it runs on the direct path; then a file downloaded with
//     the files panel (SFTP on the same session, no terminal drawing: from the click to the
//     file on disk, checked against its hash);
//   CPU: the machine's busy CPU time during the terminal transfer per MB moved (/proc/stat), and
//     the threads that used it (/proc/PID/task): page, agent and relay share this machine's two
//     cores, so what a path costs to run bounds its rate here;
//   switch: nft cuts the UDP between page and agent under a live session; the time until the
//     shell answers a command typed at the cut (through the relay), and until the page's path
//     says "relay"; then the UDP returns and the path goes back to direct.
// The relay is measured twice: on this host (no distance at all: what remains is what each path
// costs to run, werift in JavaScript against a WebSocket hop) and "far", behind a proxy that
// delays it (test/e2e/delay-proxy.ts; this kernel has no netem) as a relay in a data centre is
// from a page and an agent that share a network, the case direct paths are for.
// Targets: switch <= 3 s; direct RTT <= 0.7x the relay's; direct throughput >= the relay's;
// relay bytes during a direct transfer ~0 (under 1% of the transfer).

import { createHash, randomBytes } from "node:crypto";
import { chownSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type DirectLab, directLabPrereq, startDirectLab } from "../e2e/direct-lab.ts";
import { TEST_USER } from "../e2e/mesh-lab.ts";
import { inCI } from "../helpers/prereq.ts";
import { cpuShare, cpuSnapshot, machineBusyTicks } from "./cpu-share.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";

const prereq = directLabPrereq();
if (prereq.missing.length > 0) {
  console.log(`bench:direct skipped: ${prereq.reason}`);
  process.exit(inCI() ? 1 : 0);
}

const ROUNDS = Math.max(1, Math.round(3 * timeScale));
const PINGS = Math.max(20, Math.round(60 * timeScale));
const MEGABYTES = Math.max(4, Math.round(16 * timeScale));
/**
 * One-way delay of the proxy in front of the relay for the "far" column (ms): page to agent
 * through the relay crosses it twice each way, 4x this of round trip (a relay in a data centre
 * some 20 ms from the page and the agent, which share a network).
 */
const FAR_MS = 5;

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

/** A terminal transfer: its rate, the relay's bytes meanwhile, and the machine's CPU per MB. */
interface Bulk {
  mbps: number;
  relayed: number;
  /** The machine's busy CPU-ms (every core, /proc/stat) per MB moved. */
  cpuPerMb: number;
  /** The largest consumers (cpu-share.ts). */
  cpuLine: string;
}

async function bulk(page: Page, lab: DirectLab): Promise<Bulk> {
  const before = await lab.relayBytesOut();
  const m = marker();
  const bytes = MEGABYTES * 1_000_000;
  const busyBefore = machineBusyTicks();
  const cpuBefore = cpuSnapshot();
  const ms = await timed(
    page,
    `head -c ${bytes} /dev/zero | tr '\\0' x | fold -w 100; echo; echo ${m.typed}`,
    m.shown,
    120_000,
    250,
  );
  const cpuAfter = cpuSnapshot();
  const busy = machineBusyTicks() - busyBefore;
  return {
    mbps: bytes / 1e6 / (ms / 1000),
    relayed: (await lab.relayBytesOut()) - before,
    cpuPerMb: (busy * 10) / MEGABYTES,
    cpuLine: cpuShare(cpuBefore, cpuAfter, ms, 10),
  };
}

const FILE_NAME = "bench-direct.bin";

/** Downloads FILE_NAME with the files panel (opened if a dialog closed it); its MB/s. */
async function download(page: Page, digest: string): Promise<number> {
  const panel = page.locator('[data-testid="files-panel"]:visible');
  const row = panel.locator(`[data-testid="file-row"][data-name="${FILE_NAME}"]`);
  if (!(await row.isVisible())) await page.locator('[data-testid="files-button"]:visible').click();
  await row.waitFor({ timeout: 30_000 });
  const start = performance.now();
  const [saved] = await Promise.all([
    page.waitForEvent("download", { timeout: 120_000 }),
    row.getByTestId("file-download").click(),
  ]);
  // A download that stalls fails the run instead of hanging it.
  const path = await Promise.race([
    saved.path(),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("bench:direct: the download stalled")), 120_000).unref(),
    ),
  ]);
  const ms = performance.now() - start;
  const ok = createHash("sha256").update(readFileSync(path)).digest("hex") === digest;
  await saved.delete();
  if (!ok) throw new Error("bench:direct: the downloaded file differs from the host's");
  return (MEGABYTES * 2) / (ms / 1000);
}

const lab = await startDirectLab();
const browser = await lab.launchBrowser();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Downloads go through the download service worker (no save picker a bench could answer).
  await page.addInitScript(() => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
  });
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

  // The file the panel downloads: twice the terminal transfer, random, owned by the user.
  const home = lab.mesh.accountHome;
  const content = randomBytes(MEGABYTES * 2 * 1_000_000);
  const digest = createHash("sha256").update(content).digest("hex");
  writeFileSync(join(home, FILE_NAME), content);
  chownSync(join(home, FILE_NAME), statSync(home).uid, statSync(home).gid);
  await download(page, digest); // untimed: the SFTP session and the download worker start

  type Column = "direct" | "near" | "far";
  const rtt: Record<Column, number[]> = { direct: [], near: [], far: [] };
  const mbps: Record<Column, number[]> = { direct: [], near: [], far: [] };
  const files: Record<Column, number[]> = { direct: [], near: [], far: [] };
  const cpu: Record<Column, Bulk[]> = { direct: [], near: [], far: [] };
  const relayedDuringDirect: number[] = [];
  const answers: number[] = [];
  const switches: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    lab.relayProxy.delayMs = 0;
    rtt.direct.push(...(await pings(page, PINGS)));
    const direct = await bulk(page, lab);
    mbps.direct.push(direct.mbps);
    cpu.direct.push(direct);
    relayedDuringDirect.push(direct.relayed);
    files.direct.push(await download(page, digest));

    // The cut, under a live session on the direct path, with the relay at its distance.
    lab.relayProxy.delayMs = FAR_MS;
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
    for (const column of ["far", "near"] as const) {
      lab.relayProxy.delayMs = column === "far" ? FAR_MS : 0;
      rtt[column].push(...(await pings(page, PINGS)));
      const relayed = await bulk(page, lab);
      mbps[column].push(relayed.mbps);
      cpu[column].push(relayed);
      files[column].push(await download(page, digest));
    }
    await setDirect(page, true);
  }

  const p50 = { direct: median(rtt.direct), near: median(rtt.near), far: median(rtt.far) };
  const p90 = {
    direct: quantile(rtt.direct, 0.9),
    near: quantile(rtt.near, 0.9),
    far: quantile(rtt.far, 0.9),
  };
  const rate = { direct: median(mbps.direct), near: median(mbps.near), far: median(mbps.far) };
  const fileRate = {
    direct: median(files.direct),
    near: median(files.near),
    far: median(files.far),
  };
  /** The transfer whose CPU per MB is the median of its column. */
  const medianCpu = (column: Column) =>
    [...cpu[column]].sort((a, b) => a.cpuPerMb - b.cpuPerMb)[cpu[column].length >> 1]!;
  const cpuPerMb = {
    direct: medianCpu("direct").cpuPerMb,
    near: medianCpu("near").cpuPerMb,
    far: medianCpu("far").cpuPerMb,
  };
  const answer = Math.max(...answers);
  const switchMs = Math.max(...switches);
  const relayed = Math.max(...relayedDuringDirect);
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const mb = (v: number) => `${v.toFixed(2)} MB/s`;
  const row = (name: string, v: Record<Column, number>, f: (v: number) => string) => [
    name,
    f(v.direct),
    f(v.near),
    formatRatio(v.direct / v.near),
    f(v.far),
    formatRatio(v.direct / v.far),
  ];
  printTable(
    `bench:direct (Chromium page to a werift agent in a namespace; ${ROUNDS} rounds, ${PINGS} pings and ${MEGABYTES} MB each; "far": the relay ${4 * FAR_MS} ms of round trip away from page and agent, by a delaying proxy in front of it)`,
    ["measure", "direct (WebRTC)", "relay on this host", "ratio", "relay far", "ratio"],
    [
      row("RTT p50 (ICMP through the tunnel)", p50, ms),
      row("RTT p90", p90, ms),
      row("SSH output throughput (median)", rate, mb),
      row(`SFTP download, files panel (${MEGABYTES * 2} MB, median)`, fileRate, mb),
      row("CPU per MB of SSH output (machine, median)", cpuPerMb, (v) => `${v.toFixed(0)} ms`),
      ["relay bytes during a direct transfer (max)", `${relayed} B`, "-", "-", "-", "-"],
      [
        "UDP cut (relay far): the shell answers through the relay (max)",
        `${answer.toFixed(0)} ms`,
        "-",
        "-",
        "-",
        "-",
      ],
      [
        "UDP cut (relay far): the page's path says relay (max)",
        `${switchMs.toFixed(0)} ms`,
        "-",
        "-",
        "-",
        "-",
      ],
    ],
  );
  console.log("\nCPU in the median terminal transfer (percent of one core; this machine has two):");
  for (const column of ["direct", "far", "near"] as const) {
    console.log(`  ${column}: ${medianCpu(column).cpuLine}`);
  }
  const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
  console.log(
    `\nswitch <= 3 s: ${verdict(Math.max(answer, switchMs) <= 3000)} (shell ${answer.toFixed(0)} ms, path ${switchMs.toFixed(0)} ms)`,
  );
  console.log(
    `direct RTT <= 0.7x relay: ${verdict(p50.direct <= 0.7 * p50.far)} against the far relay (${formatRatio(p50.direct / p50.far)}); ${formatRatio(p50.direct / p50.near)} against the relay on this host`,
  );
  console.log(
    `direct throughput >= relay: ${verdict(rate.direct >= rate.far)} against the far relay (${formatRatio(rate.direct / rate.far)}); ${formatRatio(rate.direct / rate.near)} against the relay on this host; SFTP download ${formatRatio(fileRate.direct / fileRate.far)} far, ${formatRatio(fileRate.direct / fileRate.near)} here`,
  );
  console.log(
    `relay bytes during a direct transfer ~0: ${verdict(relayed < MEGABYTES * 10_000)} (${relayed} B of ${MEGABYTES} MB)`,
  );
  await context.close();
} finally {
  await browser.close();
  await lab.close();
}
