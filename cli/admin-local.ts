// The two `corridor admin` commands that open the control database directly instead of calling
// the API: they are how the first credentials come to exist. Whoever can read the data folder
// (0700, the database 0600) is the operator, so no other proof is asked. Both only add rows the
// running server reads per request (an API key, a sign-in link), so they are safe beside it.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { createApiKeyLocal } from "../server/control/auth/apikeys.ts";
import { createOwnerLink, LOCAL_ISSUER, OWNER_SUBJECT } from "../server/control/auth/links.ts";
import { openStore } from "../server/control/store/open.ts";
import type { Store, UserRecord } from "../server/control/store/types.ts";
import { AdminError } from "./admin-client.ts";
import { when } from "./admin-format.ts";
import { UsageError } from "./args.ts";
import { CONTROL_DB_FILE, redact } from "./control-flags.ts";
import { pageOwnerLink, reachedOnLoopback } from "./serve-lines.ts";

/** Where the database is: --database URL, else DIR/control.db of --data DIR (which must exist). */
export function localDatabase(data: string | undefined, database: string | undefined): string {
  if (database !== undefined) return database;
  if (data === undefined) {
    throw new UsageError("this command opens the database: give --data DIR (or --database URL)");
  }
  const file = join(resolve(data), CONTROL_DB_FILE);
  if (!existsSync(file)) {
    throw new AdminError(
      `no control database in ${resolve(data)}: start \`corridor serve --data ${data}\` first`,
    );
  }
  return file;
}

async function withStore<T>(url: string, work: (store: Store) => Promise<T>): Promise<T> {
  let store: Store;
  try {
    store = await openStore(url);
  } catch (error) {
    throw new AdminError(`database ${redact(url)}: ${(error as Error).message}`);
  }
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** The owner, else the first admin: who a bootstrap API key belongs to. */
async function operator(store: Store): Promise<UserRecord> {
  const owner = await store.userByIdentity(LOCAL_ISSUER, OWNER_SUBJECT);
  if (owner !== null) return owner;
  const admin = (await store.listUsers()).find((u) => u.role === "owner" || u.role === "admin");
  if (admin !== undefined) return admin;
  // Making the owner here would hide it from a running server's map and policy until restart.
  throw new AdminError(
    "nobody has signed in yet: open the owner link (`corridor admin owner-link --data DIR`) once, then make the key",
  );
}

/** `apikey create`: a new API key of the owner (or first admin), printed alone on stdout. */
export async function apiKeyCreateLocal(database: string): Promise<number> {
  return withStore(database, async (store) => {
    const user = await operator(store);
    const issued = await createApiKeyLocal(store, user.id);
    process.stdout.write(`${issued.key}\n`);
    process.stderr.write(
      `API key ${issued.record.prefix}… of ${user.name} (${user.role}), expires ${when(issued.record.expiresAt)}; ` +
        "shown only now: export CORRIDOR_API_KEY=<the key>\n",
    );
    return 0;
  });
}

/**
 * `owner-link`: a new single-use owner sign-in link (15 minutes) at `server`. A loopback server
 * gets the same link at corridor.localhost first, as `corridor serve` prints it: the page lives
 * there for private URLs, and a session made at 127.0.0.1 signs in that origin only.
 */
export async function ownerLinkLocal(database: string, server: string): Promise<number> {
  return withStore(database, async (store) => {
    const link = await createOwnerLink(store, server);
    const line = `Sign in as owner: ${link}\n`;
    const url = new URL(server);
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const onLoopback = url.protocol === "http:" && reachedOnLoopback(host);
    process.stdout.write(
      onLoopback ? pageOwnerLink({ host, publicUrl: undefined }, port, line) : line,
    );
    return 0;
  });
}
