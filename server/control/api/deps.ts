// What the HTTP API needs from the rest of the control server, and the per-request values its
// routes share (hono's Variables). One place, so every route file sees the same shapes.

import type { HttpBindings } from "@hono/node-server";
import type { OidcLogin } from "../auth/oidc.ts";
import type { RateLimitOptions } from "../auth/rate-limit.ts";
import type { Approvals, MeshChanges } from "../changes.ts";
import type { CompiledPolicy, CompileResult, PolicyUser } from "../policy/types.ts";
import type { ApiKeyRecord, SessionRecord, Store, UserRecord } from "../store/types.ts";

/** The policy engine as the API uses it. */
export interface PolicyAccess {
  /** Compiles a candidate document against these users (errors carry line and column). */
  compile(text: string, users: PolicyUser[]): CompileResult;
  /** The policy in force now (the default one when none was set): for tag permissions. */
  current(): CompiledPolicy;
}

/** Everything createApi needs. */
export interface ApiDeps {
  store: Store;
  /** Told about every committed change, after the commit. */
  meshChanges: MeshChanges;
  approvals: Approvals;
  policy: PolicyAccess;
  /** The server's own URL as browsers reach it ("https://corridor.example.com/"): its origin
   * is the only Origin accepted on state-changing calls, and https turns on `__Host-`. */
  baseUrl: string;
  /** Other origins browsers reach this server at, accepted as its own (`corridor serve` on
   * loopback: `http://corridor.localhost:PORT`, where private URLs need the page). */
  browserOrigins?: string[];
  /** `corridor serve --apps-domain`: where private URLs live beside the page (told to the page
   * by GET /api/v1/login/methods; `*.corridor.localhost` needs no telling). */
  appsDomain?: string;
  /** Sign-in through an OpenID Provider, when configured. */
  oidc?: OidcLogin;
  /** Clock (unix ms); Date.now by default. Tests pass a fake one. */
  now?: () => number;
  /** Per-address limit of the sign-in routes (default: burst 10, one more every 6 s). */
  loginRateLimit?: RateLimitOptions;
  /** Where unexpected errors go (default: console.error). */
  onInternalError?: (error: unknown) => void;
  /**
   * Whether a node's map stream is connected now, and when it was last seen (memory, not the
   * store: server/control/state/volatile.ts). Without it node lists say offline.
   */
  presence?: (nodeId: number) => NodePresence;
}

/** A node's live state as the node lists show it. */
export interface NodePresence {
  online: boolean;
  lastSeen: number | null;
}

/** How the caller of a request proved who they are. */
export type Caller =
  | { via: "session"; user: UserRecord; session: SessionRecord }
  | { via: "apikey"; user: UserRecord; key: ApiKeyRecord };

/** hono environment of the API: Node bindings, and the caller once authenticated. */
export interface ApiEnv {
  Bindings: Partial<HttpBindings>;
  Variables: { caller: Caller };
}

/** ApiDeps with the defaults filled in, as route files receive them. */
export interface ApiContext {
  store: Store;
  meshChanges: MeshChanges;
  approvals: Approvals;
  policy: PolicyAccess;
  /** The server's origin ("http://127.0.0.1:8080"). */
  origin: string;
  /** Every Origin accepted as the server's own: `origin` and ApiDeps.browserOrigins. */
  origins: ReadonlySet<string>;
  /** ApiDeps.appsDomain, or null. */
  appsDomain: string | null;
  baseUrl: string;
  /** Served over https: `__Host-` cookies with Secure (and at corridor.localhost over http:
   * auth/sessions.ts secureCookieFor decides per request). */
  secure: boolean;
  oidc: OidcLogin | null;
  now: () => number;
  presence: (nodeId: number) => NodePresence;
}
