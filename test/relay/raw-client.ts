// A tiny relay client for the server tests and the fuzzer: `ws` + the frame codec + the hello
// proof, with no reconnects and no policy, so tests can send anything and see everything.

import WebSocket from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { RelayOptions } from "../../server/relay/options.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import {
  decodeFrame,
  encodeClientHello,
  encodeKeyed,
  encodePing,
  PING,
  RELAY_SUBPROTOCOL,
  type RelayFrame,
  SEND,
} from "../../worker/relay/frames.ts";
import { nodeProof } from "../../worker/relay/proof.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";

/** A node identity. */
export interface NodeKeys {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A fresh node key pair. */
export async function nodeKeys(): Promise<NodeKeys> {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: await nodeX25519.publicKey(privateKey) };
}

let core: CryptoCore | undefined;

/** How to connect. */
export interface RawOptions {
  protocol?: string | string[];
  origin?: string;
  /** The local address to connect from (another loopback address, e.g. 127.0.0.2). */
  localAddress?: string;
  /** Print nothing; keep frames (default: keep them). */
  keep?: boolean;
}

/** A raw connection: every frame received is queued; waiters take them in order. */
export class RawClient {
  readonly frames: RelayFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The server's hello, once it arrived. */
  serverHello: Extract<RelayFrame, { type: "server-hello" }> | undefined;
  received = 0;
  private waiters: Array<() => void> = [];
  onFrame: ((frame: RelayFrame) => void) | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly keep = true,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    ws.on("error", () => {});
    ws.on("message", (data: Buffer) => {
      this.received++;
      // Copy: frames are views, and tests keep them.
      const frame = decodeFrame(new Uint8Array(data));
      if (frame.type === "server-hello" && this.serverHello === undefined) this.serverHello = frame;
      this.onFrame?.(frame);
      if (this.keep || frame.type === "server-hello" || frame.type === "welcome")
        this.frames.push(frame);
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next frame (of `type`, skipping others when given), or throws after `timeoutMs`. */
  async next<T extends RelayFrame["type"]>(
    type?: T,
    timeoutMs = 3000,
  ): Promise<RelayFrame & { type: T }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.frames.length > 0) {
        const frame = this.frames.shift()!;
        if (type === undefined || frame.type === type) return frame as RelayFrame & { type: T };
      }
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error(`closed while waiting for ${type ?? "a frame"}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? "a frame"}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends raw bytes (or text). */
  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** SEND(dest, packet). */
  sendTo(destination: Uint8Array, packet: Uint8Array): void {
    this.ws.send(encodeKeyed(SEND, destination, packet));
  }

  /** PING and the time until its PONG, in ms. */
  async ping(timeoutMs = 3000): Promise<number> {
    const data = globalThis.crypto.getRandomValues(new Uint8Array(8));
    const start = performance.now();
    const got = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("ping timed out")), timeoutMs);
      const previous = this.onFrame;
      this.onFrame = (frame) => {
        previous?.(frame);
        if (frame.type === "pong" && frame.data.every((b, i) => b === data[i])) {
          clearTimeout(timer);
          this.onFrame = previous;
          resolve(performance.now() - start);
        }
      };
    });
    this.ws.send(encodePing(PING, data));
    return got;
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a WebSocket to the relay (not yet open). */
export function openSocket(url: string, options: RawOptions = {}): WebSocket {
  return new WebSocket(url, options.protocol ?? RELAY_SUBPROTOCOL, {
    ...(options.origin !== undefined ? { origin: options.origin } : {}),
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
  });
}

/** Resolves once `ws` is open; rejects with "HTTP <status>" on a refused upgrade. */
export function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/** Connects and waits for SERVER_HELLO, without answering it. */
export async function connectRaw(url: string, options: RawOptions = {}): Promise<RawClient> {
  const ws = openSocket(url, options);
  const client = new RawClient(ws, options.keep ?? true);
  await opened(ws);
  await client.next("server-hello");
  return client;
}

/** How to answer the hello. */
export interface HelloOptions {
  token?: string;
  /** Replace the proof (a bad proof test). */
  proof?: Uint8Array;
}

/** Answers SERVER_HELLO with a CLIENT_HELLO for `keys`. */
export async function sendHello(
  client: RawClient,
  keys: NodeKeys,
  options: HelloOptions = {},
): Promise<void> {
  const hello = client.serverHello;
  if (hello === undefined) throw new Error("no SERVER_HELLO yet");
  core ??= await initCrypto();
  const proof =
    options.proof ??
    (await nodeProof(core, nodeX25519, keys.privateKey, hello.relayKey, hello.challenge));
  client.send(encodeClientHello(keys.publicKey, proof, options.token ?? ""));
}

/** Connects and completes the hello; resolves after WELCOME. */
export async function connectAuthed(
  url: string,
  keys: NodeKeys,
  options: RawOptions & HelloOptions = {},
): Promise<RawClient> {
  const client = await connectRaw(url, options);
  await sendHello(client, keys, options);
  await client.next("welcome");
  return client;
}

/** Starts a relay on an ephemeral loopback port with logs kept in `logs` (not printed). */
export async function startTestRelay(
  options: Partial<RelayOptions> = {},
): Promise<{ relay: RelayServer; logs: string[] }> {
  const logs: string[] = [];
  const relay = await startRelay({
    auth: { mode: "open" },
    relayId: "test-relay",
    log: (line) => logs.push(line),
    ...options,
  });
  return { relay, logs };
}

/**
 * Ends what a test left open: terminates `clients` (emptying the list) and closes `relay`.
 * Resolves with undefined, for `relay = await endTestRelay(relay, clients)` in afterEach, so a
 * test that starts no relay does not close the previous test's again.
 */
export async function endTestRelay(
  relay: RelayServer | undefined,
  clients: RawClient[],
): Promise<undefined> {
  for (const c of clients.splice(0)) c.ws.terminate();
  await relay?.close();
  return undefined;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
