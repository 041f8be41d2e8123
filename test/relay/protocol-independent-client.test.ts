// Our relay client (RelayBind) against a relay laid out by hand from DESIGN §4: the server
// side here is a bare `ws` server that writes every frame byte by byte and checks the client's
// CLIENT_HELLO proof with node:crypto's X25519 and Python's keyed BLAKE2s (independent-oracle.ts).
// Nothing from worker/relay/frames.ts or proof.ts is used on this side.

import { randomBytes } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { describeWithPrereq, onPath, prereq } from "../helpers/prereq.ts";
import { endpoint, node, proofFor, rawPublic, x25519Private } from "./independent-oracle.ts";

const need = prereq(onPath("python3"));

const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** One connection to the hand-laid relay: messages in arrival order, and the close. */
interface Peer {
  ws: WebSocket;
  messages: Buffer[];
  closed: Promise<{ code: number; reason: string }>;
  next(): Promise<Buffer>;
}

/** A relay that only sends SERVER_HELLO (0x01, version 1, key, challenge) on connection. */
async function handLaidRelay(relaySecret: Buffer) {
  const relayKey = rawPublic(x25519Private(relaySecret));
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols) =>
      protocols.has("corridor-relay.v1") ? "corridor-relay.v1" : false,
  });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const peers: { peer: Peer; challenge: Buffer }[] = [];
  let arrived: (() => void) | undefined;
  server.on("connection", (ws) => {
    const messages: Buffer[] = [];
    let wake: (() => void) | undefined;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        wake?.();
      });
    });
    ws.on("message", (data: Buffer) => {
      messages.push(Buffer.from(data));
      wake?.();
    });
    const peer: Peer = {
      ws,
      messages,
      closed,
      async next() {
        for (;;) {
          const message = messages.shift();
          if (message !== undefined) return message;
          if (ws.readyState === ws.CLOSED) throw new Error("closed");
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      },
    };
    const challenge = randomBytes(32);
    ws.send(Buffer.concat([Uint8Array.of(0x01, 1), relayKey, challenge]));
    peers.push({ peer, challenge });
    arrived?.();
  });
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/relay`,
    relayKey,
    /** The next connection (waits for it). */
    async accept() {
      while (peers.length === 0) {
        await new Promise<void>((resolve) => {
          arrived = resolve;
        });
      }
      return peers.shift()!;
    },
  };
}

describeWithPrereq(need, "RelayBind against a relay built by hand from DESIGN §4", () => {
  it("proves its key as §4 says, then frames SEND/SEND_UDP/PING and reads RECV, RECV_UDP, PEER_GONE, HEALTH", async () => {
    const relay = await handLaidRelay(Buffer.alloc(32, 0x31));
    const me = node(0x42);
    const other = node(0x43);
    const got: { packet: string; from: Endpoint }[] = [];
    const gone: [string, number][] = [];
    const health: string[] = [];
    const bind = new RelayBind({
      url: `${relay.url}#key=${relay.relayKey.toString("base64")}`,
      privateKey: new Uint8Array(Buffer.alloc(32, 0x42)),
      core: await loadCryptoCore(),
      x25519: nodeX25519,
      token: "tøken",
      connect: nodeRelayConnect(),
      onPeerGone: (key, reason) => gone.push([key, reason]),
      onHealth: (text) => health.push(text),
    });
    cleanup.push(() => bind.close());
    const opening = bind.open((packet, from) =>
      got.push({ packet: Buffer.from(packet).toString(), from }),
    );
    const { peer, challenge } = await relay.accept();

    // CLIENT_HELLO: 0x02, node public key (32), proof (32), token (UTF-8).
    const hello = await peer.next();
    const token = Buffer.from("tøken", "utf8");
    const proof = await proofFor(me, relay.relayKey, challenge);
    expect(hello.equals(Buffer.concat([Uint8Array.of(0x02), me.publicKey, proof, token]))).toBe(
      true,
    );

    peer.ws.send(Buffer.concat([Uint8Array.of(0x03), Buffer.from('{"relay":"by-hand"}')]));
    await opening;
    expect(bind.welcome).toEqual({ relay: "by-hand" });

    // The first PING goes out at once: 0x20 and 8 bytes; our PONG echoes them.
    const ping = await peer.next();
    expect(ping.length).toBe(9);
    expect(ping[0]).toBe(0x20);
    peer.ws.send(Buffer.concat([Uint8Array.of(0x21), ping.subarray(1)]));

    // SEND: 0x10, destination key, packet. SEND_UDP: 0x12, ::ffff:a.b.c.d, port (BE), packet.
    expect(
      bind.send(
        Buffer.from("to peer"),
        bind.parseEndpoint(`peer:${other.publicKey.toString("base64")}`),
      ),
    ).toBe(true);
    expect(bind.send(Buffer.from("to host"), bind.parseEndpoint("192.0.2.7:51820"))).toBe(true);
    expect(
      (await peer.next()).equals(
        Buffer.concat([Uint8Array.of(0x10), other.publicKey, Buffer.from("to peer")]),
      ),
    ).toBe(true);
    const udp = await peer.next();
    expect([...udp.subarray(0, 19)]).toEqual([
      0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7, 0xca, 0x6c,
    ]);
    expect(udp.subarray(19).toString()).toBe("to host");

    // The relay's PING is answered with the same 8 bytes.
    peer.ws.send(Buffer.from([0x20, 1, 2, 3, 4, 5, 6, 7, 8]));
    expect([...(await peer.next())]).toEqual([0x21, 1, 2, 3, 4, 5, 6, 7, 8]);

    // RECV, RECV_UDP, PEER_GONE, HEALTH, each laid out by hand.
    peer.ws.send(Buffer.concat([Uint8Array.of(0x11), other.publicKey, Buffer.from("from peer")]));
    peer.ws.send(
      Buffer.concat([
        Uint8Array.of(0x13),
        endpoint([192, 0, 2, 7], 51820),
        Buffer.from("from host"),
      ]),
    );
    peer.ws.send(Buffer.concat([Uint8Array.of(0x22), other.publicKey, Uint8Array.of(1)]));
    peer.ws.send(Buffer.concat([Uint8Array.of(0x30), Buffer.from("über")]));
    peer.ws.send(Buffer.from([0x20, 9, 9, 9, 9, 9, 9, 9, 9])); // a marker: all above were read
    await peer.next();
    expect(got.map((g) => [g.packet, g.from.key])).toEqual([
      ["from peer", `peer:${other.publicKey.toString("base64")}`],
      ["from host", "192.0.2.7:51820"],
    ]);
    expect(gone).toEqual([[other.publicKey.toString("base64"), 1]]);
    expect(health).toEqual(["über"]);
  });

  it("a relay showing another key than the pinned one gets no CLIENT_HELLO and a 4403", async () => {
    const relay = await handLaidRelay(Buffer.alloc(32, 0x32));
    const pinned = rawPublic(x25519Private(Buffer.alloc(32, 0x33)));
    const bind = new RelayBind({
      url: `${relay.url}#key=${pinned.toString("base64url")}`,
      privateKey: new Uint8Array(Buffer.alloc(32, 0x44)),
      core: await loadCryptoCore(),
      x25519: nodeX25519,
      connect: nodeRelayConnect(),
    });
    cleanup.push(() => bind.close());
    const opening = bind.open(() => {});
    const { peer } = await relay.accept();
    await expect(opening).rejects.toThrow(`but ${pinned.toString("base64")} is pinned`);
    expect(await peer.closed).toEqual({ code: 4403, reason: "relay key mismatch" });
    expect(peer.messages).toEqual([]);
  });
});
