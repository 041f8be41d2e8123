// The storage suite: every Store method, conflicts naming the field, single use, transactions,
// migrations and concurrent registration, defined once and run against each adapter by
// store-sqlite.test.ts and store-postgres.test.ts (the same assertions on both is what "one
// schema, two adapters" means). Each test gets a fresh, empty database from the backend.

import { afterEach, expect } from "vitest";
import type { Migration } from "../../server/control/store/schema.ts";
import {
  type NewNode,
  type Store,
  StoreConflictError,
  type UserRecord,
} from "../../server/control/store/types.ts";
import { defineAuditTests } from "./store-suite-audit.ts";
import { defineKeyTests } from "./store-suite-keys.ts";
import { defineRecordTests } from "./store-suite-records.ts";
import { defineShareTests } from "./store-suite-shares.ts";
import { defineTransactionTests } from "./store-suite-tx.ts";

/** Options a test opens a store with. */
export interface StoreTestOptions {
  migrations?: readonly Migration[];
  now?: () => number;
}

/** One empty database of the backend under test. */
export interface TestDatabase {
  /** A store on this database (several may be open at once: several servers). */
  open(options?: StoreTestOptions): Promise<Store>;
  /** Raw SQL on this database, outside any store (to look at tables, fake a newer schema). */
  query(sql: string): Promise<Record<string, unknown>[]>;
}

/** What an adapter's test file supplies. */
export interface StoreBackend {
  kind: "sqlite" | "postgres";
  freshDatabase(): Promise<TestDatabase>;
}

/** What each test uses: a fresh database, stores on it closed after the test, a fake clock. */
export interface SuiteContext {
  kind: "sqlite" | "postgres";
  /** A fresh database and a store on it, on the fake clock. */
  setup(options?: StoreTestOptions): Promise<{ db: TestDatabase; store: Store }>;
  /** Another store on `db` (closed after the test). */
  open(db: TestDatabase, options?: StoreTestOptions): Promise<Store>;
  /** The fake clock's time: what createdAt / updatedAt are set to. */
  clock: { now: number };
}

/** Fields of a user numbered `n`. */
export function userInput(n: number, role: UserRecord["role"] = "member") {
  return {
    issuer: "https://idp.example",
    subject: `subject-${n}`,
    email: `user${n}@example.com`,
    name: `User ${n}`,
    role,
    lastLoginAt: null,
  };
}

/** Fields of a node numbered `n` owned by `userId`, with `overrides`. */
export function nodeInput(
  n: number,
  userId: number | null,
  overrides: Partial<NewNode> = {},
): NewNode {
  return {
    nodeKey: `key-${n}`,
    userId,
    tags: userId === null ? ["tag:server"] : [],
    name: `node-${n}`,
    hostname: `host-${n}.example.com`,
    os: "linux",
    ipv4: `100.64.1.${n}`,
    ipv6: `fd00:1:2::6440:1${n.toString(16).padStart(2, "0")}`,
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    lastSeen: null,
    authKeyId: null,
    ...overrides,
  };
}

/** Expects `promise` to reject with a StoreConflictError on `field` saying `message`. */
export async function expectConflict(promise: Promise<unknown>, field: string, message: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreConflictError);
  expect(error).toMatchObject({ field, message });
}

/** Fields of a one-off auth key of `userId` with `hash`. */
export function authKeyInput(userId: number, hash: string) {
  return {
    prefix: "cak_3f9a",
    hash,
    userId,
    reusable: false,
    ephemeral: false,
    tags: [],
    expiresAt: 10_000,
  };
}

/** Defines the whole suite against `backend`. */
export function defineStoreSuite(backend: StoreBackend): void {
  const opened: Store[] = [];
  const clock = { now: 1_700_000_000_000 };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  const open = async (db: TestDatabase, options: StoreTestOptions = {}) => {
    const store = await db.open({ now: () => clock.now, ...options });
    opened.push(store);
    return store;
  };
  const ctx: SuiteContext = {
    kind: backend.kind,
    clock,
    open,
    async setup(options) {
      const db = await backend.freshDatabase();
      return { db, store: await open(db, options) };
    },
  };
  defineRecordTests(ctx);
  defineKeyTests(ctx);
  defineTransactionTests(ctx);
  defineAuditTests(ctx);
  defineShareTests(ctx);
}
