// Several control servers (the real map side: stream, hub, mapper, cluster/) on one PostgreSQL
// database, each behind its own loopback HTTP server, and a TCP "load balancer" that sends each
// new connection to the server it is told to: killing a server and pointing the balancer at
// another is what an operator's load balancer does when a health check fails. Also what every
// cluster test repeats: a throwaway PostgreSQL per describe block, a seeded database, and real
// ControlClients as test nodes (their map, the closes they were sent).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  connect,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from "node:net";
import { afterAll, beforeAll } from "vitest";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { type Control, startControl } from "../../server/control/index.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import type { MetricsRegistry } from "../../server/metrics/registry.ts";
import { ControlClient } from "../../worker/control/client.ts";
import type { MapState } from "../../worker/control/map-state.ts";
import type { ControlConnect } from "../../worker/control/socket.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { type PgCluster, startPostgres } from "../helpers/postgres.ts";

/** One control server of the cluster. */
export interface Member {
  readonly id: string;
  control: Control;
  store: Store;
  /** ws://127.0.0.1:PORT/control of this server itself. */
  url: string;
  port: number;
  /** Stops it abruptly: connections cut, no goodbye to the other servers. */
  kill(): Promise<void>;
  /** Stops it as an operator would (streams told to come back, cluster left). */
  close(): Promise<void>;
}

/** Starts a control server on `databaseUrl` with fast cluster timers (and `metrics`, if given). */
export async function startMember(
  databaseUrl: string,
  id: string,
  core: CryptoCore,
  metrics?: MetricsRegistry,
): Promise<Member> {
  const store = await openPostgresStore(databaseUrl, { maxConnections: 4 });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const sockets = new Set<Socket>();
  http.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  const control = await startControl({
    store,
    relays: [
      { id: "default", region: "local", url: "ws://127.0.0.1:1/relay", key: `${"A".repeat(43)}=` },
    ],
    baseUrl: `http://127.0.0.1:${port}/`,
    crypto: core,
    keepaliveMs: 400,
    cluster: { serverId: id, heartbeatMs: 400, pollMs: 200 },
    metrics,
  });
  http.on("upgrade", (req, socket, head) => control.handleUpgrade(req, socket, head));
  let stopped = false;
  return {
    id,
    control,
    store,
    port,
    url: `ws://127.0.0.1:${port}/control`,
    async kill() {
      if (stopped) return;
      stopped = true;
      // A crash: the cluster connections go first, so nothing is said to anyone after.
      await control.cluster?.close();
      for (const socket of sockets) socket.destroy();
      http.close();
      await control.stream.close().catch(() => {});
      await store.close();
    },
    async close() {
      if (stopped) return;
      stopped = true;
      await control.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await store.close();
    },
  };
}

/** A TCP balancer: each new connection goes to `target`'s port; `cut()` drops them all. */
export interface Balancer {
  url: string;
  target: Member;
  cut(): void;
  close(): Promise<void>;
}

/** Starts a balancer in front of `first`. */
export async function startBalancer(first: Member): Promise<Balancer> {
  const open = new Set<Socket>();
  const balancer: Balancer = {
    url: "",
    target: first,
    cut() {
      for (const socket of open) socket.destroy();
    },
    async close() {
      balancer.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: TcpServer = createTcpServer((client) => {
    const upstream = connect(balancer.target.port, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  balancer.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/control`;
  return balancer;
}

/** Users alice (owner) and bob (member) in a fresh database, and an auth key maker. */
export async function seedUsers(
  store: Store,
): Promise<{ alice: UserRecord; bob: UserRecord; authKey(userId: number): Promise<string> }> {
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
  return {
    alice,
    bob,
    async authKey(userId) {
      const issued = await store.transaction((tx) =>
        issueAuthKey(tx, {
          userId,
          reusable: true,
          ephemeral: false,
          tags: [],
          expiresAt: Date.now() + 3600_000,
        }),
      );
      return issued.key;
    },
  };
}

export { initCrypto };

/** A throwaway PostgreSQL for one describe block, and what to undo after it. */
export interface PostgresFixture {
  /** The cluster (set once beforeAll ran). */
  readonly pg: PgCluster;
  /** Run newest first after the block, before the cluster stops. */
  readonly cleanup: (() => Promise<void> | void)[];
}

/**
 * Starts PostgreSQL before the block's tests and, after them, runs `cleanup` (newest first)
 * and stops it. Call inside the describe block.
 */
export function usePostgres(): PostgresFixture {
  let pg: PgCluster | undefined;
  const cleanup: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
    await pg?.stop();
  });
  return {
    get pg() {
      if (pg === undefined) throw new Error("usePostgres: PostgreSQL has not started yet");
      return pg;
    },
    cleanup,
  };
}

/** A database with alice and bob, a reusable auth key of alice's and an API key of hers. */
export interface SeededDatabase {
  url: string;
  alice: UserRecord;
  bob: UserRecord;
  /** A reusable auth key of alice's. */
  key: string;
  /** An API key of alice's (owner). */
  apiKey: string;
}

/** Creates database `<prefix>_<n>` and seeds it (seedUsers); the seeding store is closed. */
export async function seedDatabase(pg: PgCluster, prefix: string): Promise<SeededDatabase> {
  const url = await pg.createDatabase(prefix);
  const store = await openPostgresStore(url);
  try {
    const { alice, bob, authKey } = await seedUsers(store);
    const key = await authKey(alice.id);
    const apiKey = (await createApiKeyLocal(store, alice.id)).key;
    return { url, alice, bob, key, apiKey };
  } finally {
    await store.close();
  }
}

/** A real ControlClient as a test node, with what it was sent. */
export interface TestNode {
  name: string;
  client: ControlClient;
  /** Its map, as of the last map or delta. */
  state?: MapState;
  /** Every close the server sent it, in order. */
  closes: { code: number; reason: string }[];
  /** Whether it was refused (the server said `refused`). */
  refused: boolean;
  /** The endpoints it last reported (the test keeps this up to date). */
  endpoints: string[];
  /** Full maps received so far. */
  fullMaps(): number;
}

/** nodeControlConnect, recording each socket's close in `closes`. */
export function recordingConnect(closes: TestNode["closes"]): ControlConnect {
  const inner = nodeControlConnect();
  return (url, protocol) => {
    const socket = inner(url, protocol);
    return {
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
      listen(events) {
        socket.listen({
          ...events,
          onClose(code, reason) {
            closes.push({ code, reason });
            events.onClose(code, reason);
          },
        });
      },
      send: (message) => socket.send(message),
      close: (code, reason) => socket.close(code, reason),
    };
  };
}

/** How a test node connects. */
export interface TestNodeOptions {
  url: string;
  authKey: string;
  /** Its hostname (and so its name in the mesh). */
  name: string;
  core: CryptoCore;
  /** Reconnect backoff (the client's defaults when not given). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/**
 * A test node (not started: call `client.start()`); its client is closed by `cleanup`, when
 * given (a PostgresFixture's).
 */
export function testNode(
  options: TestNodeOptions,
  cleanup?: (() => Promise<void> | void)[],
): TestNode {
  const closes: TestNode["closes"] = [];
  const client = new ControlClient({
    url: options.url,
    privateKey: generatePrivateKey(),
    core: options.core,
    x25519: nobleX25519,
    connect: recordingConnect(closes),
    hostinfo: { hostname: options.name, os: "linux" },
    authKey: options.authKey,
    clock: systemClock,
    ...(options.backoffBaseMs === undefined ? {} : { backoffBaseMs: options.backoffBaseMs }),
    ...(options.backoffMaxMs === undefined ? {} : { backoffMaxMs: options.backoffMaxMs }),
    onMap: (_diff, state) => {
      node.state = state;
    },
    onRefused: () => {
      node.refused = true;
    },
  });
  const node: TestNode = {
    name: options.name,
    client,
    closes,
    refused: false,
    endpoints: [],
    fullMaps: () => client.stats.fullMaps,
  };
  cleanup?.push(() => node.client.close());
  return node;
}

/** The peer of `node` named `name`, if its map has it. */
export function peerOf(node: TestNode, name: string) {
  return [...(node.state?.peers.values() ?? [])].find((p) => p.name === name);
}

/** The names of the peers in `node`'s map, sorted. */
export function peerNames(node: TestNode): string[] {
  return [...(node.state?.peers.values() ?? [])].map((p) => p.name).sort();
}

/** The names of the peers `node`'s map says are online, sorted. */
export function onlineNames(node: TestNode): string[] {
  return [...(node.state?.peers.values() ?? [])]
    .filter((p) => p.online)
    .map((p) => p.name)
    .sort();
}
