// The storage suite on PostgreSQL, in a throwaway cluster this file starts (helpers/postgres.ts);
// every test gets its own database. Needs Debian's postgresql (scripts/install-deps.sh): skipped
// without it, failed without it under CI.

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, parseStoreUrl } from "../../server/control/store/open.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { StoreConflictError } from "../../server/control/store/types.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { defineStoreSuite, userInput } from "./store.suite.ts";

async function rawQuery(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

describeWithPrereq(postgresPrereq(), "control store on PostgreSQL", () => {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  defineStoreSuite({
    kind: "postgres",
    async freshDatabase() {
      const url = await cluster!.createDatabase("store");
      return {
        open: (options) => openPostgresStore(url, options),
        query: (sql) => rawQuery(url, sql),
      };
    },
  });

  describe("PostgreSQL only", () => {
    it("openStore picks the adapter from a postgres:// URL", async () => {
      const url = await cluster!.createDatabase("open");
      expect(parseStoreUrl(url)).toEqual({ kind: "postgres", url });
      const store = await openStore(url.replace(/^postgres:/, "postgresql:"));
      expect(store.kind).toBe("postgres");
      await store.close();
    });

    it("a deadlock between two transactions fails one of them with a conflict on 'transaction'", async () => {
      const store = await openPostgresStore(await cluster!.createDatabase("deadlock"));
      try {
        const a = await store.createUser(userInput(1));
        const b = await store.createUser(userInput(2));
        let arrived = 0;
        let bothLocked!: () => void;
        const locked = new Promise<void>((resolve) => {
          bothLocked = resolve;
        });
        const crosswise = (first: number, second: number) =>
          store.transaction(async (tx) => {
            await tx.updateUser(first, { name: "first" });
            if (++arrived === 2) bothLocked();
            await locked;
            await tx.updateUser(second, { name: "second" });
          });
        const results = await Promise.allSettled([crosswise(a.id, b.id), crosswise(b.id, a.id)]);
        const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
        expect(failed).toHaveLength(1);
        expect(failed[0]).toBeInstanceOf(StoreConflictError);
        expect(failed[0]).toMatchObject({
          field: "transaction",
          message: "a concurrent transaction changed the same rows: try again",
        });
      } finally {
        await store.close();
      }
    });

    it("a database that does not exist is the driver's error", async () => {
      const url = cluster!.url("no_such_database");
      await expect(openPostgresStore(url)).rejects.toThrow(
        'database "no_such_database" does not exist',
      );
    });
  });
});
