// `corridor migrate` as the real binary: a `corridor serve` data folder's SQLite file moved to
// PostgreSQL (the default --from is DIR/control.db), the count table printed; a second run is
// refused (the destination holds data, exit 1); `corridor control --database postgres://...`
// then serves the same nodes over its API; and back to a new SQLite file. Usage errors exit 2.
// Needs Debian's postgresql (skipped without it, failed without it under CI).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_ISSUER, OWNER_SUBJECT } from "../../server/control/auth/links.ts";
import { openStore } from "../../server/control/store/open.ts";
import { newSettings } from "../../server/control/store/settings.ts";
import type { Store } from "../../server/control/store/types.ts";
import { nodeInput } from "../control/store.suite.ts";
import { type PgCluster, postgresPrereq, startPostgres } from "../helpers/postgres.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { api, corridor, Server } from "./control-helpers.ts";

const RELAY_KEY = Buffer.alloc(32, 7).toString("base64");

async function nodeNames(url: string): Promise<string[]> {
  const store: Store = await openStore(url);
  try {
    return (await store.listNodes()).map((n) => n.name).sort();
  } finally {
    await store.close();
  }
}

describe("corridor migrate: the command line", () => {
  it("needs --to, a known scheme, and one source", async () => {
    const none = await corridor(["migrate"]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^corridor migrate: --to URL is required/);
    const scheme = await corridor(["migrate", "--to", "mysql://db/x"]);
    expect(scheme.status).toBe(2);
    expect(scheme.stderr).toMatch(/^corridor migrate: --to: database URL scheme 'mysql'/);
    const both = await corridor(["migrate", "--to", "sqlite:/x", "--from", "a", "--data", "b"]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--from and --data both name the source/);
  });

  it("says where it looked when the data folder holds no database", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corridor-migrate-none-"));
    try {
      const run = await corridor(["migrate", "--data", dir, "--to", `sqlite:${dir}/to.db`]);
      expect(run.status).toBe(1);
      expect(run.stderr).toBe(
        `corridor migrate: no SQLite database at ${dir}/control.db: give --data DIR (the folder of corridor serve --data) or --from URL\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithPrereq(postgresPrereq(), "corridor migrate SQLite -> PostgreSQL -> SQLite", () => {
  let cluster: PgCluster | undefined;
  let dir: string;
  let control: Server | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), "corridor-migrate-"));
  }, 120_000);
  afterAll(async () => {
    await control?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("moves a serve data folder to PostgreSQL, where corridor control serves the same nodes", async () => {
    const store = await openStore(join(dir, "control.db"));
    await store.initSettings(newSettings());
    const owner = await store.createUser({
      issuer: LOCAL_ISSUER,
      subject: OWNER_SUBJECT,
      email: "",
      name: "owner",
      role: "owner",
      lastLoginAt: null,
    });
    for (let n = 1; n <= 3; n++) await store.createNode(nodeInput(n, owner.id));
    await store.createNode(nodeInput(4, null, { tags: ["tag:server"] }));
    await store.close();
    const names = await nodeNames(join(dir, "control.db"));
    const pgUrl = await cluster!.createDatabase("migrate");

    const dry = await corridor(["migrate", "--data", dir, "--to", pgUrl, "--dry-run"]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^nodes +4 +0$/m);
    expect(dry.stdout).toMatch(/dry run, nothing written: \d+ rows would be copied/);

    const run = await corridor(["migrate", "--data", dir, "--to", pgUrl]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^TABLE +SOURCE +DESTINATION$/m);
    expect(run.stdout).toMatch(/^nodes +4 +4$/m);
    expect(run.stdout).toMatch(/^users +1 +1$/m);
    expect(run.stdout).toContain(`from sqlite:${dir}/control.db to postgres://postgres:***@`);
    expect(run.stdout).toMatch(/: every table's count matches\n$/);
    expect(run.stdout + run.stderr).not.toContain(new URL(pgUrl).password);

    const again = await corridor(["migrate", "--data", dir, "--to", pgUrl]);
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(
      "corridor migrate: destination already holds data in table users (1 row): migrate only into an empty database\n",
    );

    const made = await corridor(["admin", "apikey", "create", "--database", pgUrl]);
    expect(made.status, made.stderr).toBe(0);
    const key = made.stdout.trim();
    control = new Server([
      "control",
      "--database",
      pgUrl,
      "--listen",
      "127.0.0.1:0",
      "--relay-url",
      "ws://127.0.0.1:9/relay",
      "--relay-key",
      RELAY_KEY,
    ]);
    const [, base] = (await control.waitFor(
      /corridor control at (http:\/\/127\.0\.0\.1:\d+\/) /,
    )) as unknown as string[];
    const listed = await api(base!, "GET", "/api/v1/nodes", { key });
    expect(listed.status).toBe(200);
    const served = (listed.body.nodes as { name: string }[]).map((n) => n.name).sort();
    expect(served).toEqual(names);
    expect(await control.stop()).toBe(0);
    control = undefined;

    const back = join(dir, "back", "control.db");
    const home = await corridor(["migrate", "--from", pgUrl, "--to", `sqlite:${back}`]);
    expect(home.status, home.stderr).toBe(0);
    expect(home.stdout).toMatch(/^nodes +4 +4$/m);
    expect(home.stderr).toBe(""); // no session left on the source: no warning
    expect(await nodeNames(back)).toEqual(names);
  }, 120_000);
});
