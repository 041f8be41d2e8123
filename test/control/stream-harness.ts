// A control server's map side on the real SQLite store (in memory) behind a loopback HTTP
// server, a manual clock, and a raw map-stream client that speaks the protocol through the
// real codec and proof (so a test sees every message and the exact close code).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket from "ws";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import {
  createSessionUser,
  sessionCookieName,
  startSession,
} from "../../server/control/auth/sessions.ts";
import { type Control, type ControlOptions, startControl } from "../../server/control/index.ts";
import type { CancelTimer, Clock } from "../../server/control/state/clock.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { decodeServerMessage, encodeClientMessage } from "../../worker/control/codec.ts";
import {
  CONTROL_PROTOCOL,
  type HelloMessage,
  type LoginMessage,
  type ServerMessage,
} from "../../worker/control/messages.ts";
import { loginProof } from "../../worker/control/proof.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";

/** A clock that moves only when told; due timers run in order of their time. */
export class ManualClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(private time = 1_800_000_000_000) {}

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): CancelTimer {
    const id = this.nextId++;
    this.timers.push({ at: this.time + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= end)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
  }
}

/** A running map side with its store, users and URL. */
export interface Harness {
  control: Control;
  store: Store;
  clock: ManualClock;
  url: string;
  origin: string;
  alice: UserRecord;
  bob: UserRecord;
  core: CryptoCore;
  /** A new auth key of `userId`. */
  authKey(spec: Partial<Parameters<typeof issueAuthKey>[1]> & { userId: number }): Promise<string>;
  /** A session cookie header for `userId`. */
  cookie(userId: number): Promise<string>;
  close(): Promise<void>;
}

/** Starts a map side on a fresh in-memory store, with users alice (admin) and bob (member). */
export async function startHarness(options: Partial<ControlOptions> = {}): Promise<Harness> {
  const clock = new ManualClock();
  const store = await openSqliteStore(":memory:", { now: () => clock.now() });
  const alice = await store.createUser({
    issuer: "corridor:local",
    subject: "alice",
    email: "alice@example.com",
    name: "Alice",
    role: "owner",
    lastLoginAt: null,
  });
  const bob = await store.createUser({
    issuer: "corridor:local",
    subject: "bob",
    email: "bob@example.com",
    name: "Bob",
    role: "member",
    lastLoginAt: null,
  });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const core = await initCrypto();
  const control = await startControl({
    store,
    relays: [
      {
        id: "default",
        region: "local",
        url: `ws://127.0.0.1:${port}/relay`,
        key: `${"A".repeat(43)}=`,
      },
    ],
    baseUrl: `${origin}/`,
    clock,
    crypto: core,
    sessionUser: createSessionUser(store, { secure: false, now: () => clock.now() }),
    ...options,
  });
  http.on("upgrade", (req, socket, head) => control.handleUpgrade(req, socket, head));
  return {
    control,
    store,
    clock,
    url: `ws://127.0.0.1:${port}/control`,
    origin,
    alice,
    bob,
    core,
    async authKey(spec) {
      const issued = await store.transaction((tx) =>
        issueAuthKey(tx, {
          reusable: false,
          ephemeral: false,
          tags: [],
          expiresAt: clock.now() + 3600_000,
          ...spec,
        }),
      );
      return issued.key;
    },
    async cookie(userId) {
      const started = await store.transaction((tx) => startSession(tx, userId, clock.now()));
      return `${sessionCookieName(false)}=${started.cookieValue}`;
    },
    async close() {
      await control.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await store.close();
    },
  };
}

/** How a stream ended. */
export interface Closed {
  code: number;
  reason: string;
}

/** A raw map-stream client: every server message in order, and the close. */
export class RawNode {
  readonly privateKey = generatePrivateKey();
  publicKey = "";
  private readonly inbox: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  ws: WebSocket | undefined;
  closed: Promise<Closed> = new Promise(() => {});

  constructor(private readonly harness: Harness) {}

  static async create(harness: Harness): Promise<RawNode> {
    const node = new RawNode(harness);
    node.publicKey = keyToBase64(await nodeX25519.publicKey(node.privateKey));
    return node;
  }

  /** Opens the stream (upgrade headers as given). */
  async connect(headers: Record<string, string> = {}): Promise<void> {
    const ws = new WebSocket(this.harness.url, CONTROL_PROTOCOL, { headers });
    this.ws = ws;
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on("message", (data) => {
      this.inbox.push(decodeServerMessage(data.toString()));
      for (const wake of this.waiters.splice(0)) wake();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
  }

  /** The next server message (waits for it). */
  async next(): Promise<ServerMessage> {
    while (this.inbox.length === 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        this.closed.then((c) => {
          if (this.inbox.length === 0) throw new Error(`stream closed ${c.code} ${c.reason}`);
        }),
      ]);
    }
    return this.inbox.shift()!;
  }

  /** The next message of `type`, failing on any other. */
  async expect<T extends ServerMessage["type"]>(
    type: T,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const message = await this.next();
    if (message.type !== type)
      throw new Error(`expected ${type}, got ${JSON.stringify(message).slice(0, 300)}`);
    return message as Extract<ServerMessage, { type: T }>;
  }

  /** Messages received but not yet read. */
  get pending(): ServerMessage[] {
    return [...this.inbox];
  }

  /** Connects, reads hello, sends a proven login with `extra`. */
  async login(
    extra: Partial<LoginMessage> = {},
    headers: Record<string, string> = {},
  ): Promise<HelloMessage> {
    await this.connect(headers);
    const hello = await this.expect("hello");
    const proof = await loginProof(this.harness.core, nodeX25519, this.privateKey, hello);
    this.send({
      type: "login",
      ...proof,
      hostinfo: { hostname: "host", os: "linux" },
      ...extra,
    });
    return hello;
  }

  send(message: Parameters<typeof encodeClientMessage>[0]): void {
    this.ws!.send(encodeClientMessage(message));
  }

  close(): void {
    this.ws?.close();
  }
}
