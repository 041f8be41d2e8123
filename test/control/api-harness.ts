// A control API on loopback for the api-*.test.ts files: a real SQLite store in a temp folder
// of its own, the real policy compiler, a fake clock, and recorders for what the API tells the
// map side (MeshChanges) and asks of it (Approvals: pending requests the test puts in).

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { createApi, createApiListener } from "../../server/control/api/app.ts";
import type { ApiDeps, ApiEnv, PolicyAccess } from "../../server/control/api/deps.ts";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import type { OidcLogin } from "../../server/control/auth/oidc.ts";
import type { RateLimitOptions } from "../../server/control/auth/rate-limit.ts";
import type { Approvals, MeshChanges, PendingApproval } from "../../server/control/changes.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import type { CompiledPolicy } from "../../server/control/policy/types.ts";
import { openStore } from "../../server/control/store/open.ts";
import type { Store } from "../../server/control/store/types.ts";
import { listenOnLoopback } from "../helpers/ports.ts";

/** One MeshChanges call, as recorded. */
export type MeshCall = [method: keyof MeshChanges, ...args: number[]];

/** What the test sees of a response. */
export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  json: any;
  text: string;
}

/** Options of a request. */
export interface CallOptions {
  body?: unknown;
  /** Raw body (sent as is, with the content type given). */
  raw?: string;
  contentType?: string;
  cookie?: string;
  csrf?: string;
  /** Origin header; defaults to the server's own when a cookie is sent; null: none. */
  origin?: string | null;
  bearer?: string;
  headers?: Record<string, string>;
}

/** A signed-in browser: its cookie and CSRF token. */
export interface Browser {
  cookie: string;
  csrf: string;
  userId: number;
}

/** Approvals the test controls: put pending requests in, read what was decided. */
export class TestApprovals implements Approvals {
  readonly pending = new Map<string, PendingApproval>();
  readonly decided: { id: string; approved: boolean; userId?: number; tags?: string[] }[] = [];
  get(id: string): PendingApproval | null {
    return this.pending.get(id) ?? null;
  }
  async approve(id: string, userId: number, tags?: string[]): Promise<void> {
    if (!this.pending.delete(id)) throw new Error(`approval ${id} is gone`);
    this.decided.push({ id, approved: true, userId, ...(tags === undefined ? {} : { tags }) });
  }
  async deny(id: string): Promise<void> {
    this.pending.delete(id);
    this.decided.push({ id, approved: false });
  }
}

/** The policy in force as the map side would hold it: recompiled when the API says it changed. */
class StoredPolicy implements PolicyAccess {
  #current: CompiledPolicy | null = null;
  constructor(readonly store: Store) {}
  compile = compilePolicy;
  current(): CompiledPolicy {
    if (this.#current === null) throw new Error("policy not loaded");
    return this.#current;
  }
  async reload(): Promise<void> {
    const text = (await this.store.getPolicy())?.text ?? DEFAULT_POLICY;
    const users = (await this.store.listUsers()).map((u) => ({
      id: u.id,
      email: u.email,
      role: u.role,
    }));
    const result = compilePolicy(text, users);
    if (!result.ok) throw new Error(`stored policy does not compile: ${result.errors[0]?.message}`);
    this.#current = result.policy;
  }
}

/** A running API. */
export interface Harness {
  store: Store;
  app: Hono<ApiEnv>;
  baseUrl: string;
  origin: string;
  /** The fake clock (unix ms): move it forward with `clock.now += ms`. */
  clock: { now: number };
  calls: MeshCall[];
  approvals: TestApprovals;
  /** Path of the SQLite file (and its -wal beside it). */
  dbPath: string;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  /** Signs in as the owner through a fresh owner link. */
  signInOwner(): Promise<Browser>;
  /** Consumes an invitation URL's token as a new browser. */
  acceptInvite(url: string, name?: string): Promise<Browser>;
  close(): Promise<void>;
}

/** Options of startHarness. */
export interface HarnessOptions {
  /** Keep the database in memory (the fuzz: speed over the files the key tests search). */
  inMemory?: boolean;
  loginRateLimit?: RateLimitOptions;
  oidc?: (baseUrl: string) => Promise<OidcLogin>;
  /** The map side's live node state (default: every node offline). */
  presence?: ApiDeps["presence"];
  /** Other origins accepted as the server's own (`corridor serve` on loopback: corridor.localhost). */
  browserOrigins?: string[];
}

/** Starts an API on 127.0.0.1 with a store in a fresh temp folder. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "corridor-api-test-"));
  const dbPath = join(dir, "control.db");
  const clock = { now: Date.UTC(2026, 0, 1) };
  const store = await openStore(options.inMemory === true ? "sqlite::memory:" : dbPath, {
    now: () => clock.now,
  });
  const calls: MeshCall[] = [];
  const policy = new StoredPolicy(store);
  await policy.reload();
  const meshChanges: MeshChanges = {
    nodeChanged: async (id) => void calls.push(["nodeChanged", id]),
    nodeRemoved: async (id) => void calls.push(["nodeRemoved", id]),
    userChanged: async (id) => {
      calls.push(["userChanged", id]);
      await policy.reload();
    },
    userSignedOut: async (id) => void calls.push(["userSignedOut", id]),
    policyChanged: async () => {
      calls.push(["policyChanged"]);
      await policy.reload();
    },
  };
  const approvals = new TestApprovals();
  let listener: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  const server = createServer((req, res) => void listener?.(req, res));
  const port = await listenOnLoopback(server);
  const baseUrl = `http://127.0.0.1:${port}/`;
  const origin = `http://127.0.0.1:${port}`;
  const app = createApi({
    store,
    meshChanges,
    approvals,
    policy,
    baseUrl,
    now: () => clock.now,
    ...(options.loginRateLimit === undefined ? {} : { loginRateLimit: options.loginRateLimit }),
    ...(options.oidc === undefined ? {} : { oidc: await options.oidc(baseUrl) }),
    ...(options.presence === undefined ? {} : { presence: options.presence }),
    ...(options.browserOrigins === undefined ? {} : { browserOrigins: options.browserOrigins }),
  });
  listener = createApiListener(app);

  const call = async (method: string, path: string, o: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.cookie !== undefined) headers.cookie = o.cookie;
    if (o.csrf !== undefined) headers["x-corridor-csrf"] = o.csrf;
    if (o.bearer !== undefined) headers.authorization = `Bearer ${o.bearer}`;
    const originHeader =
      o.origin === undefined ? (o.cookie !== undefined ? origin : null) : o.origin;
    if (originHeader !== null) headers.origin = originHeader;
    let body: string | undefined;
    if (o.raw !== undefined) {
      body = o.raw;
      headers["content-type"] = o.contentType ?? "application/json";
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] = o.contentType ?? "application/json";
    }
    const res = await fetch(new URL(path, baseUrl), { method, headers, body, redirect: "manual" });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  const consume = async (url: string, name?: string): Promise<Browser> => {
    const token = new URL(url).hash.slice(1);
    const reply = await call("POST", "/api/v1/login/link", {
      body: name === undefined ? { token } : { token, name },
      origin,
    });
    if (reply.status !== 200) throw new Error(`sign-in failed: ${reply.status} ${reply.text}`);
    const cookie = (reply.headers.get("set-cookie") ?? "").split(";")[0]!;
    return { cookie, csrf: reply.json.csrf, userId: reply.json.user.id };
  };

  return {
    store,
    app,
    baseUrl,
    origin,
    clock,
    calls,
    approvals,
    dbPath,
    call,
    signInOwner: async () => consume(await createOwnerLink(store, baseUrl, clock.now)),
    acceptInvite: consume,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
