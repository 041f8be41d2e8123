// A whole mesh on loopback for the end-to-end tests: the control server's map side and its HTTP
// API on one port (the API driven as a user would, with API keys), a relay that trusts the
// control server's tokens, and MeshNodes that join through the shared map client. The store is
// SQLite in a temp folder of its own; the map side, the API and the relay share a manual clock
// (stream-harness.ts), so grace periods and expiries happen when the test moves time, not after
// real minutes. Also: a gate that holds a node's reconnects, and TCP echo helpers.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiListener } from "../../server/control/api/app.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { type Control, type ControlOptions, startControl } from "../../server/control/index.ts";
import { openStore } from "../../server/control/store/open.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { MeshNode, type MeshNodeOptions } from "../../server/mesh-node.ts";
import { startRelay } from "../../server/relay/relay-server.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import type {
  ControlConnect,
  ControlSocket,
  ControlSocketEvents,
} from "../../worker/control/socket.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { listenOnLoopback, reservedPort } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { ManualClock } from "./stream-harness.ts";

/** An API answer: status and parsed JSON body. */
export interface ApiReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  json: any;
}

/** The people of the mesh: alice owns it (admin); bob and carol are members. */
export type Person = "alice" | "bob" | "carol";

/** A running mesh. */
export interface Mesh {
  control: Control;
  store: Store;
  clock: ManualClock;
  /** ws://127.0.0.1:PORT/control */
  controlUrl: string;
  users: Record<Person, UserRecord>;
  /** Calls the HTTP API as `as` (Bearer API key). */
  api(as: Person, method: string, path: string, body?: unknown): Promise<ApiReply>;
  /** PUT /api/v1/policy as alice; throws with the server's answer unless it is accepted. */
  setPolicy(text: string): Promise<void>;
  /** POST /api/v1/authkeys as `as`: the key (shown once) and its record's id and prefix. */
  authKey(
    as: Person,
    body: { ephemeral?: boolean; reusable?: boolean; tags?: string[]; expiry?: string },
  ): Promise<{ key: string; id: number; prefix: string }>;
  /** A node joined with `authKey` (start() resolved: first map applied); closed by close(). */
  join(hostname: string, authKey: string, options?: Partial<MeshNodeOptions>): Promise<MeshNode>;
  /** A node made but not started (for refusals); closed by close(). */
  node(hostname: string, authKey: string, options?: Partial<MeshNodeOptions>): Promise<MeshNode>;
  /** The node's id on the control server. */
  idOf(node: MeshNode): number;
  /** Closes nodes, relay, map side, HTTP server and store, and removes the temp folder. */
  close(): Promise<void>;
}

/** Starts a mesh on loopback; `options` go to startControl. */
export async function startMesh(options: Partial<ControlOptions> = {}): Promise<Mesh> {
  const toClose: (() => Promise<void> | void)[] = [];
  const close = async () => {
    const errors: unknown[] = [];
    for (const fn of toClose.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  };
  try {
    return await build(options, toClose, close);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}

async function build(
  options: Partial<ControlOptions>,
  toClose: (() => Promise<void> | void)[],
  close: () => Promise<void>,
): Promise<Mesh> {
  const dir = mkdtempSync(join(tmpdir(), "corridor-mesh-acceptance-"));
  toClose.push(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new ManualClock();
  const store = await openStore(join(dir, "control.db"), { now: () => clock.now() });
  toClose.push(() => store.close());
  const person = (subject: Person, role: UserRecord["role"]) =>
    store.createUser({
      issuer: "corridor:local",
      subject,
      email: `${subject}@example.com`,
      name: subject,
      role,
      lastLoginAt: null,
    });
  const users = {
    alice: await person("alice", "owner"),
    bob: await person("bob", "member"),
    carol: await person("carol", "member"),
  };
  const apiKeys = {} as Record<Person, string>;
  for (const who of ["alice", "bob", "carol"] as const) {
    apiKeys[who] = (await createApiKeyLocal(store, users[who].id, { now: clock.now() })).key;
  }

  // The relay's port comes first: the relay list the map side hands out names it.
  const relayPort = await reservedPort();
  const relayPrivate = seededBytes(0x9e5a)(32);
  const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
  let listener: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  const http = createServer((req, res) => {
    if (listener === null) res.writeHead(503).end();
    else void listener(req, res);
  });
  const port = await listenOnLoopback(http);
  toClose.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  const baseUrl = `http://127.0.0.1:${port}/`;
  const internalErrors: unknown[] = [];
  const control = await startControl({
    store,
    relays: [
      { id: "default", region: "local", url: `ws://127.0.0.1:${relayPort}/relay`, key: relayKey },
    ],
    baseUrl,
    clock,
    crypto: await initCrypto(),
    // The API runs on the same manual clock (startControl builds it).
    api: { onInternalError: (error) => internalErrors.push(error) },
    ...options,
  });
  toClose.push(() => control.close());
  http.on("upgrade", (req, socket, head) => {
    if (new URL(req.url ?? "/", baseUrl).pathname === CONTROL_PATH) {
      control.handleUpgrade(req, socket, head);
    } else socket.destroy();
  });
  listener = createApiListener(control.api);
  const relay = await startRelay({
    auth: { mode: "token", controlPublicKey: control.tokenPublicKey },
    relayId: "default",
    port: relayPort,
    privateKey: relayPrivate,
    // Tokens are signed on the map side's manual clock.
    clock: () => clock.now(),
    log: () => {},
    closeGraceMs: 100,
  });
  toClose.push(() => relay.close());

  const api = async (as: Person, method: string, path: string, body?: unknown) => {
    const res = await fetch(new URL(path, baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${apiKeys[as]}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 500) throw new Error(`API ${method} ${path}: ${res.status} ${text}`);
    return { status: res.status, json: text === "" ? null : JSON.parse(text) };
  };

  const makeNode = async (
    hostname: string,
    authKey: string,
    extra: Partial<MeshNodeOptions> = {},
  ): Promise<MeshNode> => {
    const node = await MeshNode.create({
      controlUrl: `ws://127.0.0.1:${port}${CONTROL_PATH}`,
      authKey,
      hostname,
      os: "linux",
      relayBackoffBaseMs: 20,
      relayBackoffMaxMs: 200,
      ...extra,
    });
    // Nodes close before the servers (toClose runs in reverse).
    toClose.push(() => node.close());
    return node;
  };

  return {
    control,
    store,
    clock,
    controlUrl: `ws://127.0.0.1:${port}${CONTROL_PATH}`,
    users,
    api,
    async setPolicy(text) {
      const reply = await api("alice", "PUT", "/api/v1/policy", { text });
      if (reply.status !== 200) {
        throw new Error(`policy refused: ${reply.status} ${JSON.stringify(reply.json)}`);
      }
    },
    async authKey(as, body) {
      const reply = await api(as, "POST", "/api/v1/authkeys", body);
      if (reply.status !== 201) {
        throw new Error(`auth key refused: ${reply.status} ${JSON.stringify(reply.json)}`);
      }
      return { key: reply.json.key, id: reply.json.authKey.id, prefix: reply.json.authKey.prefix };
    },
    node: makeNode,
    async join(hostname, authKey, extra) {
      const node = await makeNode(hostname, authKey, extra);
      await node.start();
      return node;
    },
    idOf(node) {
      const id = control.mapper.nodeIdByKey(node.key);
      if (id === undefined) throw new Error(`no node with key ${node.key}`);
      return id;
    },
    async close() {
      await close();
      if (internalErrors.length > 0) throw internalErrors[0];
    },
  };
}

/**
 * Opens a node's map-stream sockets; can cut the open one (as a proxy or a network would) and
 * hold new ones back: while held, a connection attempt gets a socket that opens for real only
 * at release(), so a test makes changes while the node is certainly away, whatever its
 * reconnect delay turns out to be.
 */
export class ControlGate {
  /** Connection attempts so far (held ones included). */
  attempts = 0;
  private held: (() => void)[] | null = null;
  private current: ControlSocket | undefined;
  readonly connect: ControlConnect;

  constructor(inner: ControlConnect = nodeControlConnect()) {
    const open = (url: string, protocol: string) => {
      this.current = inner(url, protocol);
      return this.current;
    };
    this.connect = (url, protocol) => {
      this.attempts++;
      const held = this.held;
      return held === null ? open(url, protocol) : deferredSocket(() => open(url, protocol), held);
    };
  }

  /** Holds every connection attempt from now on. */
  hold(): void {
    this.held ??= [];
  }

  /** Lets held attempts (and later ones) through. */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const run of held) run();
  }

  /** Closes the latest socket from under the client with 1001 "going away" (it resumes). */
  cut(): void {
    this.current?.close(1001, "going away");
  }
}

/** A socket whose real connection is made when `queue`'s entry runs. */
function deferredSocket(open: () => ControlSocket, queue: (() => void)[]): ControlSocket {
  let real: ControlSocket | undefined;
  let events: ControlSocketEvents | undefined;
  let closed = false;
  queue.push(() => {
    if (closed) return;
    real = open();
    if (events !== undefined) real.listen(events);
  });
  return {
    get bufferedAmount() {
      return real?.bufferedAmount ?? 0;
    },
    listen(handlers) {
      events = handlers;
      real?.listen(handlers);
    },
    send(text) {
      real?.send(text);
    },
    close(code, reason) {
      closed = true;
      real?.close(code, reason);
    },
  };
}

/** Accepts TCP connections on `port` and echoes what comes, upper-cased; counts connections. */
export function echoServer(node: MeshNode, port: number): { accepted: number } {
  const listener = node.net.tcp.listen("any", port);
  const counts = { accepted: 0 };
  void (async () => {
    for (;;) {
      const conn = await listener.accept().catch(() => undefined);
      if (conn === undefined) return;
      counts.accepted++;
      const writer = conn.writable.getWriter();
      void (async () => {
        const reader = conn.readable.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          await writer.write(
            new TextEncoder().encode(new TextDecoder().decode(r.value).toUpperCase()),
          );
        }
        await writer.close();
      })().catch(() => {});
    }
  })();
  return counts;
}

/** Connects from `from` to `to`:`port`, sends `text`, and returns all that comes back. */
export async function tcpExchange(
  from: MeshNode,
  to: string,
  port: number,
  text: string,
  timeoutMs = 10_000,
): Promise<string> {
  const conn = await from.net.tcp.connect(from.net.sourceFor(parseIp(to)), parseIp(to), port, {
    timeoutMs,
  });
  const writer = conn.writable.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  let got = "";
  const reader = conn.readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    got += new TextDecoder().decode(r.value);
  }
  return got;
}

/** The names of the peers in `node`'s map, sorted. */
export function peerNames(node: MeshNode): string[] {
  return [...node.state.peers.values()].map((p) => p.name).sort();
}
