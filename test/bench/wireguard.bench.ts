// WireGuard engine benchmark (`npm run bench:wireguard`): two devices in one process over the
// in-memory Bind, 1420-byte IP packets, one direction and both, stated as a fraction of the
// bare batch AEAD (seal and open of the same packets) measured in the same run; and complete
// Noise handshakes per second for each X25519 provider.

import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { loadCryptoCore, type X25519Provider, x25519Providers } from "../../worker/crypto/index.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { CookieChecker, CookieGenerator } from "../../worker/wireguard/cookie.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  type KeyPair,
  type NoiseCrypto,
} from "../../worker/wireguard/noise.ts";
import { ipv4 } from "../wireguard/device-pair.ts";
import {
  formatRate,
  formatRatio,
  measureGroupAsync,
  printTable,
  timeScale,
  verdict,
} from "./harness.ts";

const PACKET = 1420;
const BURST = 64;
const core = await loadCryptoCore();

function keyPair(seed: number): Uint8Array {
  const k = new Uint8Array(32).map((_, i) => (i * 31 + seed * 17) & 0xff);
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

// Two devices over a MemoryNetwork, on the real clock.
const network = new MemoryNetwork();
const received = { a: 0, b: 0 };
const makeDevice = (name: "a" | "b", seed: number) =>
  Device.create({
    privateKey: keyPair(seed),
    bind: network.bind(`${name}:${seed}`),
    core,
    x25519: nodeX25519,
    clock: systemClock,
    onPacket: () => {
      received[name]++;
    },
  });
const a = await makeDevice("a", 1);
const b = await makeDevice("b", 2);
await a.addPeer({ publicKey: b.publicKey, endpoint: "b:2", allowedIps: ["10.0.0.2/32"] });
await b.addPeer({ publicKey: a.publicKey, endpoint: "a:1", allowedIps: ["10.0.0.1/32"] });

const payload = new Uint8Array(PACKET - 20).fill(7);
const toB = Array.from({ length: BURST }, () => ipv4("10.0.0.1", "10.0.0.2", payload));
const toA = Array.from({ length: BURST }, () => ipv4("10.0.0.2", "10.0.0.1", payload));

/** Waits until both sides have received what they are owed (or a second passes: loss). */
async function until(wantA: number, wantB: number): Promise<void> {
  const deadline = performance.now() + 1000;
  while ((received.a < wantA || received.b < wantB) && performance.now() < deadline) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (received.a < wantA || received.b < wantB) throw new Error("wireguard bench: packets lost");
}

async function oneWay(): Promise<void> {
  const want = received.b + BURST;
  for (const p of toB) a.send(p);
  await until(received.a, want);
}

async function bothWays(): Promise<void> {
  const [wantA, wantB] = [received.a + BURST, received.b + BURST];
  for (let i = 0; i < BURST; i++) {
    a.send(toB[i]!);
    b.send(toA[i]!);
  }
  await until(wantA, wantB);
}

// Establish the session, then check the path works before timing it.
await oneWay();
await bothWays();
console.log("correctness: a session is up and 1420-byte packets arrive both ways");

// The bare batch AEAD: what seal-then-open of the same packets costs without the engine.
const padded = Math.ceil(PACKET / 16) * 16;
const sealer = core.createAeadBatch({ capacity: BURST, maxPacket: padded });
const opener = core.createAeadBatch({ capacity: BURST, maxPacket: padded });
sealer.setKey(0, keyPair(3));
opener.setKey(0, keyPair(3));
let counter = 0;
function bareSealOpen(): void {
  for (let i = 0; i < BURST; i++) sealer.setPacket(i, 0, counter + i, padded);
  sealer.seal(BURST);
  for (let i = 0; i < BURST; i++) {
    opener.input(i).set(sealer.output(i).subarray(0, padded + 16));
    opener.setPacket(i, 0, counter + i, padded + 16);
  }
  if (opener.open(BURST) !== 0) throw new Error("bare AEAD: open failed");
  counter += BURST;
}

// The rounds of the anchor and of the devices interleave (in a rotating order), and each
// figure is the median over rounds of the ratio within a round: on a shared machine a burst of
// load from a neighbour then hits all three alike (measured apart, the ratio swung from 0.58x
// to 0.91x between two runs of the same code). Each round is timed twice: by the clock, and by
// this process's CPU time (process.cpuUsage), which a neighbour's load barely moves; the
// engine's cost per packet is what the CPU-time ratio states.
interface DataCase {
  name: string;
  fn: () => Promise<void>;
  bytes: number;
  packets: number;
}
interface DataResult {
  packetsPerSec: number;
  mbPerSec: number;
  /** Median over rounds of this case's rate over the anchor's, by the clock and by CPU time. */
  wallRatio: number;
  cpuRatio: number;
}
const ROUNDS = 9;
const ROUND_MS = 150 * timeScale;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] ?? 0;

async function interleaved(cases: DataCase[]): Promise<DataResult[]> {
  const run = async (c: DataCase) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let calls = 0;
    while (performance.now() - t0 < ROUND_MS) {
      await c.fn();
      calls++;
    }
    const cpu = process.cpuUsage(c0);
    return {
      wall: (calls * c.bytes) / ((performance.now() - t0) / 1000),
      cpu: (calls * c.bytes) / ((cpu.user + cpu.system) / 1e6),
      packets: (calls * c.packets) / ((performance.now() - t0) / 1000),
    };
  };
  for (const c of cases) await run(c); // warm-up
  const rounds: Awaited<ReturnType<typeof run>>[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = new Array<Awaited<ReturnType<typeof run>>>(cases.length);
    for (let k = 0; k < cases.length; k++) {
      const i = (k + r) % cases.length;
      round[i] = await run(cases[i]!);
    }
    rounds.push(round);
  }
  return cases.map((_, i) => ({
    packetsPerSec: median(rounds.map((round) => round[i]!.packets)),
    mbPerSec: median(rounds.map((round) => round[i]!.wall)) / 1e6,
    wallRatio: median(rounds.map((round) => round[i]!.wall / round[0]!.wall)),
    cpuRatio: median(rounds.map((round) => round[i]!.cpu / round[0]!.cpu)),
  }));
}

const [bare, one, both] = await interleaved([
  { name: "bare", fn: async () => bareSealOpen(), bytes: BURST * PACKET, packets: BURST },
  { name: "one way", fn: oneWay, bytes: BURST * PACKET, packets: BURST },
  { name: "both ways", fn: bothWays, bytes: 2 * BURST * PACKET, packets: 2 * BURST },
]);
const rows = [
  ["batch AEAD seal+open (bare)", bare!],
  ["device a -> b", one!],
  ["devices a <-> b", both!],
] as const;
printTable(
  `WireGuard data path, 1420-byte packets, one process, median of ${ROUNDS} interleaved rounds (anchor: bare batch AEAD seal+open)`,
  ["path", "packets/s", "MB/s", "vs bare (clock)", "vs bare (CPU time)"],
  rows.map(([name, m]) => [
    name,
    formatRate(m.packetsPerSec),
    formatRate(m.mbPerSec),
    formatRatio(m.wallRatio),
    formatRatio(m.cpuRatio),
  ]),
  ["left", "right", "right", "right", "right"],
);

// Complete handshakes: initiation, consumption, response, consumption, with the MACs.
async function handshakesPerSecond(x25519: X25519Provider) {
  const nc: NoiseCrypto = { core, x25519 };
  const pair = async (seed: number): Promise<KeyPair> => {
    const privateKey = keyPair(seed);
    return { privateKey, publicKey: await x25519.publicKey(privateKey) };
  };
  const [i, r] = [await pair(11), await pair(12)];
  const iShared = await x25519.sharedSecret(i.privateKey, r.publicKey);
  const rShared = await x25519.sharedSecret(r.privateKey, i.publicKey);
  const checker = new CookieChecker(core, r.publicKey, systemClock);
  const generator = new CookieGenerator(core, r.publicKey, systemClock);
  const psk = new Uint8Array(32);
  let seed = 100;
  let timestamp = 1n;
  const one = async () => {
    const stamp = new Uint8Array(12);
    new DataView(stamp.buffer).setBigUint64(0, 0x400000000000000an + timestamp++);
    const { message, handshake } = await createInitiation(nc, {
      localStatic: i,
      remoteStatic: r.publicKey,
      staticShared: iShared,
      presharedKey: psk,
      ephemeral: await pair(seed++),
      localIndex: 1,
      timestamp: stamp,
    });
    generator.addMacs(message);
    if (!checker.checkMac1(message)) throw new Error("mac1");
    const consumed = await consumeInitiation(nc, r, message, () => rShared);
    if (!consumed) throw new Error("initiation refused");
    const { message: response } = await createResponse(nc, consumed, {
      ephemeral: await pair(seed++),
      localIndex: 2,
      presharedKey: psk,
    });
    if (!(await consumeResponse(nc, handshake, response))) throw new Error("response refused");
  };
  await one();
  const [m] = await measureGroupAsync([{ name: x25519.name, fn: one }], { maxCallsPerRound: 2000 });
  return m!;
}
const providers: X25519Provider[] = [nodeX25519];
for (const p of x25519Providers()) if (await p.available()) providers.push(p);
const handshakeRows: string[][] = [];
for (const p of providers)
  handshakeRows.push([p.name, formatRate((await handshakesPerSecond(p)).opsPerSec)]);
printTable(
  "Complete WireGuard handshakes (both sides, one process)",
  ["X25519 provider", "handshakes/s"],
  handshakeRows,
  ["left", "right"],
);

printTable(
  "Targets (information only; never fail the run)",
  ["metric", "measured", "target", ""],
  [
    [
      "device a -> b vs bare batch AEAD seal+open, CPU time",
      formatRatio(one!.cpuRatio),
      ">= 0.7x",
      verdict(one!.cpuRatio, 0.7),
    ],
    [
      "device a -> b vs bare batch AEAD seal+open, clock",
      formatRatio(one!.wallRatio),
      ">= 0.7x",
      verdict(one!.wallRatio, 0.7),
    ],
  ],
  ["left", "right", "left", "left"],
);
await a.close();
await b.close();
