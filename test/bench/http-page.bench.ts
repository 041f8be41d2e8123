// HTTP benchmark, the browser part (`tsx test/bench/http-page.bench.ts`; bench:http's Node part
// is http.bench.ts): headless Chromium through the whole private-URL chain — an app origin tab,
// its service worker, the page's engine in its SharedWorker, the relay and WireGuard (userspace
// TCP) — against `curl` over a kernel route to the same aiohttp server, in one run. Every
// figure has its anchor beside it; nothing here asserts a timing.
//
//   (a) 256 MiB download (fetch, the body read to its end in the app page) and upload (a Blob
//       body POSTed to the edge app's /upload, which answers the byte count and sha256), MiB/s,
//       BENCH_SCALE scales the size; the JS heap's peak during the download (Runtime.getHeapUsage
//       on the app page, the engine's SharedWorker and the app origin's service worker:
//       test/e2e/target-heaps.ts) against the 64 MiB;
//   (b) 100 small sequential fetches over keep-alive: p50/p99 ms and requests/s, against one
//       `curl` with 100 URLs (one connection);
//   (c) Jupyter's tree page (if jupyter-notebook is installed), logged in with its token:
//       navigation to the load event, cold (a new tab, the browser cache cleared, after the
//       engine's idle connections closed) and warm (a reload), against `curl --parallel -Z` of
//       the same URLs the page loaded (its resource timing entries).
//
// Topology: the lab of test/e2e/private-urls-lab.ts (the page at corridor.localhost with the
// host's wg-quick network imported; wireguard-go host S in a namespace) with the edge app
// (test/helpers/apps.ts) on S's tunnel address :8090; the anchor curl runs in namespace A
// (wireguard-go, tunnel 100.64.0.3) joined to S by a veth pair, as in http.bench.ts.
//
// Prerequisites: root, wireguard-go, chromium, curl, python3-aiohttp. Missing ones skip with
// exit 0 (exit 1 under CI=true). A wrong byte count or digest exits 1.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
  openApp,
  type PrivateUrlsLab,
  privateUrlsPrereq,
  startPrivateUrlsLab,
} from "../e2e/private-urls-lab.ts";
import { sampleTargetHeaps } from "../e2e/target-heaps.ts";
import {
  edgeAppPrereq,
  edgePattern,
  jupyterPrereq,
  startEdgeApp,
  startJupyter,
} from "../helpers/apps.ts";
import { check, executable, inCI, prereq } from "../helpers/prereq.ts";
import { WG_TOOLS } from "../interop/wg-host.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";
import { treePage } from "./http-page-tree.ts";
import { createAnchorHost } from "./kernel-anchor.ts";

const MiB = 1024 * 1024;
const SIZE = Math.max(8, Math.round(256 * timeScale)) * MiB;
const ROUNDS =
  Number.parseInt(process.env.BENCH_ROUNDS ?? "", 10) >= 1
    ? Number.parseInt(process.env.BENCH_ROUNDS!, 10)
    : Math.max(1, Math.round(3 * timeScale));
const CHECK = 8 * MiB;
const REQUESTS = 100;
const EDGE_PORT = 8090; // the lab's own app holds 8080 and 8081
const HEAP_TARGET = 64 * MiB;
const CURL = "/usr/bin/curl";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const need = prereq(
  ...[privateUrlsPrereq(), edgeAppPrereq()].flatMap((p) => p.missing).map((w) => check(w, false)),
  executable(CURL),
);
if (!need.ok) {
  console.log(`bench:http (browser) skipped: ${need.reason}`);
  process.exit(inCI() ? 1 : 0);
}

const cleanups: (() => Promise<void> | void)[] = [];
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

/** Runs a command to its end; resolves with stdout and wall milliseconds, rejects on exit != 0. */
function timed(cmd: readonly string[]): Promise<{ out: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child: ChildProcess = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`${cmd.slice(0, 6).join(" ")} ... exited ${code}: ${err}`));
      else resolve({ out: Buffer.concat(out), ms: performance.now() - start });
    });
  });
}

/** The upload's bytes are edgePattern(0, n); the page builds them from this block (251 | its length). */
const BLOCK = 251 * 4096;
function patternSha(n: number): string {
  const hash = createHash("sha256");
  const block = edgePattern(0, BLOCK);
  for (let left = n; left > 0; left -= BLOCK) hash.update(block.subarray(0, Math.min(left, BLOCK)));
  return hash.digest("hex");
}

/** In the app page: fetches `url`, reads the body to its end; bytes and ms (optionally checked). */
function pageDownload(page: Page, url: string, verify: boolean) {
  return page.evaluate(
    async ({ url, verify }) => {
      const start = performance.now();
      const response = await fetch(url, { cache: "no-store" });
      const reader = response.body!.getReader();
      let n = 0;
      let bad = -1;
      for (let part = await reader.read(); !part.done; part = await reader.read()) {
        if (verify && bad < 0) {
          for (let i = 0; i < part.value.length; i++) {
            if (part.value[i] !== (n + i) % 251) {
              bad = n + i;
              break;
            }
          }
        }
        n += part.value.length;
      }
      return { n, ms: performance.now() - start, bad };
    },
    { url, verify },
  );
}

/** In the app page: POSTs a Blob of edgePattern(0, size) (built before the clock starts). */
function pageUpload(page: Page, url: string, size: number) {
  return page.evaluate(
    async ({ url, size, blockLength }) => {
      const block = new Uint8Array(blockLength);
      for (let i = 0; i < blockLength; i++) block[i] = i % 251;
      const parts: Uint8Array[] = [];
      for (let left = size; left > 0; left -= blockLength) {
        parts.push(left >= blockLength ? block : block.subarray(0, left));
      }
      const body = new Blob(parts as BlobPart[]);
      const start = performance.now();
      const response = await fetch(url, { method: "POST", body, cache: "no-store" });
      const echo = (await response.json()) as { length: number; sha256: string };
      return { ...echo, ms: performance.now() - start };
    },
    { url, size, blockLength: BLOCK },
  );
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "corridor-bench-http-page-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const lab: PrivateUrlsLab = await startPrivateUrlsLab("hpb");
  cleanups.push(() => lab.close());
  const s = lab.host;
  const edge = await startEdgeApp({ host: s }, { port: EDGE_PORT });
  cleanups.push(() => edge.stop());
  const jupyter = jupyterPrereq().ok ? await startJupyter({ host: s }) : undefined;
  if (jupyter) cleanups.push(() => jupyter.stop());

  // The anchor: curl in namespace A, the kernel's TCP through wireguard-go to wireguard-go.
  const a = await createAnchorHost(s, { s: "10.204.0.1", a: "10.204.0.2" }, "hpa");
  cleanups.push(() => a.close());
  const theirs = (...args: string[]) =>
    timed([WG_TOOLS.ip, "netns", "exec", a.namespace, CURL, "-sS", "--fail", ...args]);

  const origin = lab.appOrigin(EDGE_PORT);
  const { page } = await openApp(lab, `${origin}/small`);

  // Correctness first, on 8 MiB: byte for byte down, digest up, by the page and by curl.
  const checked = await pageDownload(page, `${origin}/download?bytes=${CHECK}`, true);
  if (checked.n !== CHECK || checked.bad >= 0) {
    throw new Error(`page download: ${checked.n} bytes, first wrong byte at ${checked.bad}`);
  }
  const expected = patternSha(CHECK);
  const upCheck = await pageUpload(page, `${origin}/upload`, CHECK);
  if (upCheck.sha256 !== expected) throw new Error(`page upload: digest ${upCheck.sha256}`);
  const curlDown = await theirs(`${edge.url}/download?bytes=${CHECK}`);
  if (createHash("sha256").update(curlDown.out).digest("hex") !== expected) {
    throw new Error("curl download: wrong digest");
  }
  console.log(`correctness: ${CHECK / MiB} MiB down and up byte for byte by the page and curl`);

  const upFile = join(tmp, "up.bin");
  writeFileSync(upFile, edgePattern(0, SIZE));
  const upSha = patternSha(SIZE);
  const curlMs = (run: { out: Buffer }) => {
    const [bytes, seconds] = run.out.toString().split(" ");
    if (bytes !== String(SIZE)) throw new Error(`curl: ${bytes} bytes moved, not ${SIZE}`);
    return Number(seconds) * 1000;
  };

  // (a) bulk, rounds interleaved; the heap sampled through every download of the page.
  const cdp = await lab.context.newCDPSession(page);
  const parts = {
    pageDown: [] as number[],
    curlDown: [] as number[],
    pageUp: [] as number[],
    curlUp: [] as number[],
  };
  const peaks = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    await cdp.send("HeapProfiler.collectGarbage").catch(() => undefined);
    // "http://": the app page and service worker and the engine's SharedWorker (Corridor origin).
    const sampler = await sampleTargetHeaps(lab.browser, cdp, "http://", 100);
    const down = await pageDownload(page, `${origin}/download?bytes=${SIZE}`, false);
    for (const p of await sampler.stop()) {
      const name = p.type === "page" ? "app page" : `${p.type} ${new URL(p.url).pathname}`;
      peaks.set(name, Math.max(peaks.get(name) ?? 0, p.peak));
    }
    if (down.n !== SIZE) throw new Error(`page download: ${down.n} bytes, not ${SIZE}`);
    parts.pageDown.push(down.ms);
    parts.curlDown.push(
      curlMs(
        await theirs(
          "-o",
          "/dev/null",
          "-w",
          "%{size_download} %{time_total}",
          `${edge.url}/download?bytes=${SIZE}`,
        ),
      ),
    );
    const up = await pageUpload(page, `${origin}/upload`, SIZE);
    if (up.length !== SIZE || up.sha256 !== upSha) {
      throw new Error(`page upload: ${up.length} bytes, digest ${up.sha256}`);
    }
    parts.pageUp.push(up.ms);
    parts.curlUp.push(
      curlMs(
        await theirs(
          "-o",
          "/dev/null",
          "-w",
          "%{size_upload} %{time_total}",
          "-T",
          upFile,
          `${edge.url}/upload`,
        ),
      ),
    );
  }
  const rate = (ms: number[]) => SIZE / MiB / (median(ms) / 1000);
  const down = [rate(parts.pageDown), rate(parts.curlDown)] as const;
  const up = [rate(parts.pageUp), rate(parts.curlUp)] as const;
  const mib = (n: number) => (n / MiB).toFixed(1);
  const heapPeak = Math.max(...peaks.values());
  printTable(
    `(a) ${SIZE / MiB} MiB through the relay and wireguard-go, MiB/s (median of ${ROUNDS})`,
    ["transfer", "Chromium app tab", "curl, kernel (anchor)", "ratio", "target"],
    [
      [
        "download",
        down[0].toFixed(1),
        down[1].toFixed(1),
        formatRatio(down[0] / down[1]),
        ">= 0.50x",
      ],
      ["upload (Blob)", up[0].toFixed(1), up[1].toFixed(1), formatRatio(up[0] / up[1]), "-"],
    ],
    ["left", "right", "right", "right", "right"],
  );
  printTable(
    `JS heap peak during the ${SIZE / MiB} MiB download (Runtime.getHeapUsage every 100 ms), MiB`,
    ["target", "peak", "target"],
    [
      ...[...peaks].map(([name, peak]) => [name, mib(peak), ""]),
      [
        "largest",
        mib(heapPeak),
        `<= ${mib(HEAP_TARGET)} ${heapPeak <= HEAP_TARGET ? "PASS" : "MISS"}`,
      ],
    ],
    ["left", "right", "right"],
  );

  // (b) 100 small sequential fetches in the app page (the first one, untimed, warms up).
  const small = await page.evaluate(
    async ({ url, n }) => {
      await (await fetch(url, { cache: "no-store" })).text();
      const each: number[] = [];
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const r = await fetch(url, { cache: "no-store" });
        if ((await r.text()) !== "ok") throw new Error(`/small: ${r.status}`);
        each.push(performance.now() - t);
      }
      return { each, ms: performance.now() - start };
    },
    { url: `${origin}/small`, n: REQUESTS },
  );
  const pagePerSecond = REQUESTS / (small.ms / 1000);
  const run = await theirs(
    "-w",
    "\\n%{time_total}\\n",
    ...Array.from({ length: REQUESTS }, () => `${edge.url}/small`),
  );
  const curlLatency = run.out
    .toString()
    .split("\n")
    .filter((l) => /^\d+\.\d+$/.test(l))
    .map((l) => Number(l) * 1000)
    .slice(1); // the first one set the connection up
  const curlPerSecond = curlLatency.length / (curlLatency.reduce((x, y) => x + y, 0) / 1000);
  const row = (name: string, q: number) => [
    name,
    quantile(small.each, q).toFixed(2),
    quantile(curlLatency, q).toFixed(2),
    formatRatio(quantile(curlLatency, q) / quantile(small.each, q)),
  ];
  printTable(
    `(b) ${REQUESTS} small GETs over keep-alive, sequential`,
    ["measure", "Chromium app tab", "curl, kernel (anchor)", "ratio"],
    [
      row("p50 ms", 0.5),
      row("p99 ms", 0.99),
      [
        "requests/s",
        pagePerSecond.toFixed(0),
        curlPerSecond.toFixed(0),
        formatRatio(pagePerSecond / curlPerSecond),
      ],
    ],
    ["left", "right", "right", "right"],
  );

  if (jupyter === undefined) console.log(`\n(c) skipped: ${jupyterPrereq().reason}`);
  else await treePage(lab, jupyter, theirs, tmp, ROUNDS);
}

try {
  await main();
  console.log("\nratio: the browser against the anchor, > 1.00x when the browser is faster");
} catch (error) {
  console.error(`bench:http (browser): ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
} finally {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      console.error(`bench:http (browser) cleanup: ${(error as Error).message}`);
    }
  }
}
process.exit();
