// The agents' relay probe (server/agent/relay-probe.ts) against the relay's real STUN listener
// (server/relay/stun-server.ts): a round trip measured over STUN, the fastest of its samples;
// a delay on the way (a UDP forwarder holding each datagram) shows in the number; a relay
// without a listener, or with one that never answers, gives undefined (RelaySet then pings
// the relay over its WebSocket instead).

import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { stunRelayProbe } from "../../server/agent/relay-probe.ts";
import { type StunServer, startStunServer } from "../../server/relay/stun-server.ts";
import type { RelayInfo } from "../../worker/control/types.ts";

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function relay(stun: string | undefined): RelayInfo {
  return {
    id: "r1",
    region: "lab",
    url: "ws://127.0.0.1:1/relay",
    key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ...(stun === undefined ? {} : { stun }),
  };
}

async function stunServer(): Promise<StunServer> {
  const server = await startStunServer({ host: "127.0.0.1", port: 0 });
  cleanup.push(() => server.close());
  return server;
}

function bound(socket: Socket): Promise<number> {
  return new Promise((resolve) =>
    socket.bind(0, "127.0.0.1", () => resolve(socket.address().port)),
  );
}

/**
 * A UDP forwarder in front of `target` that holds each datagram `delayMs` each way (one
 * client at a time, as the probe's socket is); `drop` swallows everything. Resolves its port.
 */
async function delayingForwarder(
  target: number,
  delayMs: number,
  drop = false,
): Promise<{ port: number; forwarded: () => number }> {
  const front = createSocket("udp4");
  const back = createSocket("udp4");
  cleanup.push(
    () => front.close(),
    () => back.close(),
  );
  let client: { address: string; port: number } | undefined;
  let forwarded = 0;
  front.on("message", (msg, from) => {
    if (drop) return;
    client = { address: from.address, port: from.port };
    setTimeout(() => back.send(msg, target, "127.0.0.1"), delayMs);
  });
  back.on("message", (msg) => {
    const to = client;
    if (to === undefined) return;
    forwarded++;
    setTimeout(() => front.send(msg, to.port, to.address), delayMs);
  });
  await bound(back);
  return { port: await bound(front), forwarded: () => forwarded };
}

describe("stunRelayProbe", () => {
  it("measures a round trip over the relay's STUN listener: the fastest of its samples", async () => {
    const server = await stunServer();
    const probe = stunRelayProbe({ samples: 3 });
    const rtt = await probe(relay(`127.0.0.1:${server.port}`));
    expect(rtt).toBeTypeOf("number");
    expect(rtt!).toBeGreaterThanOrEqual(0);
    expect(rtt!).toBeLessThan(500);
    expect(server.stats.answered).toBe(3);
    // A host name resolves first ("localhost" is loopback; either family may come first).
    const named = await stunRelayProbe({ samples: 1 })(relay(`localhost:${server.port}`));
    if (named !== undefined) expect(server.stats.answered).toBe(4);
  });

  it("a delay on the way shows in the number", async () => {
    const server = await stunServer();
    const slow = await delayingForwarder(server.port, 40);
    const probe = stunRelayProbe({ samples: 2 });
    const direct = await probe(relay(`127.0.0.1:${server.port}`));
    const delayed = await probe(relay(`127.0.0.1:${slow.port}`));
    expect(slow.forwarded()).toBe(2);
    // 40 ms each way; the timers may fire late but never early.
    expect(delayed!).toBeGreaterThanOrEqual(79);
    expect(delayed!).toBeGreaterThan(direct! + 10);
  });

  it("gives undefined without a listener, or when it never answers (RelaySet's own probe then)", async () => {
    const probe = stunRelayProbe({ samples: 3, timeoutMs: 200 });
    expect(await probe(relay(undefined))).toBeUndefined();
    const server = await stunServer();
    const silent = await delayingForwarder(server.port, 0, true);
    const started = performance.now();
    expect(await probe(relay(`127.0.0.1:${silent.port}`))).toBeUndefined();
    // The first unanswered request ends the probe: one wait, not three.
    expect(performance.now() - started).toBeLessThan(550);
    // A name that does not resolve is undefined too, not a rejection.
    expect(await probe(relay("no-such-relay.invalid:3478"))).toBeUndefined();
  });
});
