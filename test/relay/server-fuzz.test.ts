// Fuzzes the relay's frame handling with >= 100,000 seeded frames (random, mutated, hostile)
// from raw authenticated ws clients. The fuzzer predicts, from the shared codec, which frames
// must close the connection (4400 protocol error, 1009 too big) and checks the server does
// exactly that, reconnecting after each close; every few hundred frames a PING proves the
// server processed everything before it. Meanwhile a well-behaved pair exchanges numbered
// packets, which must all arrive, in order.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import {
  CLIENT_HELLO,
  decodeFrame,
  encodeKeyed,
  encodePing,
  encodeUdp,
  HEALTH,
  PEER_GONE,
  PING,
  PONG,
  RECV,
  RECV_UDP,
  RESTARTING,
  SEND,
  SEND_UDP,
  SERVER_HELLO,
  WELCOME,
} from "../../worker/relay/frames.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import {
  connectAuthed,
  type NodeKeys,
  nodeKeys,
  type RawClient,
  startTestRelay,
} from "./raw-client.ts";

const TOTAL_FRAMES = 100_000;
const FUZZERS = 4;
const SYNC_EVERY = 256;
const MAX_MESSAGE = 1 + 32 + 65535;

type Expect = "ok" | 4400 | 1009;

/** What the server must do with a message, judged by the shared codec. */
function classify(message: Uint8Array | string): Expect {
  if (typeof message === "string") return 4400;
  if (message.length > MAX_MESSAGE) return 1009;
  switch (decodeFrame(message).type) {
    case "send":
    case "send-udp":
    case "ping":
    case "pong":
    case "unknown":
      return "ok";
    default:
      return 4400; // invalid, or a frame only the server sends, or a second hello
  }
}

const KNOWN = new Set([
  SERVER_HELLO,
  CLIENT_HELLO,
  WELCOME,
  SEND,
  RECV,
  SEND_UDP,
  RECV_UDP,
  PING,
  PONG,
  PEER_GONE,
  HEALTH,
  RESTARTING,
]);

/** A seeded generator of messages for one fuzzer. */
function generator(seed: number, ownKey: Uint8Array, otherKey: Uint8Array) {
  const int = seededInts(seed);
  const bytes = seededBytes(seed ^ 0x5eed);
  const key = () => {
    const c = int(8);
    return c < 2 ? ownKey : c === 2 ? otherKey : bytes(32);
  };
  const endpoint = () => ({ address: bytes(16), port: int(65536) });
  const packet = () => bytes(int(16) === 0 ? int(1500) : int(120));
  const valid = (): Uint8Array => {
    const c = int(10);
    if (c < 5) return encodeKeyed(SEND, key(), packet());
    if (c < 7) return encodePing(PING, bytes(8));
    if (c < 8) return encodeUdp(SEND_UDP, endpoint(), packet());
    if (c < 9) return encodePing(PONG, bytes(8));
    let type = int(256);
    while (KNOWN.has(type)) type = int(256);
    const out = bytes(1 + int(64));
    out[0] = type;
    return out;
  };
  const mutate = (m: Uint8Array): Uint8Array => {
    const c = int(4);
    if (c === 0) return m.subarray(0, int(m.length + 1)); // truncate
    if (c === 1) {
      const out = new Uint8Array(m.length + 1 + int(40)); // extend
      out.set(m);
      out.set(bytes(out.length - m.length), m.length);
      return out;
    }
    const out = new Uint8Array(m);
    for (let n = 1 + int(3); n > 0 && out.length > 0; n--) {
      const at = int(out.length);
      out[at] = out[at]! ^ (1 << int(8));
    }
    if (c === 3 && out.length > 0) out[0] = int(0x40); // retype into the known range
    return out;
  };
  return (): Uint8Array | string => {
    const c = int(1000);
    if (c < 900) return valid();
    if (c < 975) return mutate(valid());
    if (c < 985) return bytes(int(80)); // pure noise (the empty message included)
    if (c < 990) {
      const out = bytes(1 + int(90));
      out[0] = [SERVER_HELLO, CLIENT_HELLO, WELCOME, RECV, RECV_UDP, PEER_GONE, HEALTH][int(7)]!;
      return out;
    }
    if (c < 995) return "text is a protocol error";
    if (c < 998) return encodeKeyed(RECV, key(), packet());
    const big = new Uint8Array(MAX_MESSAGE + 1 + int(100));
    big[0] = SEND;
    return big;
  };
}

interface FuzzStats {
  sent: number;
  ok: number;
  closes: Record<string, number>;
  reconnects: number;
  received: Record<string, number>;
}

async function runFuzzer(
  url: string,
  seed: number,
  keys: NodeKeys,
  other: NodeKeys,
  frames: number,
  stats: FuzzStats,
): Promise<void> {
  const next = generator(seed, keys.publicKey, other.publicKey);
  const connect = async () => {
    const client = await connectAuthed(url, keys, { keep: false });
    client.onFrame = (frame) => {
      stats.received[frame.type] = (stats.received[frame.type] ?? 0) + 1;
    };
    return client;
  };
  let client: RawClient = await connect();
  let sinceSync = 0;
  for (let i = 0; i < frames; i++) {
    const message = next();
    const expected = classify(message);
    client.send(message);
    stats.sent++;
    if (expected === "ok") {
      stats.ok++;
      if (++sinceSync >= SYNC_EVERY) {
        sinceSync = 0;
        await client.ping(10_000); // everything before it was processed without a close
      }
      continue;
    }
    const closed = await Promise.race([
      client.closed,
      new Promise<{ code: number }>((_, reject) =>
        setTimeout(() => reject(new Error(`seed ${seed} frame ${i}: no close`)), 10_000),
      ),
    ]);
    if (closed.code !== expected) {
      throw new Error(`seed ${seed} frame ${i}: closed ${closed.code}, expected ${expected}`);
    }
    stats.closes[closed.code] = (stats.closes[closed.code] ?? 0) + 1;
    stats.reconnects++;
    client = await connect();
    sinceSync = 0;
  }
  await client.ping(10_000);
  client.ws.terminate();
}

/** The well-behaved pair: numbered packets both ways until told to stop; all must arrive. */
async function runPair(url: string, done: () => boolean) {
  const [a, b] = await Promise.all([nodeKeys(), nodeKeys()]);
  const ca = await connectAuthed(url, a, { keep: false });
  const cb = await connectAuthed(url, b, { keep: false });
  const got = { a: [] as number[], b: [] as number[], other: 0 };
  const track = (list: number[], from: Uint8Array) => (frame: ReturnType<typeof decodeFrame>) => {
    if (frame.type !== "recv") return;
    if (!frame.key.every((v, i) => v === from[i])) got.other++;
    else list.push(new DataView(frame.packet.buffer, frame.packet.byteOffset).getUint32(0));
  };
  ca.onFrame = track(got.a, b.publicKey);
  cb.onFrame = track(got.b, a.publicKey);
  const packet = (n: number) => {
    const p = new Uint8Array(64);
    new DataView(p.buffer).setUint32(0, n);
    return p;
  };
  let sent = 0;
  let maxRtt = 0;
  while (!done() || sent < 2000) {
    for (let i = 0; i < 20; i++, sent++) {
      ca.sendTo(b.publicKey, packet(sent));
      cb.sendTo(a.publicKey, packet(sent));
    }
    const [ra, rb] = await Promise.all([ca.ping(), cb.ping()]);
    maxRtt = Math.max(maxRtt, ra, rb);
  }
  ca.ws.terminate();
  cb.ws.terminate();
  return { sent, got, maxRtt };
}

describe("relay fuzz", () => {
  let relay: RelayServer;
  beforeAll(async () => {
    ({ relay } = await startTestRelay({
      rate: { bytesPerSecond: 1e9, burstBytes: 1e8 },
      queueLimit: 4096,
    }));
  });
  afterAll(async () => {
    await relay.close();
  });

  it(`survives ${TOTAL_FRAMES} seeded frames while a pair keeps talking`, async () => {
    const stats: FuzzStats = { sent: 0, ok: 0, closes: {}, reconnects: 0, received: {} };
    const keys = await Promise.all(Array.from({ length: FUZZERS }, () => nodeKeys()));
    let fuzzDone = false;
    const pair = runPair(relay.url, () => fuzzDone);
    const started = performance.now();
    await Promise.all(
      keys.map((k, i) =>
        runFuzzer(
          relay.url,
          0xc0ff + i,
          k,
          keys[(i + 1) % FUZZERS]!,
          Math.ceil(TOTAL_FRAMES / FUZZERS),
          stats,
        ),
      ),
    );
    fuzzDone = true;
    const seconds = (performance.now() - started) / 1000;
    const { sent, got, maxRtt } = await pair;
    const framesIn = await relay.metrics.value("corridor_relay_frames_in_total");
    const drops = await relay.metrics.byLabel("corridor_relay_drops_total");
    console.log(
      `fuzz: ${stats.sent} frames sent (${stats.ok} accepted, closes ${JSON.stringify(stats.closes)}, ` +
        `${stats.reconnects} reconnects) in ${seconds.toFixed(1)} s; received ${JSON.stringify(stats.received)}; ` +
        `relay frames_in ${framesIn}, drops ${JSON.stringify(drops)}; ` +
        `pair: ${sent} packets each way, max PING RTT ${maxRtt.toFixed(1)} ms`,
    );
    expect(stats.sent).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    expect(framesIn).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    expect(stats.reconnects).toBeGreaterThan(100);
    expect(got.other).toBe(0);
    expect(got.a).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(got.b).toEqual(Array.from({ length: sent }, (_, i) => i));
    // The relay is still healthy and clean.
    const probe = await connectAuthed(relay.url, await nodeKeys());
    await probe.ping();
    probe.ws.terminate();
    // 100,000 frames with a hello per reconnect: ~20 s alone, ~55 s beside other suites on two
    // cores (a client's s→c type, UDP_ERROR included, closes its connection).
  }, 180_000);
});
