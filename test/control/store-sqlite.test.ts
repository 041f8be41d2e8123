// The storage suite on SQLite, plus what only the SQLite adapter promises: the file is private
// (0600 in a 0700 folder), WAL and foreign keys are on, and a single call made while a
// transaction runs waits for it instead of slipping into it.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../server/control/store/open.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import { defineStoreSuite, userInput } from "./store.suite.ts";

const root = mkdtempSync(join(tmpdir(), "corridor-store-sqlite-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let made = 0;

function freshPath(): string {
  return join(root, `db-${++made}`, "control.db");
}

function rawQuery(path: string, sql: string): Record<string, unknown>[] {
  const db = new Database(path);
  try {
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all() as Record<string, unknown>[];
    statement.run();
    return [];
  } finally {
    db.close();
  }
}

describe("control store on SQLite", () => {
  defineStoreSuite({
    kind: "sqlite",
    async freshDatabase() {
      const path = freshPath();
      return {
        open: (options) => openSqliteStore(path, options),
        query: async (sql) => rawQuery(path, sql),
      };
    },
  });

  describe("SQLite only", () => {
    it("creates the file (and its WAL) 0600 in a 0700 folder, in WAL mode", async () => {
      const path = freshPath();
      const store = await openStore(`sqlite:${path}`);
      try {
        expect(store.kind).toBe("sqlite");
        expect(statSync(path).mode & 0o777).toBe(0o600);
        expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
        expect(rawQuery(path, "PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
        await store.createUser(userInput(1));
        // SQLite gives the WAL and its index the database file's mode.
        expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
        expect(statSync(`${path}-shm`).mode & 0o777).toBe(0o600);
      } finally {
        await store.close();
      }
      // The same file by its plain path: the data is there.
      const again = await openStore(path);
      expect(await again.listUsers()).toHaveLength(1);
      await again.close();
    });

    it("a single call made during a transaction waits for its commit", async () => {
      const store = await openSqliteStore(":memory:");
      let wrote!: () => void;
      const written = new Promise<void>((resolve) => {
        wrote = resolve;
      });
      let finish!: () => void;
      const gate = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const running = store.transaction(async (tx) => {
        await tx.createUser(userInput(1));
        wrote();
        await gate;
        await tx.createUser(userInput(2));
      });
      await written;
      const read = store.listUsers();
      finish();
      await running;
      expect((await read).map((u) => u.subject)).toEqual(["subject-1", "subject-2"]);
      await store.close();
    });
  });
});
