// Relay protocol v1 checked against DESIGN §4 by an implementation that shares nothing with
// ours (issue 12, item 10): every frame is laid out byte by byte here, the X25519 of the hello
// proof is node:crypto's, its keyed BLAKE2s is Python's hashlib (the reference), and the token
// is signed with node:crypto's Ed25519. The relay is the real server on loopback; the client is
// a bare `ws` socket. Nothing from worker/relay/frames.ts or proof.ts is used.

import { createPublicKey } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { describeWithPrereq, onPath, prereq } from "../helpers/prereq.ts";
import {
  ed25519Private,
  endpoint,
  type Node,
  node,
  proofFor,
  rawPublic,
  tokenFor,
  x25519Private,
} from "./independent-oracle.ts";

const need = prereq(onPath("python3"));

// ---- a bare client ----

/** Binary messages as they came; `next()` waits for the next one or the close. */
class Bare {
  readonly messages: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private wake: (() => void) | undefined;

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake?.();
      });
    });
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      this.messages.push(Buffer.from(data));
      this.wake?.();
    });
  }

  /** The next message; throws if the socket closes first. */
  async next(): Promise<Buffer> {
    for (;;) {
      const message = this.messages.shift();
      if (message !== undefined) return message;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error("closed");
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** The next message whose first byte is `type`, skipping others. */
  async nextOf(type: number): Promise<Buffer> {
    for (;;) {
      const message = await this.next();
      if (message[0] === type) return message;
    }
  }

  send(...parts: Uint8Array[]): void {
    this.ws.send(Buffer.concat(parts));
  }
}

const bares: Bare[] = [];

async function connect(url: string): Promise<Bare> {
  const ws = new WebSocket(url, "corridor-relay.v1");
  const bare = new Bare(ws);
  bares.push(bare);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return bare;
}

/** Reads SERVER_HELLO and checks its layout: 0x01, version 1, key (32), challenge (32). */
async function serverHello(bare: Bare, relayKey: Uint8Array) {
  const hello = await bare.next();
  expect(hello.length).toBe(1 + 1 + 32 + 32);
  expect(hello[0]).toBe(0x01);
  expect(hello[1]).toBe(1);
  expect(hello.subarray(2, 34).equals(relayKey)).toBe(true);
  return { challenge: hello.subarray(34, 66) };
}

/** Connects and sends CLIENT_HELLO: 0x02, node key (32), proof (32), token (UTF-8). */
async function hello(url: string, relayKey: Uint8Array, n: Node, token = "") {
  const bare = await connect(url);
  const { challenge } = await serverHello(bare, relayKey);
  const proof = await proofFor(n, relayKey, challenge);
  bare.send(Uint8Array.of(0x02), n.publicKey, proof, Buffer.from(token, "utf8"));
  return { bare, challenge, proof };
}

async function welcomed(url: string, relayKey: Uint8Array, n: Node, token = "") {
  const { bare } = await hello(url, relayKey, n, token);
  const welcome = await bare.next();
  expect(welcome[0]).toBe(0x03);
  return { bare, welcome: JSON.parse(welcome.subarray(1).toString("utf8")) as unknown };
}

afterEach(() => {
  for (const bare of bares.splice(0)) bare.ws.terminate();
});

describeWithPrereq(need, "relay protocol v1 against DESIGN §4, built by hand", () => {
  const relaySecret = Buffer.alloc(32, 0x5a);
  const relayKey = rawPublic(x25519Private(relaySecret));
  const controlKey = ed25519Private(Buffer.alloc(32, 0xc7));
  const controlPublic = createPublicKey(controlKey)
    .export({ format: "der", type: "spki" })
    .subarray(-32);
  let open: RelayServer;
  let tokened: RelayServer;
  let echo: Socket;

  beforeAll(async () => {
    echo = createSocket("udp4");
    echo.on("message", (message, from) => {
      echo.send(Buffer.concat([Buffer.from("echo:"), message]), from.port, from.address);
    });
    await new Promise<void>((resolve) => echo.bind(0, "127.0.0.1", () => resolve()));
    open = await startRelay({
      auth: { mode: "open" },
      relayId: "hand-laid",
      privateKey: relaySecret,
      udpBridge: new UdpBridge({ allow: [`127.0.0.1/32:${echo.address().port}`] }),
      log: () => {},
      closeGraceMs: 200,
    });
    tokened = await startRelay({
      auth: { mode: "token", controlPublicKey: new Uint8Array(controlPublic) },
      relayId: "tokened",
      privateKey: relaySecret,
      log: () => {},
      closeGraceMs: 200,
    });
  });

  afterAll(async () => {
    await open?.close();
    await tokened?.close();
    echo?.close();
  });

  it("hello: the relay key independently derived, a fresh challenge, WELCOME's JSON", async () => {
    const a = node(1);
    const first = await hello(open.url, relayKey, a);
    const welcome = await first.bare.next();
    expect(welcome[0]).toBe(0x03);
    expect(JSON.parse(welcome.subarray(1).toString("utf8"))).toMatchObject({
      relay: "hand-laid",
      limits: { maxPacket: 65535 },
    });
    const second = await connect(open.url);
    const { challenge } = await serverHello(second, relayKey);
    expect(challenge.equals(first.challenge)).toBe(false);
  });

  it("SEND arrives as RECV with the sender's key; PING is echoed as PONG", async () => {
    const a = node(2);
    const b = node(3);
    const { bare: alice } = await welcomed(open.url, relayKey, a);
    const { bare: bob } = await welcomed(open.url, relayKey, b);
    const packet = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
    alice.send(Uint8Array.of(0x10), b.publicKey, packet);
    const recv = await bob.nextOf(0x11);
    expect(recv.equals(Buffer.concat([Uint8Array.of(0x11), a.publicKey, packet]))).toBe(true);
    const ping = Buffer.from("8 bytes!");
    alice.send(Uint8Array.of(0x20), ping);
    expect((await alice.nextOf(0x21)).equals(Buffer.concat([Uint8Array.of(0x21), ping]))).toBe(
      true,
    );
    // An unknown type is ignored (v1), the connection lives on.
    alice.send(Uint8Array.of(0x7f, 1, 2, 3));
    alice.send(Uint8Array.of(0x20), ping);
    expect((await alice.nextOf(0x21)).subarray(1).equals(ping)).toBe(true);
  });

  it("PEER_GONE: key then reason 1 for a key not here, reason 0 when a recent peer leaves", async () => {
    const a = node(4);
    const b = node(5);
    const absent = node(6);
    const { bare: alice } = await welcomed(open.url, relayKey, a);
    alice.send(Uint8Array.of(0x10), absent.publicKey, Buffer.from("x"));
    const notHere = await alice.nextOf(0x22);
    expect(
      notHere.equals(Buffer.concat([Uint8Array.of(0x22), absent.publicKey, Uint8Array.of(1)])),
    ).toBe(true);
    const { bare: bob } = await welcomed(open.url, relayKey, b);
    alice.send(Uint8Array.of(0x10), b.publicKey, Buffer.from("hi"));
    await bob.nextOf(0x11);
    bob.ws.close();
    const gone = await alice.nextOf(0x22);
    expect(gone.equals(Buffer.concat([Uint8Array.of(0x22), b.publicKey, Uint8Array.of(0)]))).toBe(
      true,
    );
  });

  it("SEND_UDP reaches a UDP socket; its answer comes back as RECV_UDP from that endpoint", async () => {
    const { bare } = await welcomed(open.url, relayKey, node(7));
    const to = endpoint([127, 0, 0, 1], echo.address().port);
    bare.send(Uint8Array.of(0x12), to, Buffer.from("datagram"));
    const back = await bare.nextOf(0x13);
    expect(
      back.equals(Buffer.concat([Uint8Array.of(0x13), to, Buffer.from("echo:datagram")])),
    ).toBe(true);
  });

  it("a token signed by node:crypto's Ed25519 admits; a tampered one closes with 4401", async () => {
    const n = node(8);
    const payload = {
      v: 1,
      key: n.publicKey.toString("base64"),
      relay: "tokened",
      udp: [],
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const { welcome } = await welcomed(tokened.url, relayKey, n, tokenFor(controlKey, payload));
    expect(welcome).toMatchObject({ relay: "tokened" });
    // The same signature under a payload that widens the UDP allowance.
    const signature = tokenFor(controlKey, payload).split(".")[1]!;
    const widened = Buffer.from(JSON.stringify({ ...payload, udp: ["0.0.0.0/0:1-65535"] }));
    const forged = `${widened.toString("base64url")}.${signature}`;
    const { bare } = await hello(tokened.url, relayKey, n, forged);
    expect(await bare.closed).toEqual({ code: 4401, reason: "token signature invalid" });
  });

  it("close codes: 4401 for a bad proof, 4400 for a protocol error, 1009 for a frame over the limit", async () => {
    const n = node(10);
    const bad = await connect(open.url);
    const { challenge } = await serverHello(bad, relayKey);
    const proof = await proofFor(n, relayKey, challenge);
    proof[31]! ^= 1;
    bad.send(Uint8Array.of(0x02), n.publicKey, proof);
    expect(await bad.closed).toEqual({ code: 4401, reason: "bad proof" });

    const early = await connect(open.url);
    await serverHello(early, relayKey);
    early.send(Uint8Array.of(0x10), n.publicKey, Buffer.from("before hello"));
    expect(await early.closed).toEqual({ code: 4400, reason: "expected CLIENT_HELLO, got send" });

    const short = await connect(open.url);
    await serverHello(short, relayKey);
    short.send(Uint8Array.of(0x02), Buffer.alloc(40));
    expect(await short.closed).toEqual({ code: 4400, reason: "CLIENT_HELLO: 40 bytes, below 64" });

    const { bare: pinger } = await welcomed(open.url, relayKey, node(11));
    pinger.send(Uint8Array.of(0x20), Buffer.alloc(7));
    expect(await pinger.closed).toEqual({
      code: 4400,
      reason: "PING: payload must be 8 bytes, got 7",
    });

    // The largest message is type + key + 65535 bytes; one byte more is refused.
    const { bare: big } = await welcomed(open.url, relayKey, node(12));
    big.send(Uint8Array.of(0x10), node(13).publicKey, Buffer.alloc(65536));
    expect((await big.closed).code).toBe(1009);
  });

  it("HEALTH carries UTF-8 text; RESTARTING two big-endian u32s, then close 1012", async () => {
    const relay = await startRelay({
      auth: { mode: "open" },
      relayId: "restarting",
      privateKey: relaySecret,
      log: () => {},
      closeGraceMs: 200,
    });
    try {
      const { bare } = await welcomed(relay.url, relayKey, node(14));
      relay.setHealth("dégradé");
      const health = await bare.nextOf(0x30);
      expect(health.equals(Buffer.concat([Uint8Array.of(0x30), Buffer.from("dégradé")]))).toBe(
        true,
      );
      const closing = relay.close({ restarting: { reconnectInMs: 1500, tryForMs: 70_000 } });
      const restarting = await bare.nextOf(0x31);
      expect([...restarting]).toEqual([0x31, 0, 0, 0x05, 0xdc, 0, 0x01, 0x11, 0x70]);
      expect((await bare.closed).code).toBe(1012);
      await closing;
    } finally {
      await relay.close();
    }
  });
});
