// A throwaway PostgreSQL cluster for tests, from Debian's `postgresql` binaries
// (/usr/lib/postgresql/<version>/bin): initdb into a fresh temp dir, pg_ctl start on 127.0.0.1
// with a port from ports.ts and its unix socket inside the temp dir, pg_ctl stop and the temp dir
// removed in teardown (and on process exit, should teardown never run).
//
// initdb refuses to run as root, so as root every command runs as the `postgres` system user
// (runuser -u postgres --) and the temp dir is handed to that user; as any other user they run
// as that user. The superuser has a random password (scram-sha-256): other local users cannot
// connect to the cluster while it runs. fsync is off: nothing here must survive a power cut.
//
// pause() stops the server abruptly (pg_ctl stop -m immediate: every connection cut, as in a
// crash) keeping its data dir and port; resume() starts it again on both and resolves once it
// accepts connections: a database outage for the tests of what survives one.
//
// One cluster per test file (beforeAll/afterAll), and each test creates its own database
// (createDatabase), so files run in parallel without sharing anything.
//
//   const pgNeed = postgresPrereq();
//   describeWithPrereq(pgNeed, "...", () => {
//     let cluster: PgCluster;
//     beforeAll(async () => { cluster = await startPostgres(); });
//     afterAll(() => cluster?.stop());
//   });

import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { PortInUseError, withPortRetry } from "./ports.ts";
import { type Check, check, executable, onPath, type Prereq, prereq } from "./prereq.ts";
import { waitUntil } from "./wait.ts";

const run = promisify(execFile);

/** The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or null. */
export function postgresBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, "bin");
    if (existsSync(join(bin, "initdb")) && existsSync(join(bin, "pg_ctl"))) return bin;
  }
  return null;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** The uid and gid of the `postgres` system user, or null. */
function postgresUser(): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
  } catch {
    return null;
  }
}

/** What a throwaway cluster needs on this machine. */
export function postgresPrereq(): Prereq {
  const bin = postgresBinDir();
  const checks: Check[] = [
    bin === null
      ? check("/usr/lib/postgresql/*/bin/initdb and pg_ctl (Debian's postgresql)", false)
      : executable(join(bin, "initdb")),
  ];
  if (isRoot()) {
    checks.push(onPath("runuser"), check("the postgres system user", postgresUser() !== null));
  }
  return prereq(...checks);
}

/** A running throwaway cluster. */
export interface PgCluster {
  readonly port: number;
  /** The URL of database `name` as the superuser. */
  url(name: string): string;
  /** Creates an empty database named `<prefix>_<n>` (unique in this cluster) and returns its URL. */
  createDatabase(prefix: string): Promise<string>;
  /**
   * Stops the server, keeping its data and port: "immediate" (default) cuts every connection
   * as a crash would (recovery on resume), "fast" ends the sessions with 57P01 admin_shutdown.
   */
  pause(mode?: "immediate" | "fast"): Promise<void>;
  /** Starts the paused server again on its port and data; resolves once it takes connections. */
  resume(): Promise<void>;
  /** Stops the cluster and removes its files. */
  stop(): Promise<void>;
}

/** Starts a private cluster (see the file comment). */
export async function startPostgres(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (bin === null) throw new Error("startPostgres: Debian's postgresql is not installed");
  const root = isRoot();
  const owner = root ? postgresUser() : null;
  if (root && owner === null) throw new Error("startPostgres: no postgres system user");
  const as = (program: string, args: string[]): [string, string[]] =>
    root
      ? ["runuser", ["-u", "postgres", "--", join(bin, program), ...args]]
      : [join(bin, program), args];

  const dir = mkdtempSync(join(tmpdir(), "corridor-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const password = randomBytes(18).toString("hex");
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner !== null) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  const stopNow = (): void => {
    try {
      const [cmd, args] = as("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      execFileSync(cmd, args, { stdio: "ignore" });
    } catch {
      // Not running (never started, or already stopped): only the files are left to remove.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stopNow);
  try {
    const [initCmd, initArgs] = as("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "scram-sha-256",
      `--pwfile=${pwfile}`,
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    await run(initCmd, initArgs, { cwd: dir });
    const serverOptions = (port: number): string =>
      [
        "-c listen_addresses=127.0.0.1",
        `-c port=${port}`,
        `-c unix_socket_directories=${dir}`,
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=60",
      ].join(" ");
    const pgStart = (port: number): Promise<unknown> => {
      const [cmd, args] = as("pg_ctl", [
        "-D",
        data,
        "-l",
        log,
        "-w",
        "-t",
        "60",
        "-o",
        serverOptions(port),
        "start",
      ]);
      return run(cmd, args, { cwd: dir });
    };
    const port = await withPortRetry(async (candidate) => {
      try {
        await pgStart(candidate);
      } catch (error) {
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        if (/Address already in use|could not bind/i.test(text)) {
          throw new PortInUseError(candidate, "postgres could not bind it");
        }
        throw new Error(`pg_ctl start failed: ${(error as Error).message}\n${text.slice(-2000)}`);
      }
      return candidate;
    });
    let next = 0;
    let paused = false;
    const url = (name: string) =>
      `postgres://postgres:${password}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
    return {
      port,
      url,
      async createDatabase(prefix) {
        const name = `${prefix
          .toLowerCase()
          .replace(/[^a-z0-9_]/g, "_")
          .slice(0, 40)}_${++next}`;
        const client = new pg.Client({ connectionString: url("postgres") });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE "${name}"`);
        } finally {
          await client.end();
        }
        return url(name);
      },
      async pause(mode = "immediate") {
        const [cmd, args] = as("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
        await run(cmd, args, { cwd: dir });
        paused = true;
      },
      async resume() {
        // -w waits until the server accepts connections (crash recovery included).
        await pgStart(port);
        paused = false;
        const client = new pg.Client({ connectionString: url("postgres") });
        await client.connect();
        await client.end();
      },
      async stop() {
        process.off("exit", stopNow);
        const [cmd, args] = as("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
        try {
          if (!paused) await run(cmd, args, { cwd: dir });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    process.off("exit", stopNow);
    stopNow();
    throw error;
  }
}

/** Connections to the database `url` names, counted from the cluster's `postgres` database. */
export async function connectionsTo(cluster: PgCluster, url: string): Promise<number> {
  const client = new pg.Client({ connectionString: cluster.url("postgres") });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1",
      [new URL(url).pathname.slice(1)],
    );
    return rows[0]?.n ?? -1;
  } finally {
    await client.end();
  }
}

/** Waits (up to 5 s) until nothing is connected to the database `url` names: nothing leaked. */
export async function expectNoConnection(cluster: PgCluster, url: string): Promise<void> {
  let left = -1;
  await waitUntil(() => left === 0, "no connection to the database", {
    everyMs: 50,
    hangAfterMs: 5000,
    poll: async () => {
      left = await connectionsTo(cluster, url);
    },
  });
}
