// Hostile TCP: seeded fuzzing of the segment parser, and of a TcpStack that holds a live
// connection (random and mutated segments with valid checksums, for its 4-tuple and others).
// Nothing may throw, and the stack must still carry a fresh connection intact afterwards.

import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import type { TcpConnection } from "../../../worker/net/tcp/stack.ts";
import { emitTcp, parseTcp, setTcpChecksum, TcpFlag } from "../../../worker/net/wire/tcp.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { seededBytes, seededInts } from "../../helpers/seeded.ts";
import { A4, B4, MemoryLink, runUntil } from "./link.ts";

const rnd = seededBytes(0x7c9f);
const ri = seededInts(0x7ca0);

/** A valid segment with every option kind, to mutate from. */
function sample(payload: number): Uint8Array {
  return emitTcp(
    {
      srcPort: 40000 + ri(1000),
      dstPort: 22,
      seq: ri(2 ** 32),
      ack: ri(2 ** 32),
      flags: TcpFlag.ACK | (ri(2) ? TcpFlag.PSH : 0),
      window: ri(65536),
      options: {
        mss: 1380,
        windowScale: 7,
        sackPermitted: true,
        sack: [[1, 2]],
        timestamp: { value: 5, echo: 6 },
      },
    },
    A4,
    B4,
    rnd(payload),
  );
}

function mutate(segment: Uint8Array): Uint8Array {
  const out = segment.slice(0, ri(3) === 0 ? ri(segment.length + 1) : segment.length);
  const flips = 1 + ri(6);
  for (let i = 0; i < flips && out.length > 0; i++) out[ri(out.length)] = ri(256);
  return out;
}

it("the segment parser never throws on 50,000 random and mutated segments", () => {
  let parsed = 0;
  for (let i = 0; i < 50_000; i++) {
    const input = i % 3 === 0 ? rnd(ri(80)) : mutate(sample(ri(64)));
    const result = parseTcp(input);
    if (result.ok) {
      parsed++;
      expect(result.payload.buffer).toBe(input.buffer);
    } else {
      expect(result.error).toMatch(/\S/);
    }
  }
  console.log(`fuzz tcp parser: 50000 inputs, ${parsed} parsed`);
});

async function connect(link: MemoryLink, clock: FakeClock, port: number) {
  const listener = link.b.listen("any", port);
  let server: TcpConnection | undefined;
  let client: TcpConnection | undefined;
  listener.accept().then((c) => {
    server = c;
  });
  link.a.connect(A4, B4, port).then((c) => {
    client = c;
  });
  await runUntil(clock, () => client !== undefined && server !== undefined, 10_000);
  return { client: client!, server: server! };
}

it("a stack with a live connection survives 30,000 hostile segments and still carries data", async () => {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, { seed: 11, delayMs: 5 });
  link.record = true;
  const { client } = await connect(link, clock, 22);
  const real = link.log.map((e) => e.seg);
  const tuplePorts = [client.localPort, 22];
  let injected = 0;
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < 100; i++) {
      let segment: Uint8Array;
      const kind = ri(4);
      if (kind === 0) {
        segment = rnd(ri(80)); // garbage, mostly bad checksums
      } else {
        segment = mutate(kind === 1 ? real[ri(real.length)]! : sample(ri(200)));
        if (segment.length >= 20 && kind !== 3) {
          // aim at the live connection's 4-tuple, with a valid checksum
          segment[0] = tuplePorts[1]! >> 8;
          segment[1] = tuplePorts[1]! & 0xff;
          segment[2] = tuplePorts[0]! >> 8;
          segment[3] = tuplePorts[0]! & 0xff;
          setTcpChecksum(segment, B4, A4);
        }
      }
      link.a.receive(B4, A4, segment);
      injected++;
    }
    clock.advance(ri(50));
    await Promise.resolve();
  }
  expect(injected).toBe(30_000);
  // Whatever became of the attacked connection, a new one carries 256 KiB intact.
  const { client: c2, server: s2 } = await connect(link, clock, 2222);
  const data = rnd(256 * 1024);
  const writer = c2.writable.getWriter();
  void writer.write(data).then(() => writer.close());
  const chunks: Uint8Array[] = [];
  let done = false;
  (async () => {
    const reader = s2.readable.getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      chunks.push(value);
    }
    done = true;
  })();
  await runUntil(clock, () => done, 60_000);
  const got = createHash("sha256").update(Buffer.concat(chunks)).digest("hex");
  expect(got).toBe(createHash("sha256").update(data).digest("hex"));
  console.log(
    `fuzz tcp stack: ${injected} hostile segments, stats ${JSON.stringify({
      checksumErrors: link.a.stats.checksumErrors,
      malformed: link.a.stats.malformed,
      resetsSent: link.a.stats.resetsSent,
      noSocket: link.a.stats.noSocket,
    })}`,
  );
});
