// TCP benchmark (`npm run bench:tcp`), every figure against an anchor measured in the same run:
//
//   (a) bulk TCP from our engine (Device + UdpBind + NetInterface in this process, as
//       server/mesh-net.ts builds them) through wireguard-go to a kernel TCP sink in a namespace;
//   (b) the anchor: kernel TCP to the same sink, wireguard-go to wireguard-go, from a second
//       namespace; target (a)/(b) >= 0.5 (issue 5);
//   (c) our engine to our engine in one process over the in-memory link;
//   (d) the RTT of our ping (NetInterface.ping, what `corridor ping` runs) against the kernel's
//       `ping` (iputils), both through wireguard-go to the same tunnel address.
//
// Topology. Namespace S runs wireguard-go (tunnel 100.64.0.2) and the sink, a Python server
// that reads and discards in 1 MiB recv calls and answers the byte count when the sender
// half-closes. Our engine reaches S over S's veth to the root namespace; namespace A
// (wireguard-go, tunnel 100.64.0.3, Python sender) reaches it over a veth pair joining A and S
// directly. No routing through the root namespace, so no sysctl (ip_forward) or firewall
// (FORWARD policy) of the machine is touched; the pair goes with the namespaces.
//
// A transfer is timed from the established connection to the sink's byte count (so every byte
// has been received); the rounds of (a), (b) and (c) are interleaved and the median reported,
// as measureGroup does. BENCH_SCALE scales the bytes per round.
//
// Prerequisites: Linux, root, wireguard-go, wg, ip, /dev/net/tun, python3 and ping
// (scripts/install-deps.sh). Missing ones skip the benchmark with exit 0, except under CI=true,
// where it exits 1 as a test would (DESIGN.md §5: CI installs them, so missing means broken).
// A transfer that does not complete or delivers the wrong byte count exits 1 (correctness, as
// in the other benchmarks); timing never fails anything.

import { randomBytes } from "node:crypto";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBind } from "../../server/udp-bind.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";
import { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection } from "../../worker/net/tcp/stack.ts";
import type { Bind } from "../../worker/wireguard/bind.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import { executable, exists, inCI, linux, prereq, root } from "../helpers/prereq.ts";
import { createWgHost, type WgHost } from "../interop/wg-host.ts";
import { WG_TOOLS } from "../interop/wg-tools.ts";
import { benchRounds, formatRate, formatRatio, printTable, timeScale, verdict } from "./harness.ts";
import { createAnchorHost, senderScript, startKernelSink } from "./kernel-anchor.ts";

const PYTHON = "/usr/bin/python3";
const PING = "/usr/bin/ping";
const MiB = 1024 * 1024;
const BYTES = Math.max(8, Math.round(64 * timeScale)) * MiB; // per round
/** Rounds of each transfer (BENCH_ROUNDS overrides; CI runs 1). */
const ROUNDS = benchRounds(5);
const PINGS = 20;
const PING_INTERVAL_MS = 50;
const SINK_PORT = 5001;
const CHUNK = 256 * 1024; // one write() of our sender
const TRANSFER_TIMEOUT_MS = 120_000;

const need = prereq(
  linux(),
  root(),
  executable(WG_TOOLS.wireguardGo),
  executable(WG_TOOLS.wg),
  executable(WG_TOOLS.ip),
  exists("/dev/net/tun"),
  executable(PYTHON),
  executable(PING),
);
if (!need.ok) {
  // prereq() has printed "[skip] ..." outside CI.
  if (inCI()) {
    console.error(`tcp bench: ${need.reason}`);
    process.exit(1);
  }
  console.log(`tcp bench: skipped, ${need.reason}`);
  process.exit(0);
}

// The kernel sender: N bytes in 1 MiB sendall calls, half-close, wait for the count.
const SENDER = senderScript(60, `print(reply.decode().strip(), time.perf_counter() - start)`);

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An engine (Device + IP interface) on a Bind, peered with one peer. */
interface Engine {
  device: Device;
  net: NetInterface;
}

async function makeEngine(
  core: CryptoCore,
  bind: Bind,
  privateKey: Uint8Array,
  address: string,
  peer: { publicKey: Uint8Array; endpoint?: string; allowedIps: string[] },
): Promise<Engine> {
  let net: NetInterface | undefined;
  const device = await Device.create({
    privateKey,
    bind,
    core,
    x25519: nodeX25519,
    clock: systemClock,
    mtu: 1420,
    onPacket: (packet) => net?.receive(packet),
  });
  net = new NetInterface({
    addresses: [address],
    output: (packet) => {
      device.send(packet);
    },
    clock: systemClock,
    randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
    mtu: 1420,
  });
  await device.addPeer(peer);
  return { device, net };
}

/** Reads a stream to its end. */
async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(r.value.slice());
    length += r.value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const payload = new Uint8Array(randomBytes(CHUNK));

/** Result of one timed transfer. */
interface Transfer {
  mbPerSec: number;
  retransmissions: number;
}

/**
 * Our sender: connects, writes `bytes`, half-closes and waits for the sink's count; timed from
 * the established connection to the count.
 */
async function engineSend(net: NetInterface, to: string, bytes: number): Promise<Transfer> {
  const destination = parseIp(to);
  const run = async (): Promise<Transfer> => {
    const conn: TcpConnection = await net.tcp.connect(
      net.sourceFor(destination),
      destination,
      SINK_PORT,
      { timeoutMs: 10_000 },
    );
    const start = performance.now();
    const writer = conn.writable.getWriter();
    for (let sent = 0; sent < bytes; sent += CHUNK) {
      const n = Math.min(CHUNK, bytes - sent);
      await writer.write(n === CHUNK ? payload : payload.subarray(0, n));
    }
    await writer.close();
    const reply = new TextDecoder().decode(await readAll(conn.readable)).trim();
    const seconds = (performance.now() - start) / 1000;
    if (reply !== String(bytes))
      throw new Error(`sink counted ${reply || "nothing"}, sent ${bytes}`);
    return { mbPerSec: bytes / 1e6 / seconds, retransmissions: conn.stats.retransmissions };
  };
  return withTimeout(run(), TRANSFER_TIMEOUT_MS, `engine -> ${to}`);
}

/** The kernel sender in namespace A. */
async function kernelSend(a: WgHost, to: string, bytes: number): Promise<Transfer> {
  const before = (await snmp(a)).get("Tcp.RetransSegs") ?? Number.NaN;
  const result = await a.exec([PYTHON, "-c", SENDER, to, String(SINK_PORT), String(bytes)], {
    timeoutMs: TRANSFER_TIMEOUT_MS,
  });
  const [count, seconds] = result.stdout.trim().split(/\s+/);
  if (result.code !== 0 || count !== String(bytes) || !(Number(seconds) > 0)) {
    throw new Error(
      `kernel sender: exit ${result.code}, sink counted ${count ?? "nothing"} of ${bytes}: ${result.stderr.trim()}`,
    );
  }
  const after = (await snmp(a)).get("Tcp.RetransSegs") ?? Number.NaN;
  return { mbPerSec: bytes / 1e6 / Number(seconds), retransmissions: after - before };
}

/** Our sink on an in-process engine: same protocol as the Python one. */
function engineSink(net: NetInterface): void {
  const listener = net.tcp.listen("any", SINK_PORT);
  const serve = async (conn: TcpConnection) => {
    let n = 0;
    const reader = conn.readable.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
    const writer = conn.writable.getWriter();
    await writer.write(new TextEncoder().encode(`${n}\n`));
    await writer.close();
  };
  const loop = async () => {
    for (;;) {
      const conn = await listener.accept();
      serve(conn).catch((error: Error) => console.error(`memory sink: ${error.message}`));
    }
  };
  loop().catch(() => {});
}

/** A namespace's /proc/net/snmp counters, as "Tcp.RetransSegs" -> value. */
async function snmp(host: WgHost): Promise<Map<string, number>> {
  const text = (await host.exec(["cat", "/proc/net/snmp"])).stdout;
  const counters = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = (lines[i] ?? "").split(/\s+/);
    const values = (lines[i + 1] ?? "").split(/\s+/);
    const group = names[0]?.replace(/:$/, "");
    for (let j = 1; j < names.length; j++) counters.set(`${group}.${names[j]}`, Number(values[j]));
  }
  return counters;
}

/** Median RTT (ms) of `ping` lines "time=0.123 ms". */
function parsePingTimes(text: string): number[] {
  return [...text.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanUp(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      console.error(`tcp bench cleanup: ${(error as Error).message}`);
    }
  }
}
// Ctrl-C: exit through process.exit so wg-host's exit hook removes the namespaces.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

async function main(): Promise<void> {
  const core = await initCrypto();

  // Namespace S: wireguard-go with the sink, peered with our engine.
  const ourKey = generatePrivateKey();
  const ourPublic = await nodeX25519.publicKey(ourKey);
  const s = await createWgHost({
    peer: { publicKey: keyToBase64(ourPublic), allowedIps: "100.64.0.1/32" },
    prefix: "cwb",
    logLevel: "error",
  });
  cleanups.push(() => s.close());

  // Namespace A: wireguard-go and the kernel sender, joined to S by its own veth pair.
  const a = await createAnchorHost(s, { s: "10.202.0.1", a: "10.202.0.2" }, "cwb");
  cleanups.push(() => a.close());

  // The sink in S.
  await startKernelSink(s, PYTHON, SINK_PORT);

  // (a) our engine over UDP to S.
  const bind = new UdpBind();
  const engine = await makeEngine(core, bind, ourKey, "100.64.0.1/32", {
    publicKey: keyFromBase64(s.publicKey),
    endpoint: `${s.hostAddress}:${s.listenPort}`,
    allowedIps: ["100.64.0.0/24"],
  });
  cleanups.push(() => engine.device.close());

  // (c) two engines over the memory link.
  const memory = new MemoryNetwork();
  const [xKey, yKey] = [generatePrivateKey(), generatePrivateKey()];
  const [xPublic, yPublic] = [await nodeX25519.publicKey(xKey), await nodeX25519.publicKey(yKey)];
  const x = await makeEngine(core, memory.bind("x:1"), xKey, "10.0.0.1/32", {
    publicKey: yPublic,
    endpoint: "y:2",
    allowedIps: ["10.0.0.2/32"],
  });
  cleanups.push(() => x.device.close());
  const y = await makeEngine(core, memory.bind("y:2"), yKey, "10.0.0.2/32", {
    publicKey: xPublic,
    endpoint: "x:1",
    allowedIps: ["10.0.0.1/32"],
  });
  cleanups.push(() => y.device.close());
  engineSink(y.net);

  // Correctness and warm-up: every path carries a short transfer with the right count.
  const warm = 4 * MiB;
  await kernelSend(a, s.tunnelAddress, warm);
  await engineSend(engine.net, s.tunnelAddress, warm);
  await engineSend(x.net, "10.0.0.2", warm);
  console.log(
    `correctness: ${warm / MiB} MiB arrive counted on every path (kernel -> wireguard-go, engine -> wireguard-go, engine -> engine)`,
  );

  const udpDrops = async () => {
    const c = await snmp(s);
    return (c.get("Udp.RcvbufErrors") ?? 0) + (c.get("Udp.InErrors") ?? 0);
  };
  const dropsBefore = await udpDrops();
  const rounds = { kernel: [] as Transfer[], engine: [] as Transfer[], memory: [] as Transfer[] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.kernel.push(await kernelSend(a, s.tunnelAddress, BYTES));
    rounds.engine.push(await engineSend(engine.net, s.tunnelAddress, BYTES));
    rounds.memory.push(await engineSend(x.net, "10.0.0.2", BYTES));
  }
  const rate = (t: Transfer[]) => median(t.map((v) => v.mbPerSec));
  const spread = (t: Transfer[]) => {
    const rates = t.map((v) => v.mbPerSec);
    return (Math.max(...rates) - Math.min(...rates)) / rate(t);
  };
  const retrans = (t: Transfer[]) =>
    t.some((v) => Number.isNaN(v.retransmissions))
      ? "-"
      : String(t.reduce((sum, v) => sum + v.retransmissions, 0));
  const anchor = rate(rounds.kernel);
  const rows: [string, Transfer[]][] = [
    ["kernel TCP, wireguard-go -> wireguard-go (anchor)", rounds.kernel],
    ["our engine -> wireguard-go -> kernel TCP", rounds.engine],
    ["our engine -> our engine, memory link, one process", rounds.memory],
  ];
  printTable(
    `Bulk TCP, ${BYTES / MiB} MiB per transfer, median of ${ROUNDS} (anchor: kernel TCP through wireguard-go)`,
    ["path", "MB/s", "vs anchor", "spread", "retransmits"],
    rows.map(([name, t]) => [
      name,
      formatRate(rate(t)),
      formatRatio(rate(t) / anchor),
      `${Math.round(spread(t) * 100)}%`,
      retrans(t),
    ]),
    ["left", "right", "right", "right", "right"],
  );

  console.log(
    `\nUDP datagrams the sink's namespace dropped (receive buffer full) during the rounds: ${(await udpDrops()) - dropsBefore}; ` +
      `our UdpBind send errors: ${bind.stats.sendErrors}. Retransmits: kernel from /proc/net/snmp in A, ours from the connections' stats, totals over the rounds.`,
  );

  // (d) RTT: our ping from the engine, the kernel's from namespace A, to the same address.
  const ours: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    ours.push(await engine.net.ping(s.tunnelAddress, { timeoutMs: 2000 }));
    await sleep(PING_INTERVAL_MS);
  }
  const kernelPing = await a.exec(
    [
      PING,
      "-n",
      "-c",
      String(PINGS),
      "-i",
      String(PING_INTERVAL_MS / 1000),
      "-W",
      "2",
      s.tunnelAddress,
    ],
    { timeoutMs: 30_000 },
  );
  const theirs = parsePingTimes(kernelPing.stdout);
  if (theirs.length === 0) throw new Error(`kernel ping got no reply: ${kernelPing.stdout}`);
  const ourMedian = median(ours);
  const kernelMedian = median(theirs);
  const ms = (v: number) => v.toFixed(3);
  printTable(
    `Ping RTT through wireguard-go to ${s.tunnelAddress}, ${PINGS} pings ${PING_INTERVAL_MS} ms apart (anchor: the kernel's ping)`,
    ["pinger", "median ms", "min ms", "max ms", "vs anchor"],
    [
      [
        "kernel ping(8) + wireguard-go (anchor)",
        ms(kernelMedian),
        ms(Math.min(...theirs)),
        ms(Math.max(...theirs)),
        formatRatio(1),
      ],
      [
        "our NetInterface.ping (corridor ping)",
        ms(ourMedian),
        ms(Math.min(...ours)),
        ms(Math.max(...ours)),
        formatRatio(ourMedian / kernelMedian),
      ],
    ],
    ["left", "right", "right", "right", "right"],
  );

  const ratio = rate(rounds.engine) / anchor;
  printTable(
    "Targets (information only; never fail the run)",
    ["metric", "measured", "target", ""],
    [
      [
        "our engine -> kernel vs kernel -> kernel, both through wireguard-go",
        formatRatio(ratio),
        ">= 0.5x",
        verdict(ratio, 0.5),
      ],
    ],
    ["left", "right", "left", "left"],
  );
}

let status = 0;
try {
  await main();
} catch (error) {
  console.error(`tcp bench: ${(error as Error).stack ?? error}`);
  status = 1;
} finally {
  await cleanUp();
}
// Protocol timers (TIME_WAIT, WireGuard's) must not hold the process.
process.exit(status);
