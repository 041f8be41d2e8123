// A flooding client is slowed by its rate limit (its reads paused), not dropped, while other
// clients keep their share: their PINGs stay fast and their packets flow.

import { afterEach, describe, expect, it } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { connectAuthed, nodeKeys, type RawClient, sleep, startTestRelay } from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await relay?.close();
  relay = undefined;
});

describe("relay rate limit", () => {
  it("slows a flooding client by pausing its reads; others keep their share", async () => {
    const rate = { bytesPerSecond: 256 * 1024, burstBytes: 64 * 1024 };
    ({ relay } = await startTestRelay({ rate, queueLimit: 100_000 }));
    const [f, s, p1, p2] = await Promise.all([nodeKeys(), nodeKeys(), nodeKeys(), nodeKeys()]);
    const flooder = await connectAuthed(relay.url, f, { keep: false });
    const sink = await connectAuthed(relay.url, s, { keep: false });
    const a = await connectAuthed(relay.url, p1);
    const b = await connectAuthed(relay.url, p2);
    clients.push(flooder, sink, a, b);

    let sunk = 0;
    sink.onFrame = (frame) => {
      if (frame.type === "recv") sunk += frame.packet.length;
    };
    const packet = new Uint8Array(1024);
    const start = performance.now();
    for (let i = 0; i < 4096; i++) flooder.sendTo(s.publicKey, packet); // 4 MiB

    // Meanwhile the other pair exchanges traffic and measures PING round trips.
    const rtts: number[] = [];
    let delivered = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) a.sendTo(p2.publicKey, new Uint8Array([round, i]));
      for (let i = 0; i < 10; i++) {
        const got = await b.next("recv");
        expect([...got.packet]).toEqual([round, i]);
        delivered++;
      }
      rtts.push(await a.ping());
      await sleep(50);
    }
    const elapsed = (performance.now() - start) / 1000;
    const allowance = rate.burstBytes + rate.bytesPerSecond * elapsed;
    console.log(
      `flood: ${sunk} bytes through in ${elapsed.toFixed(2)} s (allowance ${Math.round(allowance)}),` +
        ` ${relay.metrics.rateLimited} pauses; pair PING RTT max ${Math.max(...rtts).toFixed(1)} ms`,
    );
    expect(delivered).toBe(200);
    expect(Math.max(...rtts)).toBeLessThan(250);
    expect(relay.metrics.rateLimited).toBeGreaterThan(0);
    // The flooder got roughly its rate: never much more than burst + rate × time.
    expect(sunk).toBeLessThanOrEqual(allowance + 70 * 1024);
    expect(sunk).toBeGreaterThan(rate.bytesPerSecond * elapsed * 0.5);
    // Slowed, not dropped: it is still connected and nothing was dropped.
    expect(flooder.ws.readyState).toBe(flooder.ws.OPEN);
    expect(relay.metrics.drops.get("queue_full") ?? 0).toBe(0);
  });
});
