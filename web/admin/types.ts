// The control API's JSON shapes the admin views read (server/control/api/views.ts, audit.ts),
// written out here: the page never imports server code.

import type { ControlApi, WhoAmI } from "../control-api.ts";

/** What every admin section gets: the API client and who is signed in. */
export interface AdminDeps {
  api: Pick<ControlApi, "get" | "send">;
  me: WhoAmI;
}

/** A mounted section: its element, and stop() to end its timers when it leaves the screen. */
export interface AdminSectionView {
  element: HTMLElement;
  stop(): void;
}

/** GET /api/v1/nodes */
export interface AdminNode {
  id: number;
  key: string;
  name: string;
  hostname: string;
  os: string;
  addresses: string[];
  userId: number | null;
  tags: string[];
  ephemeral: boolean;
  keyExpiry: number | null;
  sshUsers: string[] | null;
  createdAt: number;
  lastSeen: number | null;
  /** Present on servers that know the map side's state. */
  online?: boolean;
}

/** GET /api/v1/users */
export interface AdminUser {
  id: number;
  name: string;
  email: string;
  role: "owner" | "admin" | "member";
  issuer: string;
  createdAt: number;
  lastLoginAt: number | null;
}

/** GET /api/v1/authkeys */
export interface AdminAuthKey {
  id: number;
  prefix: string;
  userId: number;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  expiresAt: number;
  revokedAt: number | null;
  usedCount: number;
  createdAt: number;
}

/** GET /api/v1/audit entries. */
export interface AuditEntry {
  id: number;
  at: number;
  actorId: number | null;
  actor: string;
  via: string;
  action: string;
  target: string;
  detail: string;
  source: string;
}

/** A policy error as POST /api/v1/policy/test gives it (1-based line and column). */
export interface PolicyProblem {
  line: number;
  column: number;
  path: string;
  message: string;
}
