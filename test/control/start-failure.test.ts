// A map side that fails to start leaves nothing running (issue 18): startControl joins the
// cluster (its LISTEN connection and pool on PostgreSQL) before it loads the state, so a later
// step that throws must close the join again; and once the member started, the member. Seen
// from the database: after the failed start and the store's close, no connection to it is left.

import { afterAll, beforeAll, expect, it } from "vitest";
import type { Readiness } from "../../server/control/health.ts";
import { startControl } from "../../server/control/index.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import type { Store } from "../../server/control/store/types.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import {
  expectNoConnection,
  type PgCluster,
  postgresPrereq,
  startPostgres,
} from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const RELAYS: RelayInfo[] = [
  { id: "default", region: "", url: "ws://127.0.0.1:1/relay", key: `${"A".repeat(43)}=` },
];

/** `store` with `method` rejecting. */
function failing(store: Store, method: keyof Store): Store {
  return new Proxy(store, {
    get(target, name) {
      if (name === method) return () => Promise.reject(new Error(`${String(method)} failed`));
      const value = Reflect.get(target, name, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describeWithPrereq(postgresPrereq(), "startControl failing after the cluster join", () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** Connections to the database named by `url`, seen from another database. */
  const expectNothingLeft = (url: string) => expectNoConnection(cluster, url);

  it("closes the join when loading the state fails", async () => {
    const url = await cluster.createDatabase("start_fail_load");
    const store = await openPostgresStore(url, { maxConnections: 2 });
    await expect(
      startControl({
        store: failing(store, "listNodes"),
        relays: RELAYS,
        baseUrl: "http://127.0.0.1:1/",
        cluster: { heartbeatMs: 200, pollMs: 100 },
      }),
    ).rejects.toThrow("listNodes failed");
    await store.close();
    await expectNothingLeft(url);
  });

  it("closes the started member (and the hub, stream and jobs) when a later step fails", async () => {
    const url = await cluster.createDatabase("start_fail_late");
    const store = await openPostgresStore(url, { maxConnections: 2 });
    const readiness = {
      addCheck: () => {
        throw new Error("readiness refused the check");
      },
    } as unknown as Readiness;
    await expect(
      startControl({
        store,
        relays: RELAYS,
        baseUrl: "http://127.0.0.1:1/",
        readiness,
        cluster: { heartbeatMs: 200, pollMs: 100 },
      }),
    ).rejects.toThrow("readiness refused the check");
    await store.close();
    await expectNothingLeft(url);
    // And the database is free for a start that works.
    const again = await openPostgresStore(url, { maxConnections: 2 });
    const control = await startControl({
      store: again,
      relays: RELAYS,
      baseUrl: "http://127.0.0.1:1/",
      cluster: { heartbeatMs: 200, pollMs: 100 },
    });
    await control.close();
    await again.close();
    await expectNothingLeft(url);
  });
});
