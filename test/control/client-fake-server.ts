// A scripted control server for the map client's tests: a `ws` server on loopback that says
// hello with a fresh challenge, checks the login's proof with primitives that share nothing
// with ours (node:crypto X25519, Python's keyed BLAKE2s: test/relay/independent-oracle.ts),
// and lets each test send what it wants and read what the client sent.

import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { CONTROL_PROTOCOL } from "../../worker/control/messages.ts";
import { type Node, node, pythonBlake2s, x25519Shared } from "../relay/independent-oracle.ts";

/** A message the client sent, parsed. */
export type Sent = Record<string, unknown> & { type: string };

/** One connection from the client. */
export class FakeConnection {
  /** The hello's challenge. */
  readonly challenge = randomBytes(32);
  /** Every message received, in order. */
  readonly received: Sent[] = [];
  /** How the connection ended, once it has. */
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly server: FakeControlServer,
  ) {
    ws.on("message", (data: Buffer) => {
      this.received.push(JSON.parse(data.toString("utf8")) as Sent);
      this.wake();
    });
    ws.on("close", (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString("utf8") };
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `condition` holds (checked after every message and at close). */
  private async until(condition: () => boolean, what: string): Promise<void> {
    while (!condition()) {
      if (this.closed !== undefined) {
        throw new Error(`connection closed (${this.closed.code}) while waiting for ${what}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The n-th message received (0-based), waiting for it. */
  async message(n: number): Promise<Sent> {
    await this.until(() => this.received.length > n, `message ${n}`);
    return this.received[n]!;
  }

  /** The login, checked: a proof that does not verify fails the test. */
  async login(): Promise<Sent> {
    const login = await this.message(0);
    if (login.type !== "login") throw new Error(`first message is ${login.type}`);
    const nodeKey = Buffer.from(login.nodeKey as string, "base64");
    const expected = await this.server.proofFor(nodeKey, this.challenge);
    if (expected.toString("base64") !== login.proof) throw new Error("login proof does not verify");
    return login;
  }

  /** Waits for the close. */
  async closedWith(): Promise<{ code: number; reason: string }> {
    while (this.closed === undefined) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.closed;
  }

  send(message: object | string): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  close(code: number, reason = ""): void {
    this.ws.close(code, reason);
  }
}

/** The scripted server. */
export class FakeControlServer {
  /** Every connection so far, in order. */
  readonly connections: FakeConnection[] = [];
  /** The server's X25519 key pair (node:crypto). */
  readonly key: Node = node(0x5e);
  /** False: connections get no hello (to test the handshake timeout). */
  sayHello = true;
  private readonly wss: WebSocketServer;
  private waiters: (() => void)[] = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on("connection", (ws) => {
      const conn = new FakeConnection(ws, this);
      this.connections.push(conn);
      if (this.sayHello) {
        conn.send({
          type: "hello",
          version: 1,
          serverKey: this.key.publicKey.toString("base64"),
          challenge: conn.challenge.toString("base64"),
        });
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Listens on 127.0.0.1, a free port. */
  static async start(): Promise<FakeControlServer> {
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => (protocols.has(CONTROL_PROTOCOL) ? CONTROL_PROTOCOL : false),
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    return new FakeControlServer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/control`;
  }

  /** The n-th connection (0-based), waiting for it. */
  async connection(n: number): Promise<FakeConnection> {
    while (this.connections.length <= n) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.connections[n]!;
  }

  /** keyed BLAKE2s-256(challenge) under X25519(server private, node public), independently. */
  proofFor(nodeKey: Uint8Array, challenge: Uint8Array): Promise<Buffer> {
    return pythonBlake2s(x25519Shared(this.key.privateKey, nodeKey), challenge);
  }

  async stop(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
