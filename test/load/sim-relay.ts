// A light relay client for load runs: one WebSocket to a relay (subprotocol corridor-relay.v1),
// the real hello (SERVER_HELLO's relay key checked against the key the map lists, the proof of
// the node's X25519 key from worker/relay/proof.ts, the token of the node's map in
// CLIENT_HELLO), then SEND and RECV frames (worker/relay/frames.ts) and PONG for the relay's
// PING. What RelayBind adds (reconnects with backoff, keepalive, batching, UDP, outbound
// queues) is left out so that thousands fit in one process: a plain v1 client, which every
// relay must serve.

import WebSocket from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { MAX_BATCH_MESSAGE } from "../../worker/relay/batch.ts";
import * as F from "../../worker/relay/frames.ts";
import { nodeProof } from "../../worker/relay/proof.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";

/** What a SimRelayLink needs. */
export interface SimRelayLinkOptions {
  /** ws://HOST:PORT/relay, from the map's relay list. */
  url: string;
  /** The relay's X25519 key as the map lists it (base64): SERVER_HELLO must present it. */
  relayKey: string;
  core: CryptoCore;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** The relay token of the node's map. */
  token: string;
  /** A RECV frame: the sender's key and the packet (views into the message). */
  onPacket: (link: SimRelayLink, from: Uint8Array, packet: Uint8Array) => void;
  /** The link closed after its welcome (not by close()). */
  onLost: (link: SimRelayLink, why: string) => void;
}

/** One node's connection to one relay. */
export class SimRelayLink {
  private ws: WebSocket | undefined;
  private welcomed = false;

  constructor(readonly options: SimRelayLinkOptions) {}

  /** Connects and says hello; resolves on WELCOME, rejects when the relay refuses or closes. */
  open(): Promise<void> {
    const { url, relayKey, core, privateKey, publicKey, token } = this.options;
    const pinned = keyFromBase64(relayKey, "relay key");
    const ws = new WebSocket(url, F.RELAY_SUBPROTOCOL, {
      perMessageDeflate: false,
      maxPayload: MAX_BATCH_MESSAGE,
    });
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        if (this.welcomed) {
          this.welcomed = false;
          if (this.ws === ws) this.options.onLost(this, why);
        } else {
          reject(new Error(`relay ${url}: ${why}`));
        }
        this.ws = undefined;
      };
      ws.on("error", () => {}); // the close event follows
      ws.on("close", (code: number, reason: Buffer) => {
        if (this.ws === ws) fail(`closed ${code} ${reason.toString()}`);
      });
      ws.on("message", (data: Buffer) => {
        const frame = F.decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        switch (frame.type) {
          case "server-hello": {
            if (!Buffer.from(frame.relayKey).equals(Buffer.from(pinned))) {
              ws.close(1000, "load rig: not the relay the map lists");
              fail("SERVER_HELLO presented another key than the map's");
              return;
            }
            // The frame's views point into `data`: copy before awaiting.
            const relayKeyCopy = frame.relayKey.slice();
            const challenge = frame.challenge.slice();
            nodeProof(core, nodeX25519, privateKey, relayKeyCopy, challenge).then(
              (proof) => {
                if (this.ws === ws) ws.send(F.encodeClientHello(publicKey, proof, token));
              },
              (error: unknown) => fail(`proof: ${(error as Error).message}`),
            );
            return;
          }
          case "welcome":
            if (this.welcomed) return;
            this.welcomed = true;
            resolve();
            return;
          case "recv":
            this.options.onPacket(this, frame.key, frame.packet);
            return;
          case "ping":
            ws.send(F.encodePing(F.PONG, frame.data));
            return;
          case "invalid":
            ws.close(1002, "load rig: invalid frame");
            fail(`invalid frame: ${frame.error}`);
            return;
          default: // pong, peer-gone, health, restarting: nothing to do in a load run
            return;
        }
      });
    });
  }

  /** Whether the relay welcomed the link and it is still open. */
  get isOpen(): boolean {
    return this.welcomed && this.ws !== undefined;
  }

  /** SEND `packet` to the node with key `to`. */
  send(to: Uint8Array, packet: Uint8Array): void {
    this.ws?.send(F.encodeKeyed(F.SEND, to, packet));
  }

  /** Ends the link at once (the end of a run). */
  close(): void {
    const ws = this.ws;
    this.ws = undefined;
    this.welcomed = false;
    ws?.terminate();
  }
}
