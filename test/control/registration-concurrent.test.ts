// Many registrations with one auth key at once (server/control/registration.ts), on SQLite and
// on PostgreSQL (two server handles on one database, a throwaway cluster from
// helpers/postgres.ts): a one-off key registers exactly one node, a reusable key's use count is
// exact, names and addresses are unique and leave no hole, and a key refused at its use leaves
// nothing behind. On PostgreSQL the key's use is the transaction's last statement and next
// addresses are claimed (store/sql-nodes.ts freeIpv4), so these races really run in parallel.

import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import type { CompiledPolicy } from "../../server/control/policy/types.ts";
import { type LoginOutcome, Registrar } from "../../server/control/registration.ts";
import { openPostgresStore } from "../../server/control/store/postgres.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store, StoreTx } from "../../server/control/store/types.ts";
import type { LoginMessage } from "../../worker/control/messages.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const PARALLEL = 50;
const req = { headers: {} } as IncomingMessage;

/** Store handles on one database (PostgreSQL: one per simulated control server). */
type OpenHandles = () => Promise<Store[]>;

function login(i: number, key: string): LoginMessage {
  const nodeKey = Buffer.alloc(32);
  nodeKey.writeUInt16BE(i + 1, 0);
  return {
    type: "login",
    nodeKey: nodeKey.toString("base64"),
    proof: Buffer.alloc(32).toString("base64"),
    // Half share a hostname: their names race too (web, web-2, ...).
    hostinfo: { hostname: i % 2 === 0 ? "web" : `host-${i}`, os: "linux" },
    authKey: key,
  };
}

const outcomeOf = (o: LoginOutcome): string =>
  o.kind === "node" ? o.via : o.kind === "refused" ? o.code : o.kind;

function defineConcurrentSuite(open: OpenHandles): void {
  let stores: Store[] = [];
  let registrars: Registrar[] = [];
  let policy: CompiledPolicy;
  let issue: (reusable: boolean, expiresIn?: number) => Promise<{ key: string; id: number }>;

  beforeAll(async () => {
    stores = await open();
    const store = stores[0]!;
    const settings = await loadOrInitSettings(store);
    const bob = await store.createUser({
      issuer: "corridor:local",
      subject: "bob",
      email: "bob@example.com",
      name: "Bob",
      role: "member",
      lastLoginAt: null,
    });
    const compiled = compilePolicy(DEFAULT_POLICY, [
      { id: bob.id, email: bob.email, role: bob.role },
    ]);
    if (!compiled.ok) throw new Error("the default policy compiles");
    policy = compiled.policy;
    registrars = stores.map(
      (s) =>
        new Registrar({
          store: s,
          ipv6Prefix: settings.ipv6Prefix,
          policy: () => policy,
          now: () => Date.now(),
        }),
    );
    issue = async (reusable, expiresIn = 60_000) => {
      const { key, record } = await store.transaction((tx) =>
        issueAuthKey(tx, {
          userId: bob.id,
          reusable,
          ephemeral: false,
          tags: [],
          expiresAt: Date.now() + expiresIn,
        }),
      );
      return { key, id: record.id };
    };
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
  });

  const registerAll = (key: string, from: number) =>
    Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        registrars[i % registrars.length]!.login(login(from + i, key), req),
      ),
    );

  it(`${PARALLEL} registrations with one reusable key: all in, use count exact, unique names and the next addresses`, async () => {
    const store = stores[0]!;
    const before = await store.listNodes();
    const { key, id } = await issue(true);
    const outcomes = await registerAll(key, 0);
    expect(outcomes.map(outcomeOf)).toEqual(Array(PARALLEL).fill("registered"));
    const nodes = (await store.listNodes()).filter((n) => n.authKeyId === id);
    expect(nodes).toHaveLength(PARALLEL);
    expect((await store.listAuthKeys()).find((k) => k.id === id)?.usedCount).toBe(PARALLEL);
    expect(new Set(nodes.map((n) => n.name)).size).toBe(PARALLEL);
    expect(new Set(nodes.map((n) => n.ipv6)).size).toBe(PARALLEL);
    // Claims leave no hole: the addresses are the ones after those taken before.
    const last = (ip: string) => Number(ip.split(".")[3]) + 256 * Number(ip.split(".")[2]);
    const got = nodes.map((n) => last(n.ipv4)).sort((a, b) => a - b);
    const start = before.length + 1;
    expect(got).toEqual(Array.from({ length: PARALLEL }, (_, i) => start + i));
  }, 60_000);

  it(`${PARALLEL} registrations with one one-off key: exactly one in, the others refused, nothing left of them`, async () => {
    const store = stores[0]!;
    const nodesBefore = (await store.listNodes()).length;
    const { key, id } = await issue(false);
    const outcomes = await registerAll(key, 100);
    const kinds = outcomes.map(outcomeOf);
    expect(kinds.filter((k) => k === "registered")).toHaveLength(1);
    expect(kinds.filter((k) => k === "authkey_used")).toHaveLength(PARALLEL - 1);
    expect((await store.listNodes()).length).toBe(nodesBefore + 1);
    expect((await store.listAuthKeys()).find((k) => k.id === id)?.usedCount).toBe(1);
    // The next registration gets the address after the highest held: a refused one's claim
    // ended with its transaction (a hole it leaves below the winner's is only filled once the
    // range is used up, as after a removal).
    const num = (ip: string) => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
    const highest = Math.max(...(await store.listNodes()).map((n) => num(n.ipv4)));
    const reusable = await issue(true);
    const next = await registrars[0]!.login(login(200, reusable.key), req);
    expect(next.kind === "node" && num(next.node.ipv4)).toBe(highest + 1);
  }, 60_000);

  it("a key refused at its use at commit fails the commit, and nothing of the transaction stays", async () => {
    const store = stores[1] ?? stores[0]!;
    const revoked = await issue(true);
    await store.revokeAuthKey(revoked.id, Date.now());
    const attempt = store.transaction(async (tx) => {
      await tx.createUser({
        issuer: "corridor:local",
        subject: "gone",
        email: "gone@example.com",
        name: "Gone",
        role: "member",
        lastLoginAt: null,
      });
      await tx.useAuthKeyAtCommit(revoked.id);
    });
    await expect(attempt).rejects.toMatchObject({ name: "StoreConflictError", field: "authKey" });
    expect((await store.listUsers()).some((u) => u.subject === "gone")).toBe(false);
    const key = (await store.listAuthKeys()).find((k) => k.id === revoked.id);
    expect(key?.usedCount).toBe(0);
  });

  it("a login the caller's map does not know registers at once, and a node that exists after all logs in", async () => {
    const unknown = { unknown: true };
    const oneOff = await issue(false);
    const first = await registrars[0]!.login(login(400, oneOff.key), req, unknown);
    expect(outcomeOf(first)).toBe("registered");
    // The other server's map has not heard of it yet: its key is in the database, so the
    // insert fails on it and the node logs in as known, the one-off key's use notwithstanding.
    const other = registrars[1] ?? registrars[0]!;
    const again = await other.login(login(400, oneOff.key), req, unknown);
    expect(outcomeOf(again)).toBe("known");
    expect(again.kind === "node" && first.kind === "node" && again.node.id).toBe(
      first.kind === "node" && first.node.id,
    );
    const reusable = await issue(true);
    expect(outcomeOf(await other.login(login(400, reusable.key), req, unknown))).toBe("known");
    const key = (await stores[0]!.listAuthKeys()).find((k) => k.id === reusable.id);
    expect(key?.usedCount).toBe(0); // the failed insert rolled its use back
    // A new node with a used key is still refused.
    expect(outcomeOf(await other.login(login(401, oneOff.key), req, unknown))).toBe("authkey_used");
  });

  it("a reusable key is read once for a burst of registrations, and a revocation still refuses the next", async () => {
    const store = stores[0]!;
    const reusable = await issue(true);
    let reads = 0;
    // The store as the registrar sees it, counting the key reads inside its transactions.
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop !== "transaction") return Reflect.get(target, prop, target);
        return <T>(work: (tx: StoreTx) => Promise<T>) =>
          target.transaction((tx) =>
            work(
              new Proxy(tx, {
                get(inner, name) {
                  if (name !== "authKeyByHash") return Reflect.get(inner, name, inner);
                  return (hash: string) => {
                    reads++;
                    return inner.authKeyByHash(hash);
                  };
                },
              }),
            ),
          );
      },
    });
    const registrar = new Registrar({
      store: counting,
      ipv6Prefix: (await loadOrInitSettings(store)).ipv6Prefix,
      policy: () => policy,
      now: () => Date.now(),
    });
    const kinds: string[] = [];
    for (let i = 0; i < 5; i++)
      kinds.push(outcomeOf(await registrar.login(login(500 + i, reusable.key), req)));
    expect(kinds).toEqual(Array(5).fill("registered"));
    expect(reads).toBe(1);
    const nodesBefore = (await store.listNodes()).length;
    await store.revokeAuthKey(reusable.id, Date.now());
    // Within the reuse window the check passes on the cached record; the use at COMMIT refuses.
    expect(outcomeOf(await registrar.login(login(505, reusable.key), req))).toBe("authkey_revoked");
    expect(outcomeOf(await registrar.login(login(506, reusable.key), req))).toBe("authkey_revoked");
    expect((await store.listNodes()).length).toBe(nodesBefore);
    expect((await store.listAuthKeys()).find((k) => k.id === reusable.id)?.usedCount).toBe(5);
  });

  it("an expired or revoked key is refused as before", async () => {
    const expired = await issue(true, -1);
    expect(outcomeOf(await registrars[0]!.login(login(300, expired.key), req))).toBe(
      "authkey_expired",
    );
    const revoked = await issue(true);
    await stores[0]!.revokeAuthKey(revoked.id, Date.now());
    expect(outcomeOf(await registrars[0]!.login(login(301, revoked.key), req))).toBe(
      "authkey_revoked",
    );
    expect(outcomeOf(await registrars[0]!.login(login(302, "cak_nope"), req))).toBe(
      "authkey_invalid",
    );
  });
}

describe("concurrent registrations on SQLite", () => {
  defineConcurrentSuite(async () => [await openSqliteStore(":memory:")]);
});

describeWithPrereq(postgresPrereq(), "concurrent registrations on PostgreSQL (two servers)", () => {
  let cluster: PgCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });
  defineConcurrentSuite(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase("registration");
    return [await openPostgresStore(url), await openPostgresStore(url)];
  });
});
