// A flooding client is slowed by its rate limit (its reads paused), not dropped, while other
// clients keep their share. The relay's clock is the test's: while it stands still, the
// flooder gets its burst and not a byte more (its reads stay paused); each second of the
// clock lets one second of the rate through. The token bucket's debts telescope, so after N
// steps the relay has read exactly burst + N × rate plus its last overdraft (at most what ws
// had already read ahead when it paused). No wall-clock figure decides anything here (round
// trips under load are benchmark figures: test/bench/relay.bench.ts).

import { afterEach, describe, expect, it } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import {
  connectAuthed,
  endTestRelay,
  nodeKeys,
  type RawClient,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

const PACKET = 1024;
const FRAME = 1 + 32 + PACKET;
/** The overdraft: ws parses the rest of the chunk it was reading when the relay pauses it. */
const READ_AHEAD = 64 * 1024 + FRAME;
/** CLIENT_HELLO with an empty token: charged like every message. */
const HELLO = 1 + 32 + 32;

describe("relay rate limit", () => {
  it("slows a flooding client by pausing its reads; others keep their share", async () => {
    let now = 1_000_000;
    // A refill per step (one second) larger than any overdraft: every step resumes the reads.
    const rate = { bytesPerSecond: 256 * 1024, burstBytes: 256 * 1024 };
    ({ relay } = await startTestRelay({
      rate,
      queueLimit: 100_000,
      queueBytes: 64 << 20,
      clock: () => now,
    }));
    const [f, s, p1, p2] = await Promise.all([nodeKeys(), nodeKeys(), nodeKeys(), nodeKeys()]);
    const flooder = await connectAuthed(relay.url, f, { keep: false });
    const sink = await connectAuthed(relay.url, s, { keep: false });
    const a = await connectAuthed(relay.url, p1);
    const b = await connectAuthed(relay.url, p2);
    clients.push(flooder, sink, a, b);

    let sunk = 0;
    sink.onFrame = (frame) => {
      if (frame.type === "recv") sunk += FRAME;
    };
    // What the relay has read from the flooder, once the sink's PONG is back: the PONG is
    // queued after every RECV the relay forwarded before it, so all of those have arrived.
    const readFromFlooder = async () => {
      await sink.ping(10_000);
      return HELLO + sunk;
    };
    // Messages the relay read but deferred to its next turn (read-share.ts) may still be on
    // their way when one PONG is back: read until two round trips agree.
    const settledFromFlooder = async () => {
      let before = await readFromFlooder();
      for (;;) {
        const after = await readFromFlooder();
        if (after === before) return after;
        before = after;
      }
    };
    const packet = new Uint8Array(PACKET);
    for (let i = 0; i < 4096; i++) flooder.sendTo(s.publicKey, packet); // 4.1 MiB

    // The clock stands still: the flooder gets its burst, then its reads are paused for good.
    await expect
      .poll(() => relay!.metrics.value("corridor_relay_rate_limited_total"), { timeout: 10_000 })
      .toBe(1);
    const first = await settledFromFlooder();
    expect(first).toBeGreaterThan(rate.burstBytes);
    expect(first).toBeLessThanOrEqual(rate.burstBytes + READ_AHEAD);

    // Meanwhile the other pair exchanges traffic: every packet and PING gets through.
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) a.sendTo(p2.publicKey, new Uint8Array([round, i]));
      for (let i = 0; i < 10; i++) {
        expect([...(await b.next("recv")).packet]).toEqual([round, i]);
      }
      await a.ping();
      await b.ping();
    }
    expect(await readFromFlooder()).toBe(first); // the clock stood still: not a byte more

    // Each second of the clock: the reads resume, one second of the rate goes through, and
    // they pause again.
    const steps = 4;
    for (let step = 1; step <= steps; step++) {
      now += 1000;
      await expect
        .poll(() => relay!.metrics.value("corridor_relay_rate_limited_total"), { timeout: 10_000 })
        .toBe(1 + step);
    }
    const overdraft =
      (await settledFromFlooder()) - (rate.burstBytes + steps * rate.bytesPerSecond);
    expect(overdraft).toBeGreaterThan(0);
    expect(overdraft).toBeLessThanOrEqual(READ_AHEAD);
    // Slowed, not dropped: it is still connected and nothing was dropped.
    expect(flooder.ws.readyState).toBe(flooder.ws.OPEN);
    expect(await relay.metrics.value("corridor_relay_drops_total", { reason: "queue_full" })).toBe(
      0,
    );
  });
});
