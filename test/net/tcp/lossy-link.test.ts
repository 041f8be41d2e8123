// The big one: 20 MB each way at once over a seeded link with 50 ms delay, 5% loss,
// duplication and reordering, in simulated time.

import { describe, expect, it } from "vitest";
import type { TcpConnection } from "../../../worker/net/tcp/stack.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { A4, A6, B4, B6, MemoryLink, runUntil } from "./link.ts";
import { receiveAll, sendAll } from "./transfer.ts";

const MB = 1024 * 1024;

async function open(link: MemoryLink, clock: FakeClock, a: Uint8Array, b: Uint8Array) {
  const l = link.b.listen("any", 22);
  let server: TcpConnection | undefined;
  let client: TcpConnection | undefined;
  l.accept().then((c) => {
    server = c;
  });
  link.a.connect(a, b, 22).then((c) => {
    client = c;
  });
  await runUntil(clock, () => client !== undefined && server !== undefined, 30_000);
  return { client: client!, server: server! };
}

async function bulk(size: number, v6: boolean, seed: number, stepMs: number) {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, {
    seed,
    delayMs: 50,
    loss: 0.05,
    duplicate: 0.01,
    reorder: 0.03,
    reorderMs: 20,
  });
  const { client, server } = await open(link, clock, v6 ? A6 : A4, v6 ? B6 : B4);
  const up = sendAll(client, size, seed + 1);
  const down = sendAll(server, size, seed + 2);
  const atServer = receiveAll(server);
  const atClient = receiveAll(client);
  const started = performance.now();
  const simulated = await runUntil(
    clock,
    () => atServer.done && atClient.done && up.done && down.done,
    3_600_000,
    stepMs,
  );
  const wall = performance.now() - started;
  expect(atServer.bytes).toBe(size);
  expect(atClient.bytes).toBe(size);
  expect(atServer.sha).toBe(up.sha);
  expect(atClient.sha).toBe(down.sha);
  const segs = Math.ceil(size / client.stats.sendMss);
  const label = `${v6 ? "IPv6" : "IPv4"} ${size / MB} MB each way`;
  console.log(
    `${label}: ${(simulated / 1000).toFixed(1)} s simulated (${((2 * size) / MB / (simulated / 1000)).toFixed(2)} MB/s both ways), ${(wall / 1000).toFixed(1)} s wall;`,
    `client retx ${client.stats.retransmissions} (fast ${client.stats.fastRetransmits}, timeouts ${client.stats.timeouts}),`,
    `server retx ${server.stats.retransmissions} (fast ${server.stats.fastRetransmits}, timeouts ${server.stats.timeouts}),`,
    `of ~${segs} segments each way; link`,
    link.counts,
  );
  expect(client.stats.retransmissions).toBeLessThan(0.2 * segs);
  expect(server.stats.retransmissions).toBeLessThan(0.2 * segs);
  // Both ends close cleanly.
  await runUntil(
    clock,
    () => link.a.stats.connections + link.b.stats.connections === 0,
    200_000,
    100,
  );
  await client.closed;
  await server.closed;
}

describe("TCP over a lossy in-memory link", () => {
  it("20 MB each way at once arrive intact (IPv4, 5% loss, dup, reorder, 50 ms)", async () => {
    await bulk(20 * MB, false, 7, 2);
  }, 120_000);

  it("2 MB each way over IPv6 with another seed", async () => {
    await bulk(2 * MB, true, 99, 2);
  });
});
