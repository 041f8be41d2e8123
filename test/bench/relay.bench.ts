// Relay benchmark (`npm run bench:relay`). The relay (open auth, no logs, rate limit lifted) runs
// in a child process (relay-bench-server.ts) next to the anchor, a minimal `ws` server that
// forwards binary messages between two clients; the clients run here.
//
// (a) Forwarding: A sends SEND frames of 1420-byte packets to B's key, B receives RECV; A keeps at
//     most WINDOW frames in flight (counted at B). The same flow over the anchor, in alternating
//     rounds of the same run, is the reference: target >= 0.8 of it. Every packet is checked
//     (order, source key, bytes): a lost or corrupted frame fails the run.
// (b) Concurrency: N idle authenticated clients (20,000 x BENCH_SCALE, at least 500, capped by
//     the open-file limit) against a fresh relay process: its RSS growth per connection (target
//     <= 16 KiB) and hellos/s while connecting.
// (c) PING round trips through the relay, idle and while it carries the bulk flow of (a).
// (d) The rate limit at work (the figures test/relay/server-rate.test.ts used to print): a
//     client sending as fast as it can against the default per-client rate gets about that
//     rate (ratio to its allowance, burst + rate x time), and another client's PING round
//     trip meanwhile, against its idle round trip on the same relay.
//
// Timing never fails the run.

import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import {
  decodeFrame,
  encodeClientHello,
  encodeKeyed,
  PING,
  PONG,
  RECV,
  RELAY_SUBPROTOCOL,
  SEND,
} from "../../worker/relay/frames.ts";
import { nodeProof } from "../../worker/relay/proof.ts";
import { type NodeKeys, nodeKeys } from "../relay/raw-client.ts";
import { formatRate, formatRatio, printTable, timeScale, verdict } from "./harness.ts";

const PACKET = 1420;
const FRAME = 1 + 32 + PACKET;
const WINDOW = 256;
const ROUNDS = 7;
const ROUND_MS = Math.max(200, 500 * timeScale);
const PINGS = Math.max(100, Math.round(1000 * timeScale));
const STALL_MS = 3000;

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, "..", "..");
const core = await initCrypto();
const started = performance.now();

/** A correctness failure: report and exit non-zero. */
function fail(message: string): never {
  console.error(`relay bench: FAILED: ${message}`);
  process.exit(1);
}

// ---- the server child ----

interface ServerChild {
  child: ChildProcess;
  url: string;
  anchorUrl: string;
  rss(): Promise<{ rss: number; heapUsed: number }>;
  stop(): void;
}

async function startServer(options: Record<string, unknown> = {}): Promise<ServerChild> {
  const child = fork(join(benchDir, "relay-bench-server.ts"), [JSON.stringify(options)], {
    cwd: root,
    execArgv: ["--import", "tsx", "--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`relay child exited (${code})`));
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m as Record<string, unknown>);
      });
    });
  const ready = await next();
  return {
    child,
    url: String(ready.url),
    anchorUrl: String(ready.anchorUrl),
    rss: async () => {
      const reply = next();
      child.send("rss");
      return (await reply) as { rss: number; heapUsed: number };
    },
    stop: () => {
      if (child.connected) child.send("exit");
      setTimeout(() => child.kill(), 2000).unref();
    },
  };
}

// ---- clients ----

/** Connects to the relay and completes the hello; resolves after WELCOME. */
function relayClient(url: string, keys: NodeKeys): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, RELAY_SUBPROTOCOL, { perMessageDeflate: false });
    let done = false;
    const failed = (error: unknown) => {
      if (done) return;
      done = true;
      ws.removeAllListeners("message");
      ws.terminate();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    ws.on("error", failed);
    ws.once("unexpected-response", (_req, res) => failed(new Error(`HTTP ${res.statusCode}`)));
    ws.once("close", (code) => failed(new Error(`closed with ${code}`)));
    let state = 0;
    ws.on("message", (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.length));
      if (state === 0 && frame.type === "server-hello") {
        state = 1;
        nodeProof(core, nodeX25519, keys.privateKey, frame.relayKey, frame.challenge).then(
          (proof) => ws.send(encodeClientHello(keys.publicKey, proof)),
          failed,
        );
      } else if (state === 1 && frame.type === "welcome") {
        done = true;
        ws.removeAllListeners("message");
        resolve(ws);
      }
    });
  });
}

function anchorClient(url: string, id: string, to: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?id=${id}&to=${to}`, { perMessageDeflate: false });
    ws.on("error", reject);
    ws.once("open", () => resolve(ws));
  });
}

// ---- (a) a windowed one-way flow ----

interface Flow {
  name: string;
  src: WebSocket;
  dst: WebSocket;
  /** The frame A sends (type, destination key, packet). */
  template: Buffer;
  /** The type byte B must see, and the key in bytes 1..33 (the source for RECV). */
  expectType: number;
  expectKey: Buffer;
  seq: number;
}

/**
 * Runs the flow for `ms` (then drains what is in flight) and returns packets/s. A gap, a
 * reordering, a wrong key or wrong bytes, or no progress for STALL_MS, fails the run.
 */
function runFlow(flow: Flow, ms: number): Promise<{ packets: number; seconds: number }> {
  return new Promise((resolve) => {
    let sent = 0;
    let got = 0;
    let lastGot = 0;
    let lastProgress = performance.now();
    const start = performance.now();
    const stopAt = start + ms;
    const firstSeq = flow.seq;
    const { template, expectType, expectKey } = flow;
    let finished = false;
    const finish = () => {
      finished = true;
      clearInterval(watchdog);
      flow.dst.off("message", onMessage);
      flow.seq = firstSeq + sent;
      resolve({ packets: got, seconds: (performance.now() - start) / 1000 });
    };
    const pump = () => {
      if (finished) return;
      if (performance.now() >= stopAt) {
        if (got === sent) finish();
        return;
      }
      while (sent - got < WINDOW) {
        const frame = Buffer.allocUnsafe(FRAME);
        template.copy(frame);
        frame.writeUInt32BE((firstSeq + sent) >>> 0, 33);
        sent++;
        flow.src.send(frame);
      }
    };
    const onMessage = (data: Buffer) => {
      const seq = (firstSeq + got) >>> 0;
      if (data.length !== FRAME) fail(`${flow.name}: frame of ${data.length} bytes, want ${FRAME}`);
      if (data[0] !== expectType) fail(`${flow.name}: frame type ${data[0]}, want ${expectType}`);
      if (expectKey.compare(data, 1, 33) !== 0) fail(`${flow.name}: wrong key in frame`);
      const at = data.readUInt32BE(33);
      if (at !== seq) fail(`${flow.name}: packet ${at} arrived, want ${seq} (lost or reordered)`);
      if (template.compare(data, 37, FRAME, 37, FRAME) !== 0)
        fail(`${flow.name}: packet ${seq} corrupted`);
      got++;
      pump();
    };
    const watchdog = setInterval(() => {
      if (got !== lastGot) {
        lastGot = got;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > STALL_MS) {
        fail(`${flow.name}: no progress for ${STALL_MS} ms with ${sent - got} frames in flight`);
      }
    }, 250);
    flow.dst.on("message", onMessage);
    pump();
  });
}

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}

// ---- (c) PING ----

let pingCounter = 0;
function ping(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    const data = Buffer.alloc(9);
    data[0] = PING;
    data.writeUInt32BE(++pingCounter, 5);
    const start = performance.now();
    const timer = setTimeout(() => fail("PING: no PONG within 5 s"), 5000);
    const onMessage = (reply: Buffer) => {
      if (reply.length === 9 && reply[0] === PONG && reply.compare(data, 1, 9, 1, 9) === 0) {
        clearTimeout(timer);
        ws.off("message", onMessage);
        resolve(performance.now() - start);
      }
    };
    ws.on("message", onMessage);
    ws.send(data);
  });
}

async function pings(ws: WebSocket, count: number, until?: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count && !(until?.() ?? false)) out.push(await ping(ws));
  return out;
}

// ================================================================================================
// (a) and (c)

const server = await startServer();
const [ka, kb, kc] = [await nodeKeys(), await nodeKeys(), await nodeKeys()];
const [ra, rb, rc] = [
  await relayClient(server.url, ka),
  await relayClient(server.url, kb),
  await relayClient(server.url, kc),
];
const [aa, ab] = [
  await anchorClient(server.anchorUrl, "a", "b"),
  await anchorClient(server.anchorUrl, "b", "a"),
];
const packet = Buffer.from(new Uint8Array(PACKET).map((_, i) => (i * 7 + 3) & 0xff));
const relayFlow: Flow = {
  name: "relay",
  src: ra,
  dst: rb,
  template: Buffer.from(encodeKeyed(SEND, kb.publicKey, packet)),
  expectType: RECV,
  expectKey: Buffer.from(ka.publicKey),
  seq: 0,
};
const anchorFlow: Flow = {
  name: "anchor",
  src: aa,
  dst: ab,
  template: Buffer.from(encodeKeyed(SEND, kb.publicKey, packet)),
  expectType: SEND,
  expectKey: Buffer.from(kb.publicKey),
  seq: 0,
};

// Warm up both paths (this is also the correctness check), then alternate rounds.
await runFlow(relayFlow, ROUND_MS / 2);
await runFlow(anchorFlow, ROUND_MS / 2);
console.log(
  `correctness: ${relayFlow.seq} relay and ${anchorFlow.seq} anchor packets arrived in order, intact`,
);
const rates = { relay: [] as number[], anchor: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, flow] of [
    ["relay", relayFlow],
    ["anchor", anchorFlow],
  ] as const) {
    const { packets, seconds } = await runFlow(flow, ROUND_MS);
    rates[name].push(packets / seconds);
  }
}
const relayPps = median(rates.relay);
const anchorPps = median(rates.anchor);
const ratio = relayPps / anchorPps;
const spread = (v: number[]) =>
  `${Math.round(((Math.max(...v) - Math.min(...v)) / median(v)) * 100)}%`;
printTable(
  `(a) Forwarding A -> B, ${PACKET}-byte packets, window ${WINDOW} frames (anchor: plain ws forwarder, same run)`,
  ["path", "packets/s", "MB/s", "round spread", "vs anchor"],
  [
    ["plain ws forwarder (anchor)", anchorPps, rates.anchor],
    ["relay SEND -> RECV", relayPps, rates.relay],
  ].map(([name, pps, all]) => [
    name as string,
    formatRate(pps as number),
    formatRate(((pps as number) * PACKET) / 1e6),
    spread(all as number[]),
    formatRatio((pps as number) / anchorPps),
  ]),
  ["left", "right", "right", "right", "right"],
);

// (c) idle, then under the bulk flow (another client, and the sender's own connection).
const idle = await pings(rc, PINGS);
let bulkDone = false;
const bulk = runFlow(relayFlow, Math.max(1500, 4000 * timeScale)).then((r) => {
  bulkDone = true;
  return r;
});
await new Promise((r) => setTimeout(r, 100));
// Both at once, so both see the whole flow.
const [loaded, loadedOwn] = await Promise.all([
  pings(rc, PINGS, () => bulkDone),
  pings(ra, PINGS, () => bulkDone),
]);
const bulkResult = await bulk;
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "-");
printTable(
  "(c) PING round trip through the relay, ms (client and relay on one machine, relay in its own process)",
  ["condition", "samples", "p50", "p99"],
  [
    ["idle", idle],
    [
      `other client, relay carrying ${formatRate((bulkResult.packets * PACKET) / bulkResult.seconds / 1e6)} MB/s`,
      loaded,
    ],
    ["on the bulk sender's own connection", loadedOwn],
  ].map(([name, v]) => [
    name as string,
    String((v as number[]).length),
    ms(percentile(v as number[], 0.5)),
    ms(percentile(v as number[], 0.99)),
  ]),
  ["left", "right", "right", "right"],
);
for (const ws of [ra, rb, rc, aa, ab]) ws.terminate();
server.stop();

// ================================================================================================
// (b) idle clients against a fresh relay process

function openFileLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

const WARM = 100;
const wanted = Math.max(500, Math.round(20_000 * timeScale));
const fdLimit = openFileLimit();
// Each client is one fd here and one in the relay child; keep a margin for everything else.
const target = fdLimit === undefined ? wanted : Math.min(wanted, fdLimit - 256);
const capped = target < wanted;
const fresh = await startServer();
const keys: NodeKeys[] = [];
for (let i = 0; i < target + WARM; i++) keys.push(await nodeKeys());
const idleClients: WebSocket[] = [];
let stopReason = "";

async function connectMany(from: number, to: number): Promise<void> {
  let nextIndex = from;
  const worker = async () => {
    while (stopReason === "" && nextIndex < to) {
      const i = nextIndex++;
      try {
        idleClients.push(await relayClient(fresh.url, keys[i]!));
      } catch (error) {
        stopReason ||= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: 128 }, worker));
}

await connectMany(0, WARM);
await new Promise((r) => setTimeout(r, 200));
const before = await fresh.rss();
const helloStart = performance.now();
await connectMany(WARM, WARM + target);
const helloSeconds = (performance.now() - helloStart) / 1000;
const reached = idleClients.length - WARM;
await new Promise((r) => setTimeout(r, 300));
const after = await fresh.rss();
const perConn = (after.rss - before.rss) / Math.max(1, reached);
const heapPerConn = (after.heapUsed - before.heapUsed) / Math.max(1, reached);
const kib = (b: number) => (b / 1024).toFixed(1);
printTable(
  "(b) Idle authenticated clients (relay in its own process; RSS after a forced GC)",
  ["measure", "value"],
  [
    ["clients wanted (20,000 x BENCH_SCALE, >= 500)", String(wanted)],
    ["open-file limit (soft, this process)", fdLimit === undefined ? "unlimited" : String(fdLimit)],
    [
      "clients connected (beyond 100 warm-up)",
      `${reached}${capped ? " (capped by fd limit)" : ""}`,
    ],
    ["stopped early", stopReason === "" ? "no" : stopReason],
    ["hellos/s while connecting (128 in flight)", formatRate(reached / helloSeconds)],
    ["relay RSS growth", `${((after.rss - before.rss) / 2 ** 20).toFixed(1)} MiB`],
    ["relay RSS per connection", `${kib(perConn)} KiB`],
    ["relay JS heap per connection", `${kib(heapPerConn)} KiB`],
  ],
  ["left", "right"],
);
for (const ws of idleClients) ws.terminate();
fresh.stop();

// ================================================================================================
// (d) a client held at the default rate limit, and another client's round trip meanwhile

const RATE = { bytesPerSecond: 12_500_000, burstBytes: 1 << 20 };
const limited = await startServer({ rate: RATE });
const [kf, ks, kp] = [await nodeKeys(), await nodeKeys(), await nodeKeys()];
const [flooder, floodSink, prober] = [
  await relayClient(limited.url, kf),
  await relayClient(limited.url, ks),
  await relayClient(limited.url, kp),
];
const idleOnLimited = await pings(prober, PINGS);
let sunkBytes = 0;
floodSink.on("message", (data: Buffer) => {
  if (data[0] === RECV) sunkBytes += data.length;
});
const floodFrame = Buffer.from(encodeKeyed(SEND, ks.publicKey, packet));
const floodMs = Math.max(1500, 4000 * timeScale);
const floodStart = performance.now();
let flooding = true;
// As fast as the relay reads: keep 64 frames in this process's buffer (TCP backpressure does
// the rest), so the figure is the relay's rate limit, not this process's memory.
const flood = (async () => {
  while (performance.now() - floodStart < floodMs) {
    const written: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) {
      written.push(new Promise((resolve) => flooder.send(floodFrame, () => resolve())));
    }
    await Promise.all(written);
  }
  flooding = false;
})();
const duringFlood = await pings(prober, PINGS * 10, () => !flooding);
await flood;
const floodSeconds = (performance.now() - floodStart) / 1000;
const allowance = RATE.burstBytes + RATE.bytesPerSecond * floodSeconds;
printTable(
  `(d) One client sending all it can against the per-client rate limit (${formatRate(RATE.bytesPerSecond / 1e6)} MB/s, burst 1 MiB)`,
  ["measure", "value"],
  [
    ["bytes through in", `${formatRate(sunkBytes / 1e6)} MB in ${floodSeconds.toFixed(2)} s`],
    ["vs its allowance (burst + rate x time)", formatRatio(sunkBytes / allowance)],
    [
      "another client's PING p50 / p99, idle",
      `${ms(percentile(idleOnLimited, 0.5))} / ${ms(percentile(idleOnLimited, 0.99))} ms`,
    ],
    [
      "the same during the flood",
      `${ms(percentile(duringFlood, 0.5))} / ${ms(percentile(duringFlood, 0.99))} ms (${duringFlood.length} samples)`,
    ],
  ],
  ["left", "right"],
);
for (const ws of [flooder, floodSink, prober]) ws.terminate();
limited.stop();

printTable(
  "Targets (information only; never fail the run)",
  ["metric", "measured", "target", ""],
  [
    ["relay forwarding vs plain ws forwarder", formatRatio(ratio), ">= 0.8x", verdict(ratio, 0.8)],
    [
      "relay RSS per idle connection",
      `${kib(perConn)} KiB`,
      "<= 16 KiB",
      reached > 0 ? verdict(-perConn, -16 * 1024) : "-",
    ],
  ],
  ["left", "right", "left", "left"],
);
console.log(`\nrelay bench: ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(0);
