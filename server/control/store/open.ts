// Chooses the adapter from the database URL that `corridor serve --data DIR` and
// `corridor control --database URL` hand over.

import { openPostgresStore, type PostgresStoreOptions } from "./postgres.ts";
import { openSqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
import type { Store } from "./types.ts";

/** Options of either adapter (each takes the ones it knows). */
export type OpenStoreOptions = SqliteStoreOptions & PostgresStoreOptions;

/** Which adapter a URL names, and what it hands it; a TypeError naming the URL's scheme if none. */
export function parseStoreUrl(
  url: string,
): { kind: "sqlite"; path: string } | { kind: "postgres"; url: string } {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  if (/^sqlite:/i.test(url)) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new TypeError("database URL 'sqlite:' names no file: use sqlite:PATH");
    return { kind: "sqlite", path };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme !== null) {
    throw new TypeError(
      `database URL scheme '${scheme[1]!.slice(0, 32)}' is not supported: use sqlite:PATH, a file path, or postgres://...`,
    );
  }
  if (url === "")
    throw new TypeError("database URL is empty: use sqlite:PATH, a file path, or postgres://...");
  return { kind: "sqlite", path: url };
}

/**
 * Opens the store a URL names: `sqlite:PATH` or a plain path → SQLite (the file is created
 * 0600, its folder 0700; `sqlite::memory:` for a throwaway one); `postgres://...` or
 * `postgresql://...` → PostgreSQL. The schema is migrated before it resolves.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const target = parseStoreUrl(url);
  return target.kind === "sqlite"
    ? openSqliteStore(target.path, options)
    : openPostgresStore(target.url, options);
}
