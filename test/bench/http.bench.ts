// HTTP benchmark (`npm run bench:http`): the engine's HTTP client (worker/http) over userspace
// TCP and WireGuard in Node, against `curl` over a kernel route, both to the same real servers,
// in one run. Every figure has its anchor beside it; nothing here asserts a timing.
//
//   (a) 256 MiB download and upload (BENCH_SCALE scales the size): the engine's HttpPool in this
//       process (the transfer alone) and `corridor curl --wg-config` (a child process, as a
//       person runs it: wall time, its start-up included) against `curl`'s time_total;
//   (b) 100 small requests over one keep-alive connection: p50/p99 latency and requests/s, the
//       engine's HttpPool in this process (what `corridor curl` and the private-URL engine use)
//       against one `curl` with 100 URLs (it reuses its connection);
//   (c) a Jupyter Notebook tree page load, logged in: the HTML, every /static/ file it
//       references and the API calls the tree page makes at start, six at a time as a browser;
//       the engine cold (new connections) and warm (kept-alive ones) against `curl --parallel`.
//
// Topology (as test/bench/tcp.bench.ts): namespace S runs wireguard-go (tunnel 100.64.0.2) with
// the aiohttp edge app (test/fixtures/apps/edge_app.py) on :8080 and Jupyter on :8888
// (test/helpers/apps.ts); our engine reaches S over its veth from the root namespace; the anchor
// `curl` runs in namespace A (wireguard-go, tunnel 100.64.0.3), joined to S by a veth pair: the
// kernel's TCP through wireguard-go to wireguard-go.
//
// Prerequisites: root, wireguard-go, wg, ip, curl, python3-aiohttp (and jupyter-notebook for
// (c)). Missing ones skip with exit 0, or exit 1 under CI=true. A wrong byte count or digest
// exits 1 (correctness); timing never fails anything.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startMeshNet } from "../../server/mesh-net.ts";
import { HttpPool, httpRequest } from "../../worker/http/index.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import {
  edgeAppPrereq,
  edgePattern,
  type JupyterApp,
  jupyterPrereq,
  startEdgeApp,
  startJupyter,
} from "../helpers/apps.ts";
import { check, executable, inCI, prereq } from "../helpers/prereq.ts";
import { ourWgConfigText, writeOurWgConfig } from "../interop/our-wg-config.ts";
import { createWgHost, WG_TOOLS, wgHostPrereq } from "../interop/wg-host.ts";
import { formatRatio, printTable, timeScale } from "./harness.ts";
import { createAnchorHost } from "./kernel-anchor.ts";

const MiB = 1024 * 1024;
const SIZE = Math.max(8, Math.round(256 * timeScale)) * MiB;
const ROUNDS =
  Number.parseInt(process.env.BENCH_ROUNDS ?? "", 10) >= 1
    ? Number.parseInt(process.env.BENCH_ROUNDS!, 10)
    : Math.max(1, Math.round(3 * timeScale));
const CHECK = 8 * MiB;
const REQUESTS = 100;
const CURL = "/usr/bin/curl";
const CLI = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const need = prereq(
  ...[wgHostPrereq(), edgeAppPrereq()].flatMap((p) => p.missing).map((w) => check(w, false)),
  executable(CURL),
);
if (!need.ok) {
  console.log(`bench:http skipped: ${need.reason}`);
  process.exit(inCI() ? 1 : 0);
}

const cleanups: (() => Promise<void> | void)[] = [];
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

/** Runs a command to its end; resolves with stdout, wall milliseconds and the exit code. */
function timed(cmd: readonly string[]): Promise<{ out: Buffer; ms: number; err: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child: ChildProcess = spawn(cmd[0]!, cmd.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - start;
      if (code !== 0) reject(new Error(`${cmd.slice(0, 6).join(" ")} ... exited ${code}: ${err}`));
      else resolve({ out: Buffer.concat(out), ms, err });
    });
  });
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), "corridor-bench-http-"));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const ourKey = generatePrivateKey();
  const s = await createWgHost({
    peer: {
      publicKey: keyToBase64(await nodeX25519.publicKey(ourKey)),
      allowedIps: "100.64.0.1/32",
    },
    prefix: "chb",
    logLevel: "error",
  });
  cleanups.push(() => s.close());
  const a = await createAnchorHost(s, { s: "10.203.0.1", a: "10.203.0.2" }, "chb");
  cleanups.push(() => a.close());
  const config = writeOurWgConfig(tmp, ourKey, s);
  // The engine in this process is a peer of its own: were it the corridor curl children's key,
  // each child's handshake would replace its session at wireguard-go and stall its traffic.
  const engineKey = generatePrivateKey();
  await s.setPeer({
    publicKey: keyToBase64(await nodeX25519.publicKey(engineKey)),
    allowedIps: "100.64.0.4/32",
  });
  const engineConfig = join(tmp, "engine.conf");
  writeFileSync(
    engineConfig,
    ourWgConfigText(engineKey, s).replace("Address = 100.64.0.1/32", "Address = 100.64.0.4/32"),
    { mode: 0o600 },
  );

  const edge = await startEdgeApp({ host: s });
  cleanups.push(() => edge.stop());
  const jupyter = jupyterPrereq().ok ? await startJupyter({ host: s }) : undefined;
  if (jupyter) cleanups.push(() => jupyter.stop());

  const ours = (...args: string[]) =>
    timed([process.execPath, CLI, "curl", "--wg-config", config, ...args]);
  const theirs = (...args: string[]) =>
    timed([WG_TOOLS.ip, "netns", "exec", a.namespace, CURL, "-sS", "--fail", ...args]);

  // Correctness first, on 8 MiB (the timed rounds then only count bytes): a download and an
  // upload arrive whole by both clients.
  const checkFile = join(tmp, "check.bin");
  writeFileSync(checkFile, edgePattern(0, CHECK));
  const expected = sha(edgePattern(0, CHECK));
  const verify = async (
    name: string,
    run: Promise<{ out: Buffer }>,
    digest: (out: Buffer) => string,
  ) => {
    const got = digest((await run).out);
    if (got !== expected) throw new Error(`${name}: digest ${got}, expected ${expected}`);
  };
  const echoed = (out: Buffer) => (JSON.parse(out.toString()) as { sha256: string }).sha256;
  await verify("corridor curl download", ours("-s", `${edge.url}/download?bytes=${CHECK}`), sha);
  await verify("curl download", theirs(`${edge.url}/download?bytes=${CHECK}`), sha);
  await verify("corridor curl upload", ours("-s", "-T", checkFile, `${edge.url}/upload`), echoed);
  await verify("curl upload", theirs("-T", checkFile, `${edge.url}/upload`), echoed);
  console.log(
    `correctness: ${CHECK / MiB} MiB down and up byte for byte by corridor curl and curl`,
  );
  const upFile = join(tmp, "up.bin");
  writeFileSync(upFile, edgePattern(0, SIZE));

  // The engine in this process: what corridor curl runs, without its start-up; its own pool.
  const mesh = await startMeshNet(engineConfig);
  cleanups.push(() => mesh.close());
  const pool = new HttpPool({
    maxPerService: 6,
    dial: async (host, port) => {
      const address = parseIp(host, "host");
      const c = await mesh.net.tcp.connect(mesh.net.sourceFor(address), address, port, {
        timeoutMs: 10_000,
      });
      return { readable: c.readable, writable: c.writable, close: () => c.abort("closed") };
    },
  });
  const get = async (url: string, headers: [string, string][] = []) => {
    const response = await httpRequest(pool, { method: "GET", url, headers });
    const body = new Uint8Array(await new Response(response.body).arrayBuffer());
    return { status: response.status, headers: response.headers, body };
  };

  // (a) bulk, rounds interleaved. corridor curl's figure is its wall time (its start-up
  // included: what a person waits); the engine's and curl's (time_total) the transfer alone.
  const down = [
    "-o",
    "/dev/null",
    "-w",
    "%{size_download} %{time_total}",
    `${edge.url}/download?bytes=${SIZE}`,
  ];
  const up = [
    "-o",
    "/dev/null",
    "-w",
    "%{size_upload} %{time_total}",
    "-T",
    upFile,
    `${edge.url}/upload`,
  ];
  const curlMs = (run: { out: Buffer }) => {
    const [bytes, seconds] = run.out.toString().split(" ");
    if (bytes !== String(SIZE)) throw new Error(`curl: ${bytes} bytes moved, not ${SIZE}`);
    return Number(seconds) * 1000;
  };
  const engineDown = async () => {
    const start = performance.now();
    const r = await httpRequest(pool, {
      method: "GET",
      url: `${edge.url}/download?bytes=${SIZE}`,
      decode: false,
    });
    let n = 0;
    const reader = r.body.getReader();
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      n += part.value.length;
    }
    if (n !== SIZE) throw new Error(`engine download: ${n} bytes, not ${SIZE}`);
    return performance.now() - start;
  };
  const engineUp = async () => {
    const block = edgePattern(0, 64 * 1024); // as a file stream reads (corridor curl -T)
    let left = SIZE;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left <= 0) return controller.close();
        const k = Math.min(left, block.length);
        controller.enqueue(block.slice(0, k));
        left -= k;
      },
    });
    const start = performance.now();
    const r = await httpRequest(pool, { method: "PUT", url: `${edge.url}/upload`, body });
    const echo = JSON.parse(await new Response(r.body).text()) as { length: number };
    if (echo.length !== SIZE) throw new Error(`engine upload: ${echo.length} bytes, not ${SIZE}`);
    return performance.now() - start;
  };
  const parts = {
    engineDown: [] as number[],
    oursDown: [] as number[],
    theirsDown: [] as number[],
    engineUp: [] as number[],
    oursUp: [] as number[],
    theirsUp: [] as number[],
  };
  for (let round = 0; round < ROUNDS; round++) {
    parts.engineDown.push(await engineDown());
    parts.oursDown.push((await ours("-s", ...down)).ms);
    parts.theirsDown.push(curlMs(await theirs(...down)));
    parts.engineUp.push(await engineUp());
    parts.oursUp.push((await ours("-s", "-o", "/dev/null", "-T", upFile, `${edge.url}/upload`)).ms);
    parts.theirsUp.push(curlMs(await theirs(...up)));
  }
  const rate = (ms: number[]) => SIZE / MiB / (median(ms) / 1000);
  const bulk = [
    ["download", rate(parts.engineDown), rate(parts.oursDown), rate(parts.theirsDown)],
    ["upload", rate(parts.engineUp), rate(parts.oursUp), rate(parts.theirsUp)],
  ] as const;
  printTable(
    `(a) ${SIZE / MiB} MiB through wireguard-go, MiB/s (median of ${ROUNDS})`,
    ["transfer", "engine in Node", "corridor curl (wall)", "curl, kernel (anchor)", "ratio"],
    bulk.map(([name, e, o, t]) => [
      name,
      e.toFixed(1),
      o.toFixed(1),
      t.toFixed(1),
      formatRatio(e / t),
    ]),
    ["left", "right", "right", "right", "right"],
  );

  // (b) 100 requests over keep-alive: the engine's pool in this process, one connection.
  await get(`${edge.url}/small`); // the connection is up before timing
  const oursLatency: number[] = [];
  const startAll = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    const r = await get(`${edge.url}/small`);
    oursLatency.push(performance.now() - t);
    if (r.status !== 200) throw new Error(`/small: ${r.status}`);
  }
  const oursPerSecond = REQUESTS / ((performance.now() - startAll) / 1000);
  const urls = Array.from({ length: REQUESTS }, () => `${edge.url}/small`);
  const run = await theirs("-w", "\\n%{time_total}\\n", ...urls);
  // time_total of a reused connection is its request alone (DNS, connect: 0).
  const theirsLatency = run.out
    .toString()
    .split("\n")
    .filter((l) => /^\d+\.\d+$/.test(l))
    .map((l) => Number(l) * 1000)
    .slice(1);
  const theirsPerSecond = theirsLatency.length / (theirsLatency.reduce((x, y) => x + y, 0) / 1000);
  const p = (xs: number[], q: number) => quantile(xs, q).toFixed(2);
  printTable(
    `(b) ${REQUESTS} small GETs over keep-alive`,
    ["measure", "engine (HttpPool)", "curl, kernel (anchor)", "ratio"],
    [
      [
        "p50 ms",
        p(oursLatency, 0.5),
        p(theirsLatency, 0.5),
        formatRatio(quantile(theirsLatency, 0.5) / quantile(oursLatency, 0.5)),
      ],
      [
        "p99 ms",
        p(oursLatency, 0.99),
        p(theirsLatency, 0.99),
        formatRatio(quantile(theirsLatency, 0.99) / quantile(oursLatency, 0.99)),
      ],
      [
        "requests/s",
        oursPerSecond.toFixed(0),
        theirsPerSecond.toFixed(0),
        formatRatio(oursPerSecond / theirsPerSecond),
      ],
    ],
    ["left", "right", "right", "right"],
  );

  // (c) Jupyter's tree page, logged in.
  if (jupyter === undefined) {
    console.log(`\n(c) skipped: ${jupyterPrereq().reason}`);
  } else {
    await treePage(jupyter, get, theirs, () => {
      pool.closeIdle();
    });
  }
}

type Get = (
  url: string,
  headers?: [string, string][],
) => Promise<{ status: number; headers: [string, string][]; body: Uint8Array }>;

/** Logs in to Jupyter through the engine, then times the tree page's requests both ways. */
async function treePage(
  j: JupyterApp,
  get: Get,
  theirs: (...args: string[]) => Promise<{ out: Buffer; ms: number }>,
  closeIdle: () => void,
): Promise<void> {
  const cookieOf = (headers: [string, string][]) =>
    headers.filter(([n]) => n.toLowerCase() === "set-cookie").map(([, v]) => v.split(";")[0]!);
  // The token in the query logs in and sets the session cookie (as the printed URL does).
  const first = await get(`${j.url}/tree?token=${j.token}`);
  const cookie = cookieOf(first.headers).join("; ");
  if (!/username-/.test(cookie)) throw new Error(`jupyter: no session cookie (${first.status})`);
  const headers: [string, string][] = [["Cookie", cookie]];
  const html = new TextDecoder().decode((await get(`${j.url}/tree`, headers)).body);
  const assets = [...html.matchAll(/(?:src|href)="(\/(?:static|custom)\/[^"]+)"/g)].map(
    (m) => m[1]!,
  );
  const api = [
    "/api/contents?type=directory",
    "/api/sessions",
    "/api/terminals",
    "/api/kernelspecs",
    "/api/config/tree",
    "/api/config/common",
    "/api/config/notebook",
  ];
  const paths = ["/tree", ...new Set(assets), ...api];
  const load = async () => {
    const start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < paths.length) {
        const r = await get(`${j.url}${paths[next++]!}`, headers);
        if (r.status >= 400) throw new Error(`jupyter ${paths[next - 1]}: ${r.status}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    return performance.now() - start;
  };
  const cold: number[] = [];
  const warm: number[] = [];
  const anchor: number[] = [];
  const curlArgs = [
    "--parallel",
    "--parallel-max",
    "6",
    "-H",
    `Cookie: ${cookie}`,
    ...paths.flatMap((p) => ["-o", "/dev/null", `${j.url}${p}`]),
  ];
  for (let round = 0; round < Math.max(3, ROUNDS); round++) {
    closeIdle();
    cold.push(await load());
    warm.push(await load());
    anchor.push((await theirs(...curlArgs)).ms);
  }
  printTable(
    `(c) Jupyter tree page: ${paths.length} requests (HTML, ${new Set(assets).size} static files, ${api.length} API calls), ms`,
    ["load", "engine (HttpPool)", "curl --parallel, kernel (anchor)", "ratio"],
    [
      [
        "cold (new connections)",
        median(cold).toFixed(0),
        median(anchor).toFixed(0),
        formatRatio(median(anchor) / median(cold)),
      ],
      [
        "warm (keep-alive)",
        median(warm).toFixed(0),
        median(anchor).toFixed(0),
        formatRatio(median(anchor) / median(warm)),
      ],
    ],
    ["left", "right", "right", "right"],
  );
}

try {
  await main();
  console.log("\nratio: engine against the anchor, > 1.00x when the engine is faster");
} catch (error) {
  console.error(`bench:http: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
} finally {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      console.error(`bench:http cleanup: ${(error as Error).message}`);
    }
  }
}
process.exit();
