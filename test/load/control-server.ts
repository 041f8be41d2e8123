// Child process of the load rig: a control server (startControl, the HTTP API) on a SQLite file
// in a temp dir of its own, or on a PostgreSQL URL (setup.databaseUrl: several children on one
// database are a cluster, each with its setup.serverId), behind a node:http server on
// 127.0.0.1. Run apart from the simulated nodes so that its RSS and its event loop are its own.
// Before the map side starts the seeding child (setup.seed, the default; on a shared database
// only the first) creates the owner (with an API key), `users` member users (a reusable auth key
// each), an optional tagged key of the owner's, and stores the policy. Talks to the parent over IPC
// (protocol.ts): "ready" once listening, then rss (after a forced GC under --expose-gc),
// stats, db (database calls by store operation: count and time, from the instrumented store
// the server runs on) and exit. The temp dir is removed on exit, also when the parent goes away.
//
// setup.relays lists the relays the maps carry (the rig's relay children, relay-server.ts) and
// setup.tokenSigningKey is the token key they verify with, stored by the seeding child.
//
// Registration's per-address rate limit is lifted (every simulated node comes from 127.0.0.1)
// and the login timeout is 30 s instead of 5 (a loaded client process may answer the hello
// late; that is the rig's lag, not the server's).

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiListener, isApiPath } from "../../server/control/api/app.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { CONTROL_PATH, startControl } from "../../server/control/index.ts";
import { instrumentStore, StoreMetrics } from "../../server/control/store/instrumented.ts";
import { openStore } from "../../server/control/store/open.ts";
import { newSettings } from "../../server/control/store/settings.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import type {
  ControlServerReady,
  ControlServerReply,
  ControlServerRequest,
  ControlServerSetup,
  DbTally,
} from "./protocol.ts";

const setup = JSON.parse(process.argv[2] ?? "{}") as ControlServerSetup;
const dataDir = mkdtempSync(join(setup.tmpRoot ?? tmpdir(), "corridor-load-"));
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  rmSync(dataDir, { recursive: true, force: true });
};
process.on("exit", cleanup);

/** The store's metrics, also summed here for the parent ("db": where registrations spend time). */
class Tally extends StoreMetrics {
  readonly ops: DbTally = {};
  override record(op: string, seconds: number, ok: boolean): void {
    super.record(op, seconds, ok);
    const entry = this.ops[op] ?? { calls: 0, seconds: 0, errors: 0 };
    this.ops[op] = entry;
    entry.calls++;
    entry.seconds += seconds;
    if (!ok) entry.errors++;
  }
}
const tally = new Tally(new MetricsRegistry());

const DAY = 24 * 60 * 60 * 1000;
const store = instrumentStore(
  await openStore(setup.databaseUrl ?? `sqlite:${join(dataDir, "control.db")}`, {
    // CORRIDOR_LOAD_PG_POOL=N: the PostgreSQL pool size (the store's default otherwise).
    ...(process.env.CORRIDOR_LOAD_PG_POOL
      ? { maxConnections: Number(process.env.CORRIDOR_LOAD_PG_POOL) }
      : {}),
  }),
  tally,
);
// Relays started before the control servers verify tokens with the key the rig chose: store it
// as the mesh's before anything reads the settings (initSettings keeps the first).
if (setup.tokenSigningKey !== undefined && setup.seed !== false) {
  await store.initSettings({ ...newSettings(), tokenSigningKey: setup.tokenSigningKey });
}
const seeded = setup.seed === false ? undefined : await seed();

/** The owner, its API key, the member users' keys, the tagged key and the policy. */
async function seed(): Promise<{ apiKey: string; userKeys: string[]; tagKey: string }> {
  const owner = await store.createUser({
    issuer: "corridor:local",
    subject: "owner",
    email: "owner@load.test",
    name: "Owner",
    role: "owner",
    lastLoginAt: null,
  });
  const apiKey = (await createApiKeyLocal(store, owner.id)).key;
  const userKeys: string[] = [];
  for (let i = 0; i < setup.users; i++) {
    const user = await store.createUser({
      issuer: "corridor:local",
      subject: `user-${i}`,
      email: `user-${i}@load.test`,
      name: `User ${i}`,
      role: "member",
      lastLoginAt: null,
    });
    const issued = await store.transaction((tx) =>
      issueAuthKey(tx, {
        userId: user.id,
        reusable: true,
        ephemeral: false,
        tags: [],
        expiresAt: Date.now() + DAY,
      }),
    );
    userKeys.push(issued.key);
  }
  const tagKey =
    setup.tagKey.length === 0
      ? ""
      : (
          await store.transaction((tx) =>
            issueAuthKey(tx, {
              userId: owner.id,
              reusable: true,
              ephemeral: false,
              tags: setup.tagKey,
              expiresAt: Date.now() + DAY,
            }),
          )
        ).key;
  await store.setPolicy(setup.policy, owner.id);
  return { apiKey, userKeys, tagKey };
}

const http = createServer();
await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
const port = (http.address() as AddressInfo).port;
const httpUrl = `http://127.0.0.1:${port}`;
const control = await startControl({
  store,
  relays: setup.relays ?? [
    // A placeholder nobody runs (the rig's runs without relays use none).
    {
      id: "default",
      region: "local",
      url: `ws://127.0.0.1:${port}/relay`,
      key: `${"A".repeat(43)}=`,
    },
  ],
  baseUrl: `${httpUrl}/`,
  registrationRate: { burst: 1e9, perSecond: 1e9 },
  loginTimeoutMs: 30_000,
  ...(setup.keepaliveMs === undefined ? {} : { keepaliveMs: setup.keepaliveMs }),
  ...(setup.databaseUrl === undefined
    ? {}
    : {
        cluster: {
          ...(setup.serverId === undefined ? {} : { serverId: setup.serverId }),
          ...(setup.heartbeatMs === undefined ? {} : { heartbeatMs: setup.heartbeatMs }),
          ...(setup.pollMs === undefined ? {} : { pollMs: setup.pollMs }),
        },
      }),
});
const api = createApiListener(control.api);
http.on("request", (req, res) => {
  const path = new URL(req.url ?? "/", httpUrl).pathname;
  if (isApiPath(path)) void api(req, res);
  else res.writeHead(404).end();
});
http.on("upgrade", (req, socket, head) => {
  if (new URL(req.url ?? "/", httpUrl).pathname === CONTROL_PATH) {
    control.handleUpgrade(req, socket, head);
  } else {
    socket.destroy();
  }
});

async function shutdown(): Promise<void> {
  await control.close();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  await store.close();
  cleanup();
}

const reply = (message: ControlServerReply | ControlServerReady) => process.send?.(message);
process.on("message", (raw) => {
  const request = raw as ControlServerRequest;
  switch (request.op) {
    case "rss": {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      reply({ id: request.id, ok: true, op: "rss", rss, heapUsed });
      return;
    }
    case "stats":
      reply({
        id: request.id,
        ok: true,
        op: "stats",
        attached: control.hub.attachedCount,
        connections: control.stream.connections,
      });
      return;
    case "db":
      reply({ id: request.id, ok: true, op: "db", ops: tally.ops });
      return;
    case "exit":
      shutdown().then(
        () => {
          reply({ id: request.id, ok: true, op: "exit" });
          process.disconnect?.();
          process.exit(0);
        },
        (error: unknown) => {
          reply({ id: request.id, ok: false, error: String(error) });
          process.exit(1);
        },
      );
      return;
  }
});
process.on("disconnect", () => {
  cleanup();
  process.exit(0);
});
reply({
  type: "ready",
  controlUrl: `ws://127.0.0.1:${port}${CONTROL_PATH}`,
  httpUrl,
  apiKey: seeded?.apiKey ?? "",
  userKeys: seeded?.userKeys ?? [],
  tagKey: seeded?.tagKey ?? "",
  dataDir,
  pid: process.pid,
});
