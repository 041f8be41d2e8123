// The relay server: forwarding, PEER_GONE, PING/PONG, newest wins, HEALTH, graceful restart.

import { afterEach, describe, expect, it } from "vitest";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { encodeKeyed, GONE_DISCONNECTED, GONE_NOT_HERE, SEND } from "../../worker/relay/frames.ts";
import {
  connectAuthed,
  endTestRelay,
  nodeKeys,
  type RawClient,
  sleep,
  startTestRelay,
} from "./raw-client.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

async function pair() {
  const a = await nodeKeys();
  const b = await nodeKeys();
  const ca = await connectAuthed(relay!.url, a);
  const cb = await connectAuthed(relay!.url, b);
  clients.push(ca, cb);
  return { a, b, ca, cb };
}

describe("relay server", () => {
  it("sends WELCOME with the relay id and limits", async () => {
    ({ relay } = await startTestRelay({ relayId: "r-1", queueLimit: 77, queueBytes: 99_999 }));
    const keys = await nodeKeys();
    const client = await connectAuthed(relay.url, keys);
    clients.push(client);
    // connectAuthed consumed the WELCOME; reconnect and read it ourselves.
    const second = await connectAuthed(relay.url, await nodeKeys());
    clients.push(second);
    expect(relay.clientCount).toBe(2);
    const { connectRaw, sendHello } = await import("./raw-client.ts");
    const third = await connectRaw(relay.url);
    clients.push(third);
    await sendHello(third, await nodeKeys());
    const welcome = await third.next("welcome");
    expect(JSON.parse(welcome.json)).toEqual({
      relay: "r-1",
      limits: { maxPacket: 65535, rate: 12_500_000, queue: 77, queueBytes: 99_999 },
      features: ["batch"],
    });
  });

  it("forwards between two clients both ways, as RECV from the sender's key", async () => {
    ({ relay } = await startTestRelay());
    const { a, b, ca, cb } = await pair();
    ca.sendTo(b.publicKey, bytes(1, 2, 3));
    const atB = await cb.next("recv");
    expect(same(atB.key, a.publicKey)).toBe(true);
    expect([...atB.packet]).toEqual([1, 2, 3]);
    cb.sendTo(a.publicKey, bytes(9));
    const atA = await ca.next("recv");
    expect(same(atA.key, b.publicKey)).toBe(true);
    expect([...atA.packet]).toEqual([9]);
    // Many packets keep their order; empty and maximal packets pass.
    for (let i = 0; i < 200; i++) ca.sendTo(b.publicKey, bytes(i & 255, i >> 8));
    ca.sendTo(b.publicKey, new Uint8Array(0));
    ca.sendTo(b.publicKey, new Uint8Array(65535).fill(7));
    for (let i = 0; i < 200; i++) {
      const f = await cb.next("recv");
      expect([...f.packet]).toEqual([i & 255, i >> 8]);
    }
    expect((await cb.next("recv")).packet.length).toBe(0);
    const big = await cb.next("recv");
    expect(big.packet.length).toBe(65535);
    expect(big.packet.every((v) => v === 7)).toBe(true);
  });

  it("answers PING with PONG carrying the same 8 bytes", async () => {
    ({ relay } = await startTestRelay());
    const { ca } = await pair();
    const rtt = await ca.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it("says PEER_GONE(not here), at most once a second per destination", async () => {
    ({ relay } = await startTestRelay());
    const { ca } = await pair();
    const nobody = (await nodeKeys()).publicKey;
    for (let i = 0; i < 5; i++) ca.sendTo(nobody, bytes(i));
    const gone = await ca.next("peer-gone");
    expect(same(gone.key, nobody)).toBe(true);
    expect(gone.reason).toBe(GONE_NOT_HERE);
    await ca.ping();
    expect(ca.frames.filter((f) => f.type === "peer-gone")).toHaveLength(0);
    expect(await relay.metrics.value("corridor_relay_drops_total", { reason: "not_here" })).toBe(5);
  });

  it("says PEER_GONE(disconnected) to recent senders when a client leaves", async () => {
    ({ relay } = await startTestRelay());
    const { b, ca, cb } = await pair();
    const bystander = await connectAuthed(relay.url, await nodeKeys());
    clients.push(bystander);
    ca.sendTo(b.publicKey, bytes(1));
    await cb.next("recv");
    cb.close();
    const gone = await ca.next("peer-gone");
    expect(same(gone.key, b.publicKey)).toBe(true);
    expect(gone.reason).toBe(GONE_DISCONNECTED);
    await bystander.ping();
    expect(bystander.frames.filter((f) => f.type === "peer-gone")).toHaveLength(0);
  });

  it("newest wins: a second connection with the same key closes the first with 4409", async () => {
    ({ relay } = await startTestRelay());
    const { a, b, ca, cb } = await pair();
    const again = await connectAuthed(relay.url, a);
    clients.push(again);
    expect(await ca.closed).toEqual({ code: 4409, reason: "replaced" });
    cb.sendTo(a.publicKey, bytes(5));
    expect([...(await again.next("recv")).packet]).toEqual([5]);
    // The replaced connection's end is not a PEER_GONE for the key.
    await cb.ping();
    expect(cb.frames.filter((f) => f.type === "peer-gone")).toHaveLength(0);
    expect(relay.clientCount).toBe(2);
    void b;
  });

  it("broadcasts HEALTH, also to clients that come later", async () => {
    ({ relay } = await startTestRelay());
    const { ca, cb } = await pair();
    relay.setHealth("degraded: disk");
    expect((await ca.next("health")).text).toBe("degraded: disk");
    expect((await cb.next("health")).text).toBe("degraded: disk");
    const late = await connectAuthed(relay.url, await nodeKeys());
    clients.push(late);
    expect((await late.next("health")).text).toBe("degraded: disk");
    relay.setHealth("");
    expect((await ca.next("health")).text).toBe("");
  });

  it("graceful restart sends RESTARTING, closes clients with 1012, and they come back", async () => {
    ({ relay } = await startTestRelay());
    const { a, b, ca, cb } = await pair();
    const port = relay.port;
    const closing = relay.close({ restarting: { reconnectInMs: 250, tryForMs: 30_000 } });
    const notice = await ca.next("restarting");
    expect(notice).toEqual({ type: "restarting", reconnectInMs: 250, tryForMs: 30_000 });
    expect((await cb.next("restarting")).reconnectInMs).toBe(250);
    expect((await ca.closed).code).toBe(1012);
    expect((await cb.closed).code).toBe(1012);
    await closing;
    ({ relay } = await startTestRelay({ port }));
    const ca2 = await connectAuthed(relay.url, a);
    const cb2 = await connectAuthed(relay.url, b);
    clients.push(ca2, cb2);
    ca2.send(encodeKeyed(SEND, b.publicKey, bytes(42)));
    expect([...(await cb2.next("recv")).packet]).toEqual([42]);
  });

  it("bounds a slow receiver's queue: overflow is dropped and counted, order kept", async () => {
    ({ relay } = await startTestRelay({
      queueLimit: 8,
      rate: { bytesPerSecond: 1e9, burstBytes: 1e9 },
    }));
    const { b, ca, cb } = await pair();
    cb.ws.pause(); // the receiver stops reading; kernel buffers fill, then the relay's queue
    const count = 400;
    for (let i = 0; i < count; i++) {
      const packet = new Uint8Array(60_000);
      packet[0] = i & 255;
      packet[1] = i >> 8;
      ca.sendTo(b.publicKey, packet);
    }
    await ca.ping(10_000);
    const queueFull = await relay.metrics.value("corridor_relay_drops_total", {
      reason: "queue_full",
    });
    expect(queueFull).toBeGreaterThan(0);
    cb.ws.resume();
    await cb.ping(10_000); // a PONG gets through a full data queue
    const got = cb.frames
      .filter((f) => f.type === "recv")
      .map((f) => (f.type === "recv" ? f.packet[0]! | (f.packet[1]! << 8) : -1));
    expect(got.length).toBeLessThan(count);
    expect(got.length).toBeGreaterThan(0);
    expect(got).toEqual([...got].sort((x, y) => x - y));
    expect(got.length + queueFull).toBe(count);
    expect(cb.ws.readyState).toBe(cb.ws.OPEN);
  });

  it("drops a client that stops answering keepalives", async () => {
    ({ relay } = await startTestRelay({ pingIntervalMs: 100 }));
    const { ca } = await pair();
    // Stop the client's automatic pong replies by pausing its socket.
    ca.ws.pause();
    for (let i = 0; i < 40 && relay.clientCount > 1; i++) await sleep(50);
    expect(relay.clientCount).toBe(1);
    expect(await relay.metrics.value("corridor_relay_dead_clients_total")).toBe(1);
  });
});
