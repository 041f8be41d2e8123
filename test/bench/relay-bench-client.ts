// Relay clients for the relay benchmark, shared by relay.bench.ts (the bulk flows, and PING
// from the benchmark's own event loop) and relay-ping-child.ts (PING from a process of its
// own): the hello over a raw `ws` socket, and PING round trips.

import WebSocket from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import {
  decodeFrame,
  encodeClientHello,
  PING,
  PONG,
  RELAY_SUBPROTOCOL,
} from "../../worker/relay/frames.ts";
import { nodeProof } from "../../worker/relay/proof.ts";
import type { NodeKeys } from "../relay/raw-client.ts";

/** Connects to the relay and completes the hello; resolves after WELCOME. */
export function relayClient(core: CryptoCore, url: string, keys: NodeKeys): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, RELAY_SUBPROTOCOL, { perMessageDeflate: false });
    let done = false;
    const failed = (error: unknown) => {
      if (done) return;
      done = true;
      ws.removeAllListeners("message");
      ws.terminate();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    ws.on("error", failed);
    ws.once("unexpected-response", (_req, res) => failed(new Error(`HTTP ${res.statusCode}`)));
    ws.once("close", (code) => failed(new Error(`closed with ${code}`)));
    let state = 0;
    ws.on("message", (data: Buffer) => {
      const frame = decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.length));
      if (state === 0 && frame.type === "server-hello") {
        state = 1;
        nodeProof(core, nodeX25519, keys.privateKey, frame.relayKey, frame.challenge).then(
          (proof) => ws.send(encodeClientHello(keys.publicKey, proof)),
          failed,
        );
      } else if (state === 1 && frame.type === "welcome") {
        done = true;
        ws.removeAllListeners("message");
        resolve(ws);
      }
    });
  });
}

let pingCounter = 0;

/** One PING round trip in ms; rejects when no PONG comes within 5 s. */
export function ping(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = Buffer.alloc(9);
    data[0] = PING;
    data.writeUInt32BE(++pingCounter, 5);
    const start = performance.now();
    const onMessage = (reply: Buffer) => {
      if (reply.length === 9 && reply[0] === PONG && reply.compare(data, 1, 9, 1, 9) === 0) {
        clearTimeout(timer);
        ws.off("message", onMessage);
        resolve(performance.now() - start);
      }
    };
    const timer = setTimeout(() => {
      ws.off("message", onMessage);
      reject(new Error("PING: no PONG within 5 s"));
    }, 5000);
    ws.on("message", onMessage);
    ws.send(data);
  });
}

/** Up to `count` round trips one after another, stopping early once `until()` is true. */
export async function pings(
  ws: WebSocket,
  count: number,
  until?: () => boolean,
): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count && !(until?.() ?? false)) out.push(await ping(ws));
  return out;
}

/** The p-quantile (0..1) of `values`, nearest rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}
