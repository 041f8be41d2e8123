// Several data frames per WebSocket message (worker/relay/batch.ts): the codec and its hostile
// input; the relay (server/relay/session-outbox.ts) sending BATCH only to a client that asked
// with FEATURES and forwarding a client's BATCH frame by frame, in order; the relay client
// (RelayBind) asking only a relay whose WELCOME offers it, and staying v1 with one that does
// not (or when told not to).

import { afterEach, describe, expect, it } from "vitest";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import {
  BATCH,
  batchable,
  decodeBatch,
  encodeFeatures,
  FEATURE_BATCH,
  FEATURES,
  FrameBatch,
  MAX_BATCH_MESSAGE,
} from "../../worker/relay/batch.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import * as F from "../../worker/relay/frames.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { FakeRelay, until } from "./client-fake-relay.ts";
import {
  connectAuthed,
  endTestRelay,
  nodeKeys,
  type RawClient,
  startTestRelay,
} from "./raw-client.ts";

const bytes = seededBytes(0xba7c4);
const key = () => bytes(32);
const send = (to: Uint8Array, n: number) => F.encodeKeyed(F.SEND, to, Uint8Array.of(n, n, n));
const ping = () => F.encodePing(F.PING, bytes(8));

/** A BATCH message of `frames`, framed by hand (not by the code under test). */
function batchOf(frames: Uint8Array[]): Uint8Array {
  const parts = frames.flatMap((f) => [Uint8Array.of(f.length >> 8, f.length & 0xff), f]);
  return Buffer.concat([Uint8Array.of(BATCH), ...parts]);
}

describe("BATCH and FEATURES codec", () => {
  it("a lone frame travels as itself; several as one BATCH that decodes to them, in order", () => {
    const batch = new FrameBatch();
    const one = send(key(), 1);
    expect(batch.add(one)).toBe(true);
    expect(batch.take()).toBe(one);
    const frames = [
      send(key(), 2),
      F.encodeUdp(F.SEND_UDP, { address: bytes(16), port: 51820 }, bytes(40)),
      send(key(), 3),
    ];
    for (const f of frames) batch.add(f);
    expect(batch.count).toBe(3);
    expect(batch.bytes).toBe(frames.reduce((n, f) => n + f.length, 0));
    const message = batch.take()!;
    expect(message).toEqual(new Uint8Array(batchOf(frames)));
    const decoded = F.decodeFrame(message);
    expect(decoded.type).toBe("batch");
    if (decoded.type !== "batch") return;
    expect(decoded.frames.map((f) => [...f])).toEqual(frames.map((f) => [...f]));
    expect(batch.take()).toBeUndefined();
  });

  it("a batch never grows past the relay's largest message", () => {
    const batch = new FrameBatch();
    const big = F.encodeKeyed(F.SEND, key(), bytes(20_000));
    expect(batch.add(big)).toBe(true);
    expect(batch.add(big)).toBe(true);
    expect(batch.add(big)).toBe(true);
    expect(batch.add(big)).toBe(false); // would be 4 * (2 + 20033) + 1 > 65568
    expect(batch.take()!.length).toBeLessThanOrEqual(MAX_BATCH_MESSAGE);
    expect(() => batch.add(ping())).toThrow(/only a data frame/);
    expect(batchable(F.encodeKeyed(F.SEND, key(), bytes(65535)))).toBe(false); // 65568 bytes
  });

  it("FEATURES carries a u32", () => {
    expect(F.decodeFrame(encodeFeatures(FEATURE_BATCH))).toEqual({ type: "features", flags: 1 });
    expect(F.decodeFrame(Uint8Array.of(FEATURES, 0, 1))).toEqual({
      type: "invalid",
      error: "FEATURES: payload must be 4 bytes, got 2",
    });
    expect(() => encodeFeatures(2 ** 32)).toThrow(/not a u32/);
  });

  it("says what is wrong with a hostile BATCH, and where", () => {
    const good = send(key(), 9);
    const cases: [Uint8Array, string][] = [
      [batchOf([]), "BATCH: no frames"],
      [
        Buffer.concat([batchOf([good]), Uint8Array.of(0)]),
        `BATCH: a length cut short at byte ${good.length + 3}`,
      ],
      [batchOf([good, new Uint8Array(0)]), "BATCH: frame 2 is empty"],
      [
        Buffer.concat([Uint8Array.of(BATCH, 0, 200), good]),
        `BATCH: frame 1 claims 200 bytes, ${good.length} left`,
      ],
      [batchOf([good, ping()]), "BATCH: frame 2 has type 0x20, not a data frame"],
      [batchOf([batchOf([good])]), "BATCH: frame 1 has type 0x18, not a data frame"],
      [batchOf([encodeFeatures(1)]), "BATCH: frame 1 has type 0x04, not a data frame"],
      [
        new Uint8Array(MAX_BATCH_MESSAGE + 1).fill(BATCH, 0, 1),
        `BATCH: ${MAX_BATCH_MESSAGE + 1} bytes, over ${MAX_BATCH_MESSAGE}`,
      ],
    ];
    for (const [message, error] of cases) {
      expect(F.decodeFrame(message)).toEqual({ type: "invalid", error });
    }
  });

  it("hostile BATCH bodies (20,000 seeded): never throws; frames or a reason, never both", () => {
    const int = seededInts(0xf022);
    const rand = seededBytes(0xf023);
    const INPUTS = 20_000;
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      let body: Uint8Array;
      if (i % 3 === 0) body = rand(int(300));
      else {
        // A valid batch, then mutated: a byte flipped, cut, or extended.
        const frames = Array.from({ length: 1 + int(6) }, () =>
          int(2) === 0
            ? send(rand(32), int(256))
            : F.encodeUdp(F.RECV_UDP, { address: rand(16), port: int(65536) }, rand(int(200))),
        );
        body = batchOf(frames).subarray(1);
        const mutate = int(4);
        if (mutate === 1 && body.length > 0) {
          const at = int(body.length);
          body[at] = body[at]! ^ (1 << int(8));
        } else if (mutate === 2) body = body.subarray(0, int(body.length + 1));
        else if (mutate === 3) body = Buffer.concat([body, rand(1 + int(4))]);
      }
      const result = decodeBatch(body);
      if (typeof result === "string") {
        expect(result).toMatch(/^BATCH: /);
        continue;
      }
      accepted++;
      // Accepted: the frames tile the body exactly and each is a data frame.
      expect(result.reduce((n, f) => n + 2 + f.length, 0)).toBe(body.length);
      for (const f of result) expect(batchable(f)).toBe(true);
    }
    expect(accepted).toBeGreaterThan(INPUTS / 10);
  });
});

describe("the relay and BATCH", () => {
  let relay: Awaited<ReturnType<typeof startTestRelay>>["relay"] | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    relay = await endTestRelay(relay, clients);
  });

  it("batches only for a client that asked, and forwards a client's BATCH in order", async () => {
    ({ relay } = await startTestRelay());
    const [ka, kb, kc] = [await nodeKeys(), await nodeKeys(), await nodeKeys()];
    const a = await connectAuthed(relay.url, ka);
    const b = await connectAuthed(relay.url, kb);
    const c = await connectAuthed(relay.url, kc);
    clients.push(a, b, c);
    a.send(encodeFeatures(FEATURE_BATCH));
    await a.ping(); // FEATURES is handled before the PONG comes back
    const n = 40;
    const toA = Array.from({ length: n }, (_, i) => send(ka.publicKey, i));
    const toB = Array.from({ length: n }, (_, i) => send(kb.publicKey, i));
    const before = { a: a.received, b: b.received };
    c.send(batchOf([...toA, ...toB]));

    const unpacked = async (client: RawClient): Promise<number[]> => {
      const seen: number[] = [];
      while (seen.length < n) {
        const frame = await client.next();
        const frames = frame.type === "batch" ? frame.frames.map(F.decodeFrame) : [frame];
        for (const f of frames) {
          if (f.type !== "recv") continue;
          expect(keyToBase64(f.key)).toBe(keyToBase64(kc.publicKey));
          seen.push(f.packet[0]!);
        }
      }
      return seen;
    };
    const order = Array.from({ length: n }, (_, i) => i);
    expect(await unpacked(a)).toEqual(order);
    expect(await unpacked(b)).toEqual(order);
    // a asked: the forty came in far fewer messages. b did not: one message per frame (v1).
    expect(a.received - before.a).toBeLessThan(n / 4);
    expect(b.received - before.b).toBe(n);
  });

  it("a BATCH holding anything but data frames ends the connection with 4400 and the reason", async () => {
    ({ relay } = await startTestRelay());
    const k = await nodeKeys();
    const client = await connectAuthed(relay.url, k);
    clients.push(client);
    client.send(batchOf([send(k.publicKey, 1), ping()]));
    expect(await client.closed).toEqual({
      code: 4400,
      reason: "BATCH: frame 2 has type 0x20, not a data frame",
    });
  });
});

describe("RelayBind and BATCH", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function bindTo(fake: FakeRelay, batching?: boolean) {
    const secret = bytes(32);
    const bind = new RelayBind({
      url: fake.url,
      privateKey: secret,
      core: await loadCryptoCore(),
      x25519: nobleX25519,
      connect: nodeRelayConnect(),
      random: seededBytes(0xba7),
      batching,
    });
    cleanup.push(() => bind.close());
    const got: { packet: Uint8Array; from: Endpoint }[] = [];
    await bind.open((packet, from) => got.push({ packet: packet.slice(), from }));
    return { bind, got, key: keyToBase64(await nobleX25519.publicKey(secret)) };
  }

  /** Sends 50 datagrams to a UDP endpoint in one task, as a TCP window opening would. */
  function burst(bind: RelayBind): void {
    const to = bind.parseEndpoint("192.0.2.7:51820");
    for (let i = 0; i < 50; i++) expect(bind.send(Uint8Array.of(i), to)).toBe(true);
  }

  it("asks a relay that offers batches (FEATURES), then sends a task's datagrams in one BATCH", async () => {
    const fake = await FakeRelay.start();
    cleanup.push(() => fake.stop());
    fake.features = ["batch"];
    const { bind, got } = await bindTo(fake);
    burst(bind);
    await until(() => got.length === 50, 3000);
    expect(got.map((g) => g.packet[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(fake.messageTypes[0]).toBe(FEATURES);
    expect(bind.stats.sent).toBe(50); // counted once each, when the BATCH left
    expect(fake.messageTypes.filter((t) => t === BATCH).length).toBe(1);
    expect(fake.udp.map((u) => u.packet[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("stays v1 with a relay that does not offer batches, or when told not to batch", async () => {
    for (const [features, batching] of [
      [undefined, undefined],
      [["batch"], false],
    ] as const) {
      const fake = await FakeRelay.start();
      cleanup.push(() => fake.stop());
      fake.features = features === undefined ? undefined : [...features];
      const { bind, got } = await bindTo(fake, batching);
      burst(bind);
      await until(() => got.length === 50, 3000);
      // No FEATURES, no BATCH: fifty SEND_UDP messages (and keepalive PINGs).
      expect(fake.messageTypes.filter((t) => t === F.SEND_UDP).length).toBe(50);
      expect(fake.messageTypes.every((t) => t === F.SEND_UDP || t === F.PING)).toBe(true);
    }
  });
});
