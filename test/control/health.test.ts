// /healthz and /readyz (server/control/health.ts): readiness composed from named checks, each
// raced against its timeout; the database check pings the store (SQLite here, PostgreSQL when
// Debian's is installed); `corridor control`'s listener (startControlServer) and `corridor
// serve`'s (startServe with the ControlMount) answer 503 naming the failed checks, and 503 at
// once when draining.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { databaseCheck, ReadinessChecks } from "../../server/control/health.ts";
import {
  ControlMount,
  type ControlServer,
  type ControlService,
  startControlServer,
  startControlService,
} from "../../server/control/http.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store } from "../../server/control/store/types.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import { createLogger } from "../../server/relay/index.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { CONTROL_PROTOCOL } from "../../worker/control/messages.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const RELAY = [
  { id: "default", region: "", url: "ws://127.0.0.1:9/relay", key: `${"A".repeat(43)}=` },
];
const quiet = () => createLogger({ level: "error", sink: () => {} });

interface Ready {
  status: number;
  body: { ready: boolean; failed: string[]; reasons: string[]; checks: { name: string }[] };
}

/** The HTTP status a /control upgrade is answered with (101 when it opens). */
function upgradeStatus(base: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}control`, CONTROL_PROTOCOL);
    ws.on("open", () => {
      ws.close();
      resolve(101);
    });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on("error", reject);
  });
}

async function readyz(base: string): Promise<Ready> {
  const res = await fetch(new URL("/readyz", base));
  return { status: res.status, body: (await res.json()) as Ready["body"] };
}

/** A store whose ping the test steers: answers, fails, or hangs until released. */
function steeredStore(store: Store) {
  const steer = { mode: "ok" as "ok" | "fail" | "hang", release: () => {} };
  const wrapped: Store = {
    ...store,
    ping: () => {
      if (steer.mode === "fail") return Promise.reject(new Error("connect ECONNREFUSED"));
      if (steer.mode === "hang") {
        return new Promise<void>((resolve) => {
          steer.release = resolve;
        });
      }
      return store.ping();
    },
  };
  return { store: wrapped, steer };
}

describe("ReadinessChecks", () => {
  it("is ready with no checks, and names each failed check with its reason", async () => {
    const readiness = new ReadinessChecks({ timeoutMs: 50 });
    expect(await readiness.check()).toEqual({ ready: true, reasons: [], checks: [] });
    readiness.addCheck("ok", () => true);
    readiness.addCheck("sync", () => "not yet");
    readiness.addCheck("throws", () => {
      throw new Error("boom\nsecond line");
    });
    readiness.addCheck("rejects", () => Promise.reject(new Error("nope")));
    readiness.addCheck("hangs", () => new Promise(() => {}));
    const report = await readiness.check();
    expect(report.ready).toBe(false);
    expect(report.reasons).toEqual([
      "sync: not yet",
      "throws: boom second line",
      "rejects: nope",
      "hangs: no answer within 50 ms",
    ]);
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ["ok", true],
      ["sync", false],
      ["throws", false],
      ["rejects", false],
      ["hangs", false],
    ]);
  });

  it("addCheck's remover removes it; a name added again replaces the check", async () => {
    const readiness = new ReadinessChecks();
    const remove = readiness.addCheck("changes", () => "behind by 3");
    expect((await readiness.check()).ready).toBe(false);
    remove();
    expect((await readiness.check()).ready).toBe(true);
    readiness.addCheck("x", () => "old");
    readiness.addCheck("x", () => true);
    expect((await readiness.check()).ready).toBe(true);
  });

  it("concurrent probes share one round of checks", async () => {
    const readiness = new ReadinessChecks();
    let runs = 0;
    readiness.addCheck("slow", async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return true as const;
    });
    await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    expect(runs).toBe(1);
    expect(readiness.timesAsked).toBe(3);
  });

  it("shutting down: not ready at once, no check runs", async () => {
    const readiness = new ReadinessChecks();
    let runs = 0;
    readiness.addCheck("db", () => {
      runs++;
      return true;
    });
    readiness.shutDown();
    const report = await readiness.check();
    expect(report).toMatchObject({ ready: false, reasons: ["shutdown: shutting down"] });
    expect(runs).toBe(0);
  });

  it("the database check keeps at most one ping outstanding", async () => {
    let pings = 0;
    let release = () => {};
    const check = databaseCheck({
      ping: () => {
        pings++;
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    const readiness = new ReadinessChecks({ timeoutMs: 30 });
    readiness.addCheck("database", check);
    expect((await readiness.check()).reasons).toEqual(["database: no answer within 30 ms"]);
    expect((await readiness.check()).reasons[0]).toMatch(
      /^database: an earlier ping is unanswered after \d+ ms$/,
    );
    expect(pings).toBe(1);
    release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const after = check();
    release();
    expect(await after).toBe(true);
    expect(pings).toBe(2);
  });

  it("the SQLite store's ping answers, and fails once the store is closed", async () => {
    const store = await openSqliteStore(":memory:");
    await store.ping();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
  });
});

describeWithPrereq(postgresPrereq(), "the PostgreSQL store's ping", () => {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("answers while the database runs, and fails after the pool ends", async () => {
    const store = await openPostgresStore(await cluster!.createDatabase("ping"));
    await store.ping();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
  });
});

describe("corridor control's /healthz and /readyz", () => {
  let server: ControlServer | undefined;
  let raw: Store | undefined;
  afterEach(async () => {
    await server?.close();
    await raw?.close();
    server = undefined;
  });

  async function start() {
    raw = await openSqliteStore(":memory:");
    const steered = steeredStore(raw);
    server = await startControlServer({
      host: "127.0.0.1",
      port: 0,
      store: steered.store,
      relays: RELAY,
      metrics: new MetricsRegistry({ processMetrics: false }),
      log: quiet(),
    });
    return { base: server.baseUrl, steer: steered.steer, server };
  }

  it("ready: 200 listing the checks; a failing or hanging database: 503 naming database", async () => {
    const { base, steer } = await start();
    const health = await fetch(new URL("/healthz", base));
    expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
    const ready = await readyz(base);
    expect(ready.status).toBe(200);
    expect(ready.body.checks.map((c) => c.name).sort()).toEqual(["control", "database"]);
    expect(ready.body.failed).toEqual([]);

    steer.mode = "fail";
    const failing = await readyz(base);
    expect(failing.status).toBe(503);
    expect(failing.body.failed).toEqual(["database"]);
    expect(failing.body.reasons).toEqual(["database: connect ECONNREFUSED"]);

    steer.mode = "hang";
    const hanging = await readyz(base);
    expect(hanging.status).toBe(503);
    expect(hanging.body.reasons).toEqual(["database: no answer within 2000 ms"]);
    // Alive all the while.
    expect((await fetch(new URL("/healthz", base))).status).toBe(200);
    steer.mode = "ok";
    steer.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect((await readyz(base)).status).toBe(200);
  }, 30_000);

  it("a failing added check: 503 naming it; draining: 503 at once and new map streams refused", async () => {
    const { base, server } = await start();
    expect(await upgradeStatus(base)).toBe(101);
    const remove = server.readiness.addCheck("changes", () => "2 changes behind");
    const behind = await readyz(base);
    expect(behind.status).toBe(503);
    expect(behind.body.failed).toEqual(["changes"]);
    expect(behind.body.reasons).toEqual(["changes: 2 changes behind"]);
    remove();
    expect((await readyz(base)).status).toBe(200);

    server.drain();
    const draining = await readyz(base);
    expect(draining.status).toBe(503);
    expect(draining.body.failed).toEqual(["shutdown"]);
    expect(await upgradeStatus(base)).toBe(503);
    // The API keeps answering during the drain.
    expect((await fetch(new URL("/api/v1/login/methods", base))).status).toBe(200);
    expect((await fetch(new URL("/healthz", base))).status).toBe(200);
  });
});

describe("corridor serve's /readyz (page, relay and control on one port)", () => {
  let tmp: string;
  let store: Store;
  let serve: ServeHandle;
  let mount: ControlMount;
  let control: ControlService | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "corridor-readyz-serve-"));
    const web = join(tmp, "web");
    mkdirSync(web);
    writeFileSync(join(web, "index.html"), "<!doctype html><title>page</title>\n");
    store = await openSqliteStore(join(tmp, "control.db"));
    mount = new ControlMount();
    serve = await startServe({
      port: 0,
      webRoot: web,
      mount,
      readiness: mount.readiness,
      relay: { auth: { mode: "open" }, relayId: "loop", log: () => {} },
    });
  }, 60_000);

  afterAll(async () => {
    await control?.close();
    await serve?.close();
    await store?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("names control as starting until it runs, then relay, control and database are ready; draining: 503", async () => {
    const starting = await readyz(serve.url);
    expect(starting.status).toBe(503);
    expect(starting.body.reasons).toEqual(["control: the control server is starting"]);
    control = await startControlService(mount, {
      store,
      relays: RELAY,
      baseUrl: serve.url,
      metrics: new MetricsRegistry({ processMetrics: false }),
      log: quiet(),
    });
    const ready = await readyz(serve.url);
    expect(ready.status).toBe(200);
    expect(ready.body.checks.map((c) => c.name).sort()).toEqual(["control", "database", "relay"]);
    // The relay's own /healthz is untouched: alive.
    const health = await fetch(new URL("/healthz", serve.url));
    expect([health.status, await health.text()]).toEqual([200, "ok\n"]);

    control.drain();
    const draining = await readyz(serve.url);
    expect(draining.status).toBe(503);
    expect(draining.body.failed).toEqual(["shutdown"]);
  });
});
