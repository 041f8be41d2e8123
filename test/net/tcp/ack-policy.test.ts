// The receiver's ACK policy: ACK every second segment by default, one ACK (and one read for
// the application) per task with ackPerTask (what a relay BATCH of ~20 segments costs), and
// window updates after a read only while the window the sender last saw is under half the buffer.

import { describe, expect, it } from "vitest";
import type { TcpConnection, TcpStackOptions } from "../../../worker/net/tcp/stack.ts";
import { parseTcp, type TcpHeader } from "../../../worker/net/wire/tcp.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { A4, B4, MemoryLink, runUntil } from "./link.ts";

function h(seg: Uint8Array): TcpHeader {
  const r = parseTcp(seg);
  if (!r.ok) throw new Error(r.error);
  return r;
}

async function pair(stackOpts: TcpStackOptions) {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, { seed: 9, delayMs: 5 }, stackOpts);
  link.record = true;
  const listener = link.b.listen("any", 80, {});
  let server: TcpConnection | undefined;
  let client: TcpConnection | undefined;
  listener.accept().then((c) => {
    server = c;
  });
  link.a.connect(A4, B4, 80, {}).then((c) => {
    client = c;
  });
  await runUntil(clock, () => client !== undefined && server !== undefined, 10_000);
  return { clock, link, client: client!, server: server! };
}

/** Reads `c` to `n` bytes, counting the reads. */
function drain(c: TcpConnection, n: number) {
  const state = { got: 0, reads: 0 };
  (async () => {
    const reader = c.readable.getReader();
    while (state.got < n) {
      const { value, done } = await reader.read();
      if (done) break;
      state.got += value.length;
      state.reads++;
    }
  })();
  return state;
}

/** Pure ACKs the client (side a) sent since log index `from`. */
const pureAcks = (link: MemoryLink, from: number) =>
  link.log.slice(from).filter((e) => e.from === "a" && h(e.seg).payload.length === 0);

describe("TCP ACK policy", () => {
  it("20 segments that arrive in a few bursts: ~10 ACKs by default, one per burst with ackPerTask", async () => {
    const counts: number[] = [];
    const reads: number[] = [];
    for (const ackPerTask of [false, true]) {
      const { clock, link, client, server } = await pair({ ackPerTask });
      const got = drain(client, 20 * 1380);
      clock.advance(200); // the first window update after the SYN's 64 KiB is out of the way
      const n0 = link.log.length;
      await server.writable.getWriter().write(new Uint8Array(20 * 1380).fill(3));
      await runUntil(clock, () => got.got === 20 * 1380, 1000);
      clock.advance(100); // any delayed ACK too
      await runUntil(clock, () => true, 10);
      counts.push(pureAcks(link, n0).length);
      reads.push(got.reads);
      // Everything was acknowledged either way: the server has nothing in flight.
      expect(link.log.filter((e) => e.from === "a").at(-1)).toBeDefined();
      const last = h(link.log.filter((e) => e.from === "a").at(-1)!.seg);
      const lastData = h(
        link.log.filter((e) => e.from === "b" && h(e.seg).payload.length).at(-1)!.seg,
      );
      expect(last.ack).toBe((lastData.seq + lastData.payload.length) >>> 0);
    }
    expect(counts[0]).toBeGreaterThanOrEqual(10);
    // The sender's initial window lets the 20 out in two or three flights, each one task here.
    expect(counts[1]).toBeGreaterThanOrEqual(1);
    expect(counts[1]).toBeLessThanOrEqual(3);
    // And the application reads once per burst, not a lone first segment and then the rest.
    expect(reads[1]).toBeLessThanOrEqual(counts[1]! + 1);
    expect(reads[1]).toBeLessThan(reads[0]!);
  });

  it("ackPerTask still ACKs at once beyond 64 KiB unacknowledged, and a lone segment after 40 ms", async () => {
    const { clock, link, client, server } = await pair({ ackPerTask: true });
    const got = drain(client, 100 * 1380 + 10);
    clock.advance(200);
    const n0 = link.log.length;
    const writer = server.writable.getWriter();
    await writer.write(new Uint8Array(100 * 1380));
    await runUntil(clock, () => got.got === 100 * 1380, 2000);
    // 100 segments (138,000 bytes) that arrive together: at least two stretch ACKs, not ~50.
    const acks = pureAcks(link, n0).length;
    expect(acks).toBeGreaterThanOrEqual(2);
    expect(acks).toBeLessThan(20);
    clock.advance(200);
    await runUntil(clock, () => true, 10);
    const n1 = link.log.length;
    const t1 = clock.now();
    await writer.write(new Uint8Array(10));
    await runUntil(clock, () => pureAcks(link, n1).length > 0, 200);
    expect(clock.now() - t1).toBe(5 + 40); // one-way delay, then the delayed-ACK timer
  });

  it("reads send no window update while the sender's window is over half the buffer", async () => {
    const { clock, link, client, server } = await pair({ receiveWindow: 256 * 1024 });
    clock.advance(200);
    const n0 = link.log.length;
    // 40 KiB: never under half of 256 KiB, so reading it opens nothing the sender waits for.
    const got = drain(client, 40 * 1024);
    await server.writable.getWriter().write(new Uint8Array(40 * 1024));
    await runUntil(clock, () => got.got === 40 * 1024, 2000);
    clock.advance(100);
    await runUntil(clock, () => true, 10);
    const acks = pureAcks(link, n0).length;
    // ACKs of data only (one per two segments, 30 segments); none extra for the reads.
    expect(acks).toBeLessThanOrEqual(Math.ceil(Math.ceil((40 * 1024) / 1380) / 2) + 1);
    expect(got.reads).toBeGreaterThan(1);
  });
});
