// RACK-style lost-retransmission detection and the tail loss probe (worker/net/tcp/rack.ts):
// losses that the SACK sweep alone would leave to the retransmission timeout.

import { describe, expect, it } from "vitest";
import type { TcpConnection } from "../../../worker/net/tcp/stack.ts";
import { parseTcp, type TcpHeader } from "../../../worker/net/wire/tcp.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { A4, B4, MemoryLink, runUntil } from "./link.ts";

const MSS = 1380;

function h(seg: Uint8Array): TcpHeader {
  const r = parseTcp(seg);
  if (!r.ok) throw new Error(r.error);
  return r;
}

async function pair() {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, { seed: 9, delayMs: 10 });
  const l = link.b.listen("any", 22);
  let server: TcpConnection | undefined;
  let client: TcpConnection | undefined;
  l.accept().then((c) => {
    server = c;
  });
  link.a.connect(A4, B4, 22).then((c) => {
    client = c;
  });
  await runUntil(clock, () => client !== undefined && server !== undefined, 10_000);
  return { clock, link, client: client!, server: server! };
}

function count(c: TcpConnection) {
  const out = { bytes: 0 };
  (async () => {
    const r = c.readable.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      out.bytes += value.length;
    }
  })();
  return out;
}

/** Drops the first `times` transmissions of data segment number `index` (0-based) from a. */
function dropSegment(link: MemoryLink, index: number, times: number): void {
  let base: number | undefined;
  let dropped = 0;
  link.opts.filter = (from, seg) => {
    const t = h(seg);
    if (from !== "a" || t.payload.length === 0) return false;
    base ??= t.seq;
    if (t.seq !== (base + index * MSS) >>> 0 || dropped >= times) return false;
    dropped++;
    return true;
  };
}

describe("RACK-lite and tail loss probes", () => {
  it("a lost fast retransmission is resent without waiting for the RTO", async () => {
    const { clock, link, client, server } = await pair();
    const got = count(server);
    dropSegment(link, 2, 2); // the original and its fast retransmission
    const size = 60 * MSS;
    await client.writable.getWriter().write(new Uint8Array(size));
    const took = await runUntil(clock, () => got.bytes === size, 5000);
    expect(client.stats.timeouts).toBe(0);
    expect(client.stats.fastRetransmits).toBe(1);
    expect(client.stats.retransmissions).toBe(2);
    expect(took).toBeLessThan(200); // well within one RTO (200 ms) of the loss
  });

  it("a lost last segment is recovered by a tail loss probe, not the RTO", async () => {
    const { clock, link, client, server } = await pair();
    const got = count(server);
    dropSegment(link, 2, 1); // the last of three
    const size = 3 * MSS;
    await client.writable.getWriter().write(new Uint8Array(size));
    await runUntil(clock, () => got.bytes === size, 5000);
    expect(client.stats.timeouts).toBe(0);
    expect(client.stats.tailProbes).toBe(1);
    expect(client.stats.retransmissions).toBe(1);
  });
});
