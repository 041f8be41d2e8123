// Several control servers (the real map side: stream, hub, mapper, cluster/) on one PostgreSQL
// database, each behind its own loopback HTTP server, and a TCP "load balancer" that sends each
// new connection to the server it is told to: killing a server and pointing the balancer at
// another is what an operator's load balancer does when a health check fails.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  connect,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from "node:net";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { type Control, startControl } from "../../server/control/index.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";

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

/** Starts a control server on `databaseUrl` with fast cluster timers. */
export async function startMember(
  databaseUrl: string,
  id: string,
  core: CryptoCore,
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
