// `corridor migrate`: moves a deployment's control state between databases, from the embedded
// SQLite file of `corridor serve` to PostgreSQL when several control servers must share it, or
// back. The copy itself (server/control/store/copy.ts) is one transaction on the destination,
// which must be empty, and ends with a count of every table on both sides; this prints that count
// as a table. Nothing here can tell whether a server still writes to the source (a SQLite file
// open in another process shows no sign a reader could trust), so the help says to stop them.

import { join, resolve } from "node:path";
import {
  copyStore,
  DestinationNotEmptyError,
  MigrateError,
  type TableCount,
} from "../server/control/store/copy.ts";
import { parseStoreUrl } from "../server/control/store/open.ts";
import { defineCommand, runCommand, UsageError } from "./args.ts";
import { CONTROL_DB_FILE, redact } from "./control-flags.ts";
import { defaultDataDir } from "./data-dir.ts";

/** `corridor migrate`: its options, help and summary. */
export const MIGRATE_COMMAND = defineCommand({
  name: "migrate",
  summary: "move the control state from SQLite to PostgreSQL (or back), with a count check",
  synopsis: ["--to URL [--from URL | --data DIR] [--dry-run]"],
  options: [
    {
      name: "from",
      value: "URL",
      description:
        "the database to copy from: sqlite:PATH (or a path) or postgres://USER:PASSWORD@HOST/DB",
      default: "sqlite:DIR/control.db, the file corridor serve --data DIR uses",
    },
    {
      name: "to",
      value: "URL",
      description:
        "the database to copy into, which must hold no rows: postgres://... (create the database first) or sqlite:PATH (made if missing)",
    },
    {
      name: "data",
      value: "DIR",
      description: "the data folder whose control.db is the default --from",
      default: "$XDG_STATE_HOME/corridor or ~/.local/state/corridor",
    },
    {
      name: "dry-run",
      description: "count the rows of every table on both sides, and write nothing",
    },
  ],
  notes:
    "Stop every server using either database first (corridor serve, corridor control): rows\n" +
    "written to the source after the copy starts are not copied. Migrate cannot tell that a\n" +
    "SQLite file is still open in another process; from PostgreSQL it warns when other sessions\n" +
    "are connected. The source is migrated to this Corridor's schema first, as a server start\n" +
    "would. The copy is one transaction: on any error, or when a table's row count differs\n" +
    "between the two sides, the destination is left as it was.\n" +
    "Then start the servers on the new database: corridor control --database URL, or\n" +
    "corridor serve --database URL. Keep the old database until they run well.\n\n" +
    "examples:\n" +
    "  corridor migrate --data /var/lib/corridor --to postgres://corridor:PASSWORD@db/corridor\n" +
    "  corridor migrate --from postgres://corridor@db/corridor --to sqlite:/var/lib/corridor/control.db\n\n" +
    "exit status: 0 copied (or, with --dry-run, the destination is empty); 1 refused or failed.",
});

/** The count table: one line per table, then the totals. */
export function countTable(counts: readonly TableCount[], dryRun: boolean): string {
  const total = counts.reduce((sum, c) => ({ s: sum.s + c.source, d: sum.d + c.destination }), {
    s: 0,
    d: 0,
  });
  const rows: [string, string, string][] = [
    ["TABLE", "SOURCE", dryRun ? "DESTINATION NOW" : "DESTINATION"],
    ...counts.map((c): [string, string, string] => [
      c.table,
      String(c.source),
      String(c.destination),
    ]),
    ["total", String(total.s), String(total.d)],
  ];
  const width = ([0, 1, 2] as const).map((col) => Math.max(...rows.map((r) => r[col].length)));
  return rows
    .map(
      ([t, s, d]) => `${t.padEnd(width[0]!)}  ${s.padStart(width[1]!)}  ${d.padStart(width[2]!)}\n`,
    )
    .join("");
}

/** A URL as written in messages: sqlite paths made absolute, PostgreSQL passwords hidden. */
function shown(url: string): string {
  const target = parseStoreUrl(url);
  return target.kind === "sqlite" ? `sqlite:${resolve(target.path)}` : redact(url);
}

/** Runs `corridor migrate`; returns the exit status. */
export function migrateCommand(argv: string[]): Promise<number> {
  return runCommand(MIGRATE_COMMAND, argv, async ({ values, positionals }) => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
    if (values.to === undefined) {
      throw new UsageError("--to URL is required (postgres://... or sqlite:PATH)");
    }
    if (values.from !== undefined && values.data !== undefined) {
      throw new UsageError("--from and --data both name the source: give one");
    }
    const from =
      values.from ?? `sqlite:${join(resolve(values.data ?? defaultDataDir()), CONTROL_DB_FILE)}`;
    const to = values.to;
    for (const [flag, url] of [
      ["--from", from],
      ["--to", to],
    ] as const) {
      try {
        parseStoreUrl(url);
      } catch (error) {
        throw new UsageError(`${flag}: ${(error as Error).message}`);
      }
    }
    const dryRun = values["dry-run"];
    try {
      const report = await copyStore(from, to, { dryRun });
      process.stdout.write(countTable(report.counts, dryRun));
      if (report.sourceSessions !== null && report.sourceSessions > 0) {
        process.stderr.write(
          `corridor migrate: WARNING: ${report.sourceSessions} other session(s) were connected to the source: ` +
            "if a server still runs on it, what it writes from now on is not in the copy\n",
        );
      }
      const rows = report.counts.reduce((sum, c) => sum + c.source, 0);
      if (dryRun) {
        const full = report.counts.find((c) => c.destination > 0);
        if (full !== undefined) {
          process.stderr.write(
            `corridor migrate: ${new DestinationNotEmptyError(full.table, full.destination).message}\n`,
          );
          return 1;
        }
        process.stdout.write(
          `dry run, nothing written: ${rows} rows would be copied from ${shown(from)} to ${shown(to)}\n`,
        );
        return 0;
      }
      if (report.sourceMigratedFrom !== null) {
        process.stdout.write(
          `the source was migrated from schema version ${report.sourceMigratedFrom} first\n`,
        );
      }
      process.stdout.write(
        `copied ${rows} rows from ${shown(from)} to ${shown(to)}: every table's count matches\n`,
      );
      return 0;
    } catch (error) {
      // Every failure here is the operator's to read (a refusal, an unreachable database, a
      // constraint the source's rows break): one line naming it, never a stack.
      let message = redact(error instanceof Error ? error.message : String(error));
      if (
        values.from === undefined &&
        error instanceof MigrateError &&
        /^no SQLite/.test(message)
      ) {
        message += ": give --data DIR (the folder of corridor serve --data) or --from URL";
      }
      process.stderr.write(`corridor migrate: ${message}\n`);
      return 1;
    }
  });
}
