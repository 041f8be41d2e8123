// `corridor admin`: the control server's administration over its HTTP API (docs/control.md),
// with the API key from CORRIDOR_API_KEY. Two subcommands open the database instead and make
// the first credentials: `apikey create --data DIR` and `owner-link --data DIR`. Output is a
// table for people, `--json` (the API's own JSON) for scripts; a new key is printed alone on
// stdout so that `KEY=$(corridor admin authkey create)` works. Exit 1 when the server refuses
// or cannot be reached, 2 for a bad command line.

import { readFileSync } from "node:fs";
import { AdminClient, AdminError, ApiRefusal } from "./admin-client.ts";
import {
  type AuditRow,
  type AuthKeyRow,
  auditTable,
  authKeysTable,
  type NodeRow,
  nodesTable,
  type UserRow,
  usersTable,
} from "./admin-format.ts";
import { apiKeyCreateLocal, localDatabase, ownerLinkLocal } from "./admin-local.ts";
import { SHARE_USAGE, shareCommand } from "./admin-share.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";

/** The environment variable holding the API key. */
export const API_KEY_VARIABLE = "CORRIDOR_API_KEY";

/** `corridor admin`: its options, help and summary. */
export const ADMIN_COMMAND = defineCommand({
  name: "admin",
  summary: "administer a control server: users, nodes, auth keys, shares, policy, audit log",
  synopsis: [
    "[--server URL] users | nodes [--json] | nodes rename ID NAME | nodes remove ID",
    "[--server URL] nodes expire ID | authkey list | authkey revoke ID",
    "[--server URL] authkey create [--reusable] [--ephemeral] [--tag TAG]... [--expiry DUR]",
    `[--server URL] ${SHARE_USAGE.create}`,
    `[--server URL] ${SHARE_USAGE.list} | ${SHARE_USAGE.revoke}`,
    "[--server URL] policy get | policy set FILE | policy test FILE",
    "[--server URL] audit [--limit N] [--before ID]",
    "apikey create --data DIR | owner-link --data DIR [--server URL]",
  ],
  options: [
    {
      name: "server",
      value: "URL",
      description: "the control server (corridor serve or corridor control)",
      default: "http://127.0.0.1:8080/",
    },
    { name: "json", description: "print the API's JSON instead of a table" },
    {
      name: "data",
      value: "DIR",
      description: "apikey create, owner-link: the data folder of corridor serve (DIR/control.db)",
    },
    {
      name: "database",
      value: "URL",
      description: "apikey create, owner-link: the database of corridor control instead",
    },
    { name: "reusable", description: "authkey create: the key registers any number of nodes" },
    {
      name: "ephemeral",
      description: "authkey create: its nodes are removed when their map stream ends",
    },
    {
      name: "tag",
      value: "TAG",
      multiple: true,
      description: "authkey create: its nodes get this tag (tag:NAME; the policy's tagOwners)",
    },
    {
      name: "expiry",
      value: "DUR",
      description: "authkey create: the key's lifetime, e.g. 600s, 30m, 12h, 90d",
      default: "90d",
    },
    {
      name: "ssh-user",
      value: "USER",
      multiple: true,
      description:
        "share create: offer SSH as this local user of the node (its agent's SSH server)",
    },
    {
      name: "port",
      value: "P",
      multiple: true,
      description: "share create: offer this TCP port of the node (a web service, any TCP)",
    },
    { name: "anyone", description: "share create: anyone with the link may accept (the default)" },
    {
      name: "signed-in",
      description: "share create: only users signed in to this control server may accept",
    },
    {
      name: "email",
      value: "EMAIL",
      multiple: true,
      description: "share create: only these people may accept, after signing in with SSO",
    },
    {
      name: "expires",
      value: "DUR",
      description: "share create: the link and its access end after this, e.g. 30m, 12h, 7d",
      default: "24h",
    },
    {
      name: "uses",
      value: "N",
      description: "share create: how many people may accept, or 'unlimited' (until it expires)",
      default: "1",
    },
    { name: "note", value: "TEXT", description: "share create: shown to the recipient" },
    {
      name: "acceptance",
      value: "AID",
      description: "share revoke: end this one recipient's access (share list shows the ids)",
    },
    {
      name: "limit",
      value: "N",
      description: "audit: how many entries, newest first (1-500)",
      default: "50",
    },
    {
      name: "before",
      value: "ID",
      description: "audit: only entries older than this id (the next page, as printed)",
    },
  ],
  notes:
    `The API key comes from $${API_KEY_VARIABLE}; the first one from\n` +
    "`corridor admin apikey create --data DIR` (on the server's machine, once the owner signed in\n" +
    "with the owner link). Exit status 1: refused by the server or not reached; 2: bad usage.",
});

type AdminArgs = ParsedArgs<typeof ADMIN_COMMAND.options>;

function operands(positionals: string[], count: number, usage: string): string[] {
  if (positionals.length !== count) throw new UsageError(`usage: corridor admin ${usage}`);
  return positionals;
}

function numericId(text: string | undefined): number {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text)) {
    throw new UsageError(`'${text ?? ""}' is not an id (a positive whole number)`);
  }
  return Number(text);
}

function client(args: AdminArgs): AdminClient {
  const key = process.env[API_KEY_VARIABLE];
  if (key === undefined || key.trim() === "") {
    throw new UsageError(
      `set ${API_KEY_VARIABLE} to an API key (\`corridor admin apikey create --data DIR\` makes one)`,
    );
  }
  return new AdminClient(serverUrl(args), key.trim());
}

/** The client, made at the first call: a bad command line is reported before a missing key. */
function lazyClient(args: AdminArgs): Pick<AdminClient, "call"> {
  let made: AdminClient | undefined;
  return {
    call<T>(method: string, path: string, body?: unknown): Promise<T> {
      made ??= client(args);
      return made.call<T>(method, path, body);
    },
  };
}

function serverUrl(args: AdminArgs): string {
  const text = args.values.server ?? "http://127.0.0.1:8080/";
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || !/^https?:$/.test(url.protocol)) {
    throw new UsageError(`--server '${text}': expected http(s)://HOST[:PORT]/`);
  }
  return new URL("/", url).href;
}

function print(args: AdminArgs, json: unknown, human: string): number {
  process.stdout.write(args.values.json ? `${JSON.stringify(json, null, 2)}\n` : human);
  return 0;
}

function readPolicyFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new AdminError(`${file}: ${(error as Error).message}`);
  }
}

interface PolicyErrorRow {
  line: number;
  column: number;
  path: string;
  message: string;
}

function policyErrors(file: string, errors: PolicyErrorRow[]): string {
  return errors
    .map(
      (e) => `${file}:${e.line}:${e.column}: ${e.path === "" ? "" : `${e.path}: `}${e.message}\n`,
    )
    .join("");
}

async function policy(args: AdminArgs, [verb, file]: string[]): Promise<number> {
  const api = lazyClient(args);
  if (verb === "get") {
    operands(args.positionals, 2, "policy get");
    const got = await api.call<{ text: string; version: number }>("GET", "/api/v1/policy");
    return print(args, got, got.text.endsWith("\n") ? got.text : `${got.text}\n`);
  }
  if (verb !== "set" && verb !== "test") throw new UsageError(`unknown policy command ${verb}`);
  operands(args.positionals, 3, `policy ${verb} FILE`);
  const text = readPolicyFile(file!);
  if (verb === "test") {
    const tested = await api.call<{ ok: boolean; errors: PolicyErrorRow[] }>(
      "POST",
      "/api/v1/policy/test",
      { text },
    );
    if (args.values.json) {
      print(args, tested, "");
      return tested.ok ? 0 : 1;
    }
    if (tested.ok) {
      process.stdout.write(`${file}: the policy compiles and its tests pass\n`);
      return 0;
    }
    process.stderr.write(policyErrors(file!, tested.errors));
    return 1;
  }
  try {
    const set = await api.call<{ version: number }>("PUT", "/api/v1/policy", { text });
    return print(args, set, `policy set: version ${set.version}\n`);
  } catch (error) {
    if (error instanceof ApiRefusal && error.body.error === "invalid_policy") {
      process.stderr.write(
        `corridor admin: the server refused the policy in ${file}; nothing changed:\n` +
          policyErrors(file!, (error.body.errors as PolicyErrorRow[] | undefined) ?? []),
      );
      return 1;
    }
    throw error;
  }
}

async function nodes(args: AdminArgs, [verb, id, name]: string[]): Promise<number> {
  const api = lazyClient(args);
  if (verb === undefined) {
    const got = await api.call<{ nodes: NodeRow[] }>("GET", "/api/v1/nodes");
    return print(args, got, nodesTable(got.nodes));
  }
  if (verb === "rename") {
    operands(args.positionals, 4, "nodes rename ID NAME");
    const got = await api.call<{ node: NodeRow }>("PATCH", `/api/v1/nodes/${numericId(id)}`, {
      name,
    });
    return print(args, got, `node ${got.node.id} is now ${got.node.name}\n`);
  }
  if (verb === "remove" || verb === "expire") {
    operands(args.positionals, 3, `nodes ${verb} ID`);
    const path = `/api/v1/nodes/${numericId(id)}`;
    if (verb === "remove") {
      const got = await api.call<{ removed: number }>("DELETE", path);
      return print(args, got, `node ${got.removed} removed\n`);
    }
    const got = await api.call<{ node: NodeRow }>("POST", `${path}/expire`);
    return print(args, got, `node ${got.node.id} (${got.node.name}): key expired\n`);
  }
  throw new UsageError(`unknown nodes command ${verb}`);
}

async function authkey(args: AdminArgs, [verb, id]: string[]): Promise<number> {
  const api = lazyClient(args);
  if (verb === "create") {
    operands(args.positionals, 2, "authkey create [--reusable] [--ephemeral] [--tag T]...");
    const { values } = args;
    const got = await api.call<{ key: string; authKey: AuthKeyRow }>("POST", "/api/v1/authkeys", {
      reusable: values.reusable,
      ephemeral: values.ephemeral,
      tags: values.tag,
      ...(values.expiry === undefined ? {} : { expiry: values.expiry }),
    });
    return print(args, got, `${got.key}\n`);
  }
  if (verb === "list") {
    operands(args.positionals, 2, "authkey list");
    const got = await api.call<{ authKeys: AuthKeyRow[] }>("GET", "/api/v1/authkeys");
    return print(args, got, authKeysTable(got.authKeys));
  }
  if (verb === "revoke") {
    operands(args.positionals, 3, "authkey revoke ID");
    const got = await api.call<{ revoked: number }>("DELETE", `/api/v1/authkeys/${numericId(id)}`);
    return print(args, got, `auth key ${got.revoked} revoked\n`);
  }
  throw new UsageError(`unknown authkey command ${verb ?? "(none)"}`);
}

async function auditLog(args: AdminArgs): Promise<number> {
  operands(args.positionals, 1, "audit [--limit N] [--before ID]");
  const limit = args.values.limit ?? "50";
  if (!/^[1-9][0-9]{0,2}$/.test(limit) || Number(limit) > 500) {
    throw new UsageError(`--limit '${limit}': expected a number from 1 to 500`);
  }
  const query = new URLSearchParams({ limit });
  if (args.values.before !== undefined) {
    query.set("before", String(numericId(args.values.before)));
  }
  const got = await client(args).call<{ entries: AuditRow[]; next: number | null }>(
    "GET",
    `/api/v1/audit?${query}`,
  );
  const more =
    got.next === null ? "" : `older entries: corridor admin audit --before ${got.next}\n`;
  return print(args, got, auditTable(got.entries) + more);
}

async function admin(args: AdminArgs): Promise<number> {
  const [command, ...rest] = args.positionals;
  switch (command) {
    case "apikey":
      if (rest[0] !== "create" || rest.length !== 1) {
        throw new UsageError("usage: corridor admin apikey create --data DIR");
      }
      return apiKeyCreateLocal(localDatabase(args.values.data, args.values.database));
    case "owner-link":
      operands(args.positionals, 1, "owner-link --data DIR [--server URL]");
      return ownerLinkLocal(localDatabase(args.values.data, args.values.database), serverUrl(args));
    case "users": {
      operands(args.positionals, 1, "users");
      const got = await client(args).call<{ users: UserRow[] }>("GET", "/api/v1/users");
      return print(args, got, usersTable(got.users));
    }
    case "nodes":
      return nodes(args, rest);
    case "authkey":
      return authkey(args, rest);
    case "policy":
      return policy(args, rest);
    case "audit":
      return auditLog(args);
    case "share":
      return shareCommand(lazyClient(args), args.values, args.positionals, (json, human) =>
        print(args, json, human),
      );
    case undefined:
      throw new UsageError(
        "which command? users, nodes, authkey, share, policy, audit, apikey or owner-link",
      );
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

/** Runs `corridor admin`; returns the exit status. */
export function adminCommand(argv: string[]): Promise<number> {
  return runCommand(ADMIN_COMMAND, argv, async (args) => {
    try {
      return await admin(args);
    } catch (error) {
      if (!(error instanceof AdminError)) throw error;
      process.stderr.write(`corridor admin: ${error.message}\n`);
      return 1;
    }
  });
}
