// A small relay for the client tests, on `ws` + frames.ts + proof.ts: hello with proof
// checking, forwarding by key, PEER_GONE for absent keys, PING/PONG, SEND_UDP recorded (and
// echoed back as RECV_UDP when asked), RESTARTING, and switches to refuse or drop things.
// The real relay (server/relay/) is written separately; this one only has to be correct.

import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { type CryptoCore, loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import * as F from "../../worker/relay/frames.ts";
import { expectedProof } from "../../worker/relay/proof.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";

/** A SEND_UDP the relay saw. */
export interface UdpSeen {
  from: string;
  address: Uint8Array;
  port: number;
  packet: Uint8Array;
}

/** The fake relay's switches and records. */
export class FakeRelay {
  /** Close every hello with 4401. */
  refuseAuth = false;
  /** Close new connections at once with 1013 (try again later). */
  refuseConnections = false;
  /** Do not answer PING. */
  dropPings = false;
  /** Echo SEND_UDP back as RECV_UDP. */
  echoUdp = true;
  /** WELCOME's `features` (none: a relay from before batches). With "batch", BATCH unpacks. */
  features: string[] | undefined;
  /** Byte 0 of every message clients sent after their hello, in order. */
  readonly messageTypes: number[] = [];
  /** Node keys (base64) of connections that reached WELCOME, in order. */
  readonly welcomed: string[] = [];
  readonly udp: UdpSeen[] = [];
  /** Connections attempted (upgrades), with their time (performance.now()). */
  readonly attempts: number[] = [];
  readonly clients = new Map<string, WebSocket>();
  port = 0;

  private server: WebSocketServer | undefined;
  private readonly random = seededBytes(0x7e1a7);
  private readonly relayPrivate: Uint8Array;
  private relayPublic: Uint8Array = new Uint8Array(32);

  private constructor(private readonly core: CryptoCore) {
    this.relayPrivate = this.random(32);
  }

  /** Starts a relay on 127.0.0.1 (an ephemeral port, or `port`). */
  static async start(port = 0): Promise<FakeRelay> {
    const relay = new FakeRelay(await loadCryptoCore());
    relay.relayPublic = await nobleX25519.publicKey(relay.relayPrivate);
    await relay.listen(port);
    return relay;
  }

  /** The ws:// URL of the relay. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/relay`;
  }

  /** Listens again (after stop()) on the same port. */
  async listen(port = this.port): Promise<void> {
    const server = new WebSocketServer({
      host: "127.0.0.1",
      port,
      handleProtocols: (protocols) =>
        protocols.has(F.RELAY_SUBPROTOCOL) ? F.RELAY_SUBPROTOCOL : false,
    });
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    server.on("connection", (ws) => this.accept(ws));
  }

  /** Sends RESTARTING to everyone, closes them with 1012 and stops listening. */
  async restart(reconnectInMs: number, tryForMs: number): Promise<void> {
    for (const ws of this.clients.values()) ws.send(F.encodeRestarting(reconnectInMs, tryForMs));
    await this.stop(1012);
  }

  /** Closes every connection with `code` and stops listening. */
  async stop(code = 1001): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const ws of server?.clients ?? []) ws.close(code, "stopping");
    this.clients.clear();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Closes one node's connection (by base64 key) as if the network dropped it. */
  kick(key: string): void {
    this.clients.get(key)?.terminate();
    this.clients.delete(key);
  }

  private accept(ws: WebSocket): void {
    this.attempts.push(performance.now());
    if (this.refuseConnections) {
      ws.close(1013, "try again later");
      return;
    }
    const challenge = this.random(32);
    let key: string | undefined;
    ws.send(F.encodeServerHello(this.relayPublic, challenge));
    ws.on("message", (data: Buffer) => {
      const frame = F.decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.length));
      if (key === undefined) {
        if (frame.type !== "client-hello") {
          ws.close(4400, "expected CLIENT_HELLO");
          return;
        }
        const nodeKey = frame.nodeKey.slice();
        const proof = frame.proof.slice();
        void expectedProof(this.core, nobleX25519, this.relayPrivate, nodeKey, challenge).then(
          (expected) => {
            if (this.refuseAuth || !expected.every((b, i) => proof[i] === b)) {
              ws.close(4401, "bad proof");
              return;
            }
            key = keyToBase64(nodeKey);
            this.clients.get(key)?.close(4409, "replaced");
            this.clients.set(key, ws);
            this.welcomed.push(key);
            const welcome = { relay: "fake", maxPacket: 65535, features: this.features };
            ws.send(F.encodeText(F.WELCOME, JSON.stringify(welcome)));
          },
        );
        return;
      }
      this.messageTypes.push(data[0]!);
      this.onFrame(ws, key, frame);
    });
    ws.on("close", () => {
      if (key !== undefined && this.clients.get(key) === ws) this.clients.delete(key);
    });
  }

  private onFrame(ws: WebSocket, from: string, frame: F.RelayFrame): void {
    switch (frame.type) {
      case "batch":
        if (this.features?.includes("batch")) {
          for (const inner of frame.frames) this.onFrame(ws, from, F.decodeFrame(inner));
        } // else ignored, as a v1 relay ignores every type it does not know
        return;
      case "send": {
        const to = this.clients.get(keyToBase64(frame.key));
        if (to === undefined) ws.send(F.encodePeerGone(frame.key, F.GONE_NOT_HERE));
        else to.send(F.encodeKeyed(F.RECV, Buffer.from(from, "base64"), frame.packet));
        return;
      }
      case "send-udp":
        this.udp.push({
          from,
          address: frame.endpoint.address.slice(),
          port: frame.endpoint.port,
          packet: frame.packet.slice(),
        });
        if (this.echoUdp) ws.send(F.encodeUdp(F.RECV_UDP, frame.endpoint, frame.packet));
        return;
      case "ping":
        if (!this.dropPings) ws.send(F.encodePing(F.PONG, frame.data));
        return;
      default:
        return;
    }
  }
}

/** Waits until `condition()` holds, polling every 5 ms, or throws after `ms`. */
export async function until(
  condition: () => boolean,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const end = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
