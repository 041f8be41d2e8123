// `corridor migrate`'s copy (server/control/store/copy.ts): STATE_TABLES is every table the
// migrations make, keyed and ordered as the schema says; a store populated through its own API
// (every table) copied SQLite -> PostgreSQL -> a new SQLite, compared row by row each time, the
// stores on the copies reading the same records and handing out no id seen before; refusals
// (a destination with data, the same database twice, no source) and failures mid-copy (a row
// that violates a constraint, a count that does not match) leave the destination empty; every
// column type round-trips. PostgreSQL parts need Debian's postgresql (skipped without it).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CountMismatchError,
  copyStore,
  DestinationNotEmptyError,
  MigrateError,
} from "../../server/control/store/copy.ts";
import {
  type CopySide,
  openPostgresSide,
  openSqliteSide,
} from "../../server/control/store/copy-side.ts";
import { openStore } from "../../server/control/store/open.ts";
import type { Row } from "../../server/control/store/rows.ts";
import {
  MIGRATIONS,
  type Migration,
  SchemaTooNewError,
  STATE_TABLES,
} from "../../server/control/store/schema.ts";
import { newSettings } from "../../server/control/store/settings.ts";
import type { Store } from "../../server/control/store/types.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { authKeyInput, nodeInput, userInput } from "./store.suite.ts";
import { shareInput } from "./store-suite-shares.ts";

const dirs: string[] = [];
function tempFile(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "corridor-copy-"));
  dirs.push(dir);
  return join(dir, name);
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const sideOf = async (url: string): Promise<CopySide> =>
  url.startsWith("postgres") ? openPostgresSide(url) : openSqliteSide(url.replace(/^sqlite:/, ""));

/** A value as text, whatever the driver made of it (bigint, decimal string, number, Buffer). */
function plain(value: unknown): unknown {
  if (typeof value === "bigint" || typeof value === "number") return String(value);
  if (Buffer.isBuffer(value)) return `blob:${value.toString("hex")}`;
  if (typeof value === "boolean") return value ? "1" : "0";
  return value;
}

/** Every row of every table, values made comparable, sorted by key (collations may differ). */
async function dump(url: string, tables = STATE_TABLES): Promise<Record<string, Row[]>> {
  const side = await sideOf(url);
  try {
    const out: Record<string, Row[]> = {};
    for (const { name, key } of tables) {
      const columns = (await side.columns(name)).map((c) => c.name).sort();
      const rows = await side.page(name, key, columns, undefined, 1_000_000);
      out[name] = rows
        .map((row) => Object.fromEntries(columns.map((c) => [c, plain(row[c])])))
        .sort((a, b) => (String(a[key]) < String(b[key]) ? -1 : 1));
    }
    return out;
  } finally {
    await side.close();
  }
}

async function totalRows(url: string): Promise<number> {
  const side = await sideOf(url);
  try {
    let n = 0;
    for (const { name } of STATE_TABLES) n += await side.count(name);
    return n;
  } finally {
    await side.close();
  }
}

/** Fills every table through the store's API; a node removed so the id counter passes the max. */
async function populate(store: Store): Promise<{ removedNodeId: number }> {
  await store.initSettings(newSettings());
  const owner = await store.createUser(userInput(1, "owner"));
  const member = await store.createUser({ ...userInput(2), lastLoginAt: 1_700_000_000_123 });
  const key = await store.createAuthKey({
    ...authKeyInput(owner.id, "a".repeat(64)),
    reusable: true,
    tags: ["tag:ci"],
  });
  await store.useAuthKey(key.id);
  await store.createAuthKey(authKeyInput(member.id, "b".repeat(64)));
  const web = await store.createNode(
    nodeInput(1, owner.id, { sshHostKeys: ["ssh-ed25519 AAAA web"], keyExpiry: 1_800_000_000_000 }),
  );
  await store.updateNode(web.id, { sshUsers: ["ada", "root"], lastSeen: 1_700_000_000_999 });
  await store.createNode(nodeInput(2, null, { tags: ["tag:ci", "tag:db"], authKeyId: key.id }));
  await store.createNode(nodeInput(4, member.id, { hostname: "é 🦊 ' \" ;--" }));
  const share = await store.createShare(shareInput(1, web.id, owner.id, { maxUses: 3 }));
  await store.createShare(
    shareInput(2, web.id, member.id, {
      audience: "emails",
      emails: ["x@example.com"],
      maxUses: null,
    }),
  );
  await store.useShare(share.id, 1_700_000_000_000);
  const accepted = await store.createAcceptance({
    shareId: share.id,
    userId: null,
    guestName: "Guest 1",
    userAgent: "Mozilla/5.0",
    acceptedAt: 42,
  });
  await store.createNode(
    nodeInput(5, null, { tags: [], ephemeral: true, shareAcceptanceId: accepted.id }),
  );
  // The newest node removed: the id counter (5) is past the largest id left (4).
  const gone = await store.createNode(nodeInput(3, member.id, { ephemeral: true }));
  await store.deleteNode(gone.id);
  const ended = await store.createAcceptance({
    shareId: share.id,
    userId: member.id,
    guestName: "User 2",
    userAgent: "curl",
    acceptedAt: 43,
  });
  await store.endAcceptance(ended.id, 77, "revoked");
  const api = await store.createApiKey({
    prefix: "cor_1",
    hash: "c".repeat(64),
    userId: owner.id,
    expiresAt: 1_900_000_000_000,
  });
  await store.touchApiKey(api.id, 1_700_000_000_500);
  await store.createSession({
    hash: "d".repeat(64),
    userId: member.id,
    csrf: "csrf-1",
    createdAt: 1,
    expiresAt: 2_000_000_000_000,
  });
  await store.createLink({
    hash: "e".repeat(64),
    kind: "invite",
    role: "admin",
    createdBy: owner.id,
    email: "new@example.com",
    expiresAt: 1_900_000_000_000,
    usedAt: null,
  });
  await store.setPolicy('{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}', owner.id);
  await store.putMapCheckpoint('{"sessions":[]}');
  for (let n = 1; n <= 3; n++) {
    await store.addAudit({
      at: 1_700_000_000_000 + n,
      actorId: n === 3 ? null : owner.id,
      actor: n === 3 ? "system" : "owner@example.com",
      via: "session",
      action: "node.update",
      target: `node ${n}`,
      detail: "{}",
      source: "127.0.0.1",
    });
  }
  return { removedNodeId: gone.id };
}

/** What the store API reads: every list a server starts from. */
async function readAll(store: Store) {
  return {
    users: await store.listUsers(),
    nodes: await store.listNodes(),
    authKeys: await store.listAuthKeys(),
    apiKeys: await store.listApiKeys(),
    shares: await store.listShares(),
    open: await store.listOpenAcceptances(),
    policy: await store.getPolicy(),
    settings: await store.getSettings(),
    audit: await store.listAudit(100),
    session: await store.sessionByHash("d".repeat(64)),
  };
}

async function populatedSqlite(): Promise<{ url: string; removedNodeId: number; state: unknown }> {
  const url = `sqlite:${tempFile("control.db")}`;
  const store = await openStore(url);
  try {
    const { removedNodeId } = await populate(store);
    return { url, removedNodeId, state: await readAll(store) };
  } finally {
    await store.close();
  }
}

/** A new node on `url` gets an id above every id handed out before the move. */
async function nextNodeId(url: string): Promise<number> {
  const store = await openStore(url);
  try {
    return (await store.createNode(nodeInput(9, null, { tags: ["tag:new"] }))).id;
  } finally {
    await store.close();
  }
}

async function withStore<T>(
  url: string,
  work: (store: Store) => Promise<T>,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<T> {
  const store = await openStore(url, { migrations });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

describe("STATE_TABLES and the copy on SQLite alone", () => {
  it("lists every table a migrated database holds, with its primary key, parents first", async () => {
    const path = tempFile("schema.db");
    await (await openStore(`sqlite:${path}`)).close();
    const db = new Database(path, { readonly: true });
    try {
      const tables = (
        db
          .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'",
          )
          .all() as { name: string }[]
      ).map((t) => t.name);
      const missing = tables.filter((t) => !STATE_TABLES.some((s) => s.name === t));
      expect(missing, "add these to STATE_TABLES in schema.ts").toEqual([]);
      expect(STATE_TABLES.map((t) => t.name).sort()).toEqual([...tables].sort());
      STATE_TABLES.forEach(({ name, key }, i) => {
        const pk = (
          db.prepare(`PRAGMA table_info(${name})`).all() as { name: string; pk: number }[]
        )
          .filter((c) => c.pk > 0)
          .map((c) => c.name);
        expect(pk, name).toEqual([key]);
        const parents = (
          db.prepare(`PRAGMA foreign_key_list(${name})`).all() as { table: string }[]
        ).map((f) => f.table);
        const earlier = STATE_TABLES.slice(0, i).map((t) => t.name);
        for (const parent of parents) expect(earlier, `${name} -> ${parent}`).toContain(parent);
      });
    } finally {
      db.close();
    }
  });

  it("copies SQLite to a new SQLite file row by row, and refuses what it must", async () => {
    const source = await populatedSqlite();
    const to = `sqlite:${tempFile("copy.db")}`;
    const report = await copyStore(source.url, to);
    expect(report.counts.map((c) => c.table)).toEqual(STATE_TABLES.map((t) => t.name));
    expect(report.counts.every((c) => c.source === c.destination)).toBe(true);
    expect(await dump(to)).toEqual(await dump(source.url));
    expect(await withStore(to, readAll)).toEqual(source.state);
    expect(source.removedNodeId).toBe(5);
    expect(await nextNodeId(to)).toBe(6);

    await expect(copyStore(source.url, to)).rejects.toThrow(
      /^destination already holds data in table users \(2 rows\): migrate only into an empty database$/,
    );
    await expect(copyStore(source.url, source.url.replace("sqlite:", ""))).rejects.toThrow(
      "--from and --to name the same database",
    );
    await expect(copyStore(`sqlite:${tempFile("none.db")}`, to)).rejects.toThrow(
      /^no SQLite database at /,
    );
  });

  it("migrates an older source to this schema first, and refuses a newer one", async () => {
    const old = `sqlite:${tempFile("old.db")}`;
    await withStore(old, (store) => store.createUser(userInput(1)), MIGRATIONS.slice(0, 4));
    const report = await copyStore(old, `sqlite:${tempFile("new.db")}`);
    expect(report.sourceMigratedFrom).toBe(4);
    expect(report.counts.find((c) => c.table === "users")).toMatchObject({
      source: 1,
      destination: 1,
    });
    const newer = `sqlite:${tempFile("newer.db")}`;
    const extra: Migration = {
      version: MIGRATIONS.length + 1,
      name: "from the future",
      statements: ["CREATE TABLE later (id INTEGER PRIMARY KEY)"],
    };
    await withStore(newer, async () => {}, [...MIGRATIONS, extra]);
    await expect(copyStore(newer, `sqlite:${tempFile("x.db")}`)).rejects.toBeInstanceOf(
      SchemaTooNewError,
    );
  });
});

describeWithPrereq(postgresPrereq(), "copy between SQLite and PostgreSQL", () => {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("SQLite -> PostgreSQL -> SQLite keeps every row of every table, and no id comes back", async () => {
    const source = await populatedSqlite();
    const pgUrl = await cluster!.createDatabase("copy");
    const there = await copyStore(source.url, pgUrl);
    expect(there.counts.find((c) => c.table === "nodes")).toEqual({
      table: "nodes",
      source: 4,
      destination: 4,
    });
    const original = await dump(source.url);
    expect(await dump(pgUrl)).toEqual(original);
    expect(await withStore(pgUrl, readAll)).toEqual(source.state);

    const back = `sqlite:${tempFile("back.db")}`;
    // A store left open on the source (a server still running) is seen, and reported.
    const running = await openStore(pgUrl);
    await running.listUsers();
    const report = await copyStore(pgUrl, back).finally(() => running.close());
    expect(report.sourceSessions).toBeGreaterThanOrEqual(1);
    expect(there.sourceSessions).toBeNull();
    expect(report.counts.every((c) => c.source === c.destination)).toBe(true);
    expect(await dump(back)).toEqual(original);
    expect(await withStore(back, readAll)).toEqual(source.state);

    // Node id 5 was removed before the move: neither copy hands it out again.
    expect(source.removedNodeId).toBe(5);
    expect(await nextNodeId(pgUrl)).toBe(6);
    expect(await nextNodeId(back)).toBe(6);
    const audit = await withStore(pgUrl, (s) =>
      s.addAudit({
        at: 1,
        actorId: null,
        actor: "x",
        via: "cli",
        action: "a",
        target: "t",
        detail: "",
        source: "",
      }),
    );
    expect(audit.id).toBe(4);
  });

  it("PostgreSQL holds exactly the tables of STATE_TABLES", async () => {
    const url = await cluster!.createDatabase("tables");
    await (await openStore(url)).close();
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'",
      );
      expect(rows.map((r: { table_name: string }) => r.table_name).sort()).toEqual(
        STATE_TABLES.map((t) => t.name).sort(),
      );
    } finally {
      await client.end();
    }
  });

  it("refuses a destination that holds data, naming the table, and leaves it as it was", async () => {
    const source = await populatedSqlite();
    const pgUrl = await cluster!.createDatabase("full");
    await withStore(pgUrl, async (store) => {
      for (let n = 1; n <= 12; n++) await store.createNode(nodeInput(n, null));
    });
    const before = await dump(pgUrl);
    const error = await copyStore(source.url, pgUrl).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationNotEmptyError);
    expect((error as Error).message).toBe(
      "destination already holds data in table nodes (12 rows): migrate only into an empty database",
    );
    expect(await dump(pgUrl)).toEqual(before);
  });

  it("a row that violates a constraint mid-copy rolls everything back", async () => {
    const source = await populatedSqlite();
    const pgUrl = await cluster!.createDatabase("violate");
    const error = await copyStore(source.url, pgUrl, {
      // audit_log comes last: users, nodes, shares... are written by then.
      pageHook: (table, rows) => (table === "audit_log" ? [...rows, rows[0]!] : rows),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/duplicate key|unique/i);
    expect(await totalRows(pgUrl)).toBe(0);
    // Nothing half-done either: the same copy without the fault then goes through.
    await copyStore(source.url, pgUrl);
    expect(await dump(pgUrl)).toEqual(await dump(source.url));
  });

  it("the count check aborts on a table whose counts differ, naming both", async () => {
    const source = await populatedSqlite();
    const pgUrl = await cluster!.createDatabase("count");
    const error = await copyStore(source.url, pgUrl, {
      pageHook: (table, rows) => (table === "sessions" ? [] : rows),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CountMismatchError);
    expect(error).toMatchObject({ table: "sessions", source: 1, destination: 0 });
    expect((error as Error).message).toBe(
      "count check failed on table sessions: the source holds 1 rows, the destination 0; nothing was written",
    );
    expect(await totalRows(pgUrl)).toBe(0);
  });

  it("dry run counts without writing; a source with no schema is refused", async () => {
    const source = await populatedSqlite();
    const pgUrl = await cluster!.createDatabase("dry");
    const report = await copyStore(source.url, pgUrl, { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.counts.find((c) => c.table === "users")).toEqual({
      table: "users",
      source: 2,
      destination: 0,
    });
    const side = await openPostgresSide(pgUrl);
    expect(await side.version()).toBeNull();
    await side.close();
    const error = await copyStore(pgUrl, `sqlite:${tempFile("x.db")}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrateError);
    expect((error as Error).message).toMatch(/holds no Corridor control database/);
  });

  it("pages of 500 rows: 2,345 audit entries arrive whole, in order, in a few statements", async () => {
    const path = tempFile("many.db");
    await withStore(`sqlite:${path}`, (store) =>
      store.transaction(async (tx) => {
        for (let n = 0; n < 2345; n++) {
          await tx.addAudit({
            at: n,
            actorId: null,
            actor: "a",
            via: "cli",
            action: "x",
            target: `t${n}`,
            detail: "",
            source: "",
          });
        }
      }),
    );
    const pgUrl = await cluster!.createDatabase("many");
    const pages: number[] = [];
    const report = await copyStore(`sqlite:${path}`, pgUrl, {
      pageHook: (table, rows) => {
        if (table === "audit_log") pages.push(rows.length);
        return rows;
      },
    });
    expect(pages).toEqual([500, 500, 500, 500, 345]);
    expect(report.counts.find((c) => c.table === "audit_log")?.destination).toBe(2345);
    const last = await withStore(pgUrl, (s) => s.listAudit(1));
    expect(last[0]).toMatchObject({ id: 2345, target: "t2344" });
  });

  it("every column type round-trips: integers past 2^53, text, blobs, reals, booleans, NULL", async () => {
    const probe: Migration = {
      version: MIGRATIONS.length + 1,
      name: "type probe",
      statements: {
        sqlite: [
          "CREATE TABLE probe (id {id}, big BIGINT, small INTEGER, txt TEXT, bin BLOB, real REAL, flag INTEGER)",
        ],
        postgres: [
          "CREATE TABLE probe (id {id}, big BIGINT, small INTEGER, txt TEXT, bin BYTEA, real DOUBLE PRECISION, flag BOOLEAN)",
        ],
      },
    };
    const migrations = [...MIGRATIONS, probe];
    const tables = [...STATE_TABLES, { name: "probe", key: "id" }];
    const path = tempFile("probe.db");
    await (await openStore(`sqlite:${path}`, { migrations })).close();
    const db = new Database(path);
    db.defaultSafeIntegers(true);
    const insert = db.prepare(
      "INSERT INTO probe (id, big, small, txt, bin, real, flag) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    insert.run(1n, 2n ** 62n + 1n, -7n, "é 🦊 ' \" ;--", Buffer.from([0, 1, 254, 255]), 0.1, 1n);
    insert.run(2n, -(2n ** 63n), 0n, "", Buffer.from("x"), -1e300, 0n);
    insert.run(9_007_199_254_740_993n, null, null, null, null, null, null);
    const original = db.prepare("SELECT * FROM probe ORDER BY id").all();
    db.close();

    const pgUrl = await cluster!.createDatabase("probe");
    await copyStore(`sqlite:${path}`, pgUrl, { migrations, tables });
    const back = tempFile("probe-back.db");
    await copyStore(pgUrl, `sqlite:${back}`, { migrations, tables });
    const again = new Database(back, { readonly: true });
    again.defaultSafeIntegers(true);
    expect(again.prepare("SELECT * FROM probe ORDER BY id").all()).toEqual(original);
    again.close();
    const side = await openPostgresSide(pgUrl);
    const pgRows = await side.page("probe", "id", ["id", "big", "flag", "bin"], undefined, 10);
    await side.close();
    expect(pgRows[0]).toEqual({
      id: "1",
      big: "4611686018427387905",
      flag: true,
      bin: Buffer.from([0, 1, 254, 255]),
    });
    expect(pgRows[2]).toMatchObject({ id: "9007199254740993", flag: null });
  });
});
