// The control server's durable state: one schema, two adapters (sqlite.ts on better-sqlite3,
// postgres.ts on pg), the same Store interface. Volatile facts (online, endpoints, home relay,
// last seen while connected) live in memory (server/control/state/) and never cost one write
// per change. Secrets are stored only as SHA-256 hashes (auth keys, API keys, sessions, sign-in
// links); the server never sees a node's private key. Times are unix milliseconds.

import type { AuditView, AuthKeyView } from "../../../worker/control/api-views.ts";

/** A person who signed in. Keyed by (issuer, subject): emails change and can be reused. */
export interface UserRecord {
  id: number;
  /** OIDC issuer URL, or "corridor:local" for the owner and invited users without a provider. */
  issuer: string;
  subject: string;
  email: string;
  name: string;
  /** owner: the first user (all rights); admin: manages nodes, keys, policy; member. */
  role: "owner" | "admin" | "member";
  createdAt: number;
  /** Last completed sign-in (for SSH `check` rules). */
  lastLoginAt: number | null;
}

/** A node: a browser tab, an agent host. Identity = WireGuard public key. */
export interface NodeRecord {
  id: number;
  /** WireGuard public key (base64); unique. */
  nodeKey: string;
  /** Owner, or null when the node is tagged. */
  userId: number | null;
  /** Non-empty exactly when userId is null. */
  tags: string[];
  name: string;
  hostname: string;
  os: string;
  ipv4: string;
  ipv6: string;
  ephemeral: boolean;
  /** null: never expires. */
  keyExpiry: number | null;
  sshHostKeys: string[];
  /**
   * The local users the node's SSH server can log in as (Hostinfo.sshUsers: a non-root agent
   * reports its own user); null: any (a root agent, or a node without SSH server).
   */
  sshUsers: string[] | null;
  createdAt: number;
  /** Persisted when the map stream ends (not on every change). */
  lastSeen: number | null;
  /** The auth key it registered with, if any (for audit; revoking a key does not remove it). */
  authKeyId: number | null;
  /**
   * Set on a share node (the ephemeral node of a share's recipient): the acceptance it belongs
   * to. Such a node has no user and no tags; the mapper shows it the shared device only.
   */
  shareAcceptanceId: number | null;
}

/** Who may accept a share: anyone holding the link, users of this deployment, listed emails. */
export type ShareAudience = "anyone" | "signed-in" | "emails";

/** Why an acceptance ended. */
export type AcceptanceEndReason = "revoked" | "expired" | "left";

/**
 * A share link: one device offered to others (SSH as some local users, some TCP ports) until
 * it expires, is revoked or is used up. The URL is `<baseUrl>/s/<id>#<secret>`; only the
 * secret's SHA-256 is stored.
 */
export interface ShareRecord {
  /** Public id (16 random bytes, base64url: 22 characters). */
  id: string;
  /** SHA-256 of the fragment secret (hex). */
  secretHash: string;
  /** The shared device. Not a foreign key: a share outlives its device (then it offers nothing). */
  nodeId: number;
  /** The sharer. */
  createdBy: number;
  /** Local users offered over SSH ([] = no SSH). */
  sshUsers: string[];
  /** TCP ports offered, sorted, unique. */
  ports: number[];
  audience: ShareAudience;
  /** Lower case; non-empty exactly when audience is "emails". */
  emails: string[];
  expiresAt: number;
  /** null: any number of acceptances until expiry. */
  maxUses: number | null;
  uses: number;
  note: string;
  createdAt: number;
  revokedAt: number | null;
}

/** Fields a new share is created with (uses 0, createdAt by the store, not revoked). */
export type NewShare = Omit<ShareRecord, "uses" | "createdAt" | "revokedAt">;

/** One recipient's acceptance of a share, and its ephemeral share node. */
export interface ShareAcceptanceRecord {
  id: number;
  shareId: string;
  /**
   * The recipient's share node (the node whose shareAcceptanceId is this id); null once it is
   * removed. Derived from nodes, never stored twice.
   */
  nodeId: number | null;
  /** The signed-in recipient, null for a guest. */
  userId: number | null;
  /** How the recipient is shown ("Guest 3", or the user's name). */
  guestName: string;
  /** From the accept request, at most 256 characters. */
  userAgent: string;
  acceptedAt: number;
  endedAt: number | null;
  endReason: AcceptanceEndReason | null;
}

/** Fields a new acceptance is created with (open; its node is created after it). */
export type NewAcceptance = Omit<ShareAcceptanceRecord, "id" | "nodeId" | "endedAt" | "endReason">;

/** An open acceptance with its share (what the mapper's share overlay is built from). */
export interface OpenAcceptance {
  acceptance: ShareAcceptanceRecord;
  share: ShareRecord;
}

/** A pre-authorized key for agents. */
export interface AuthKeyRecord extends AuthKeyView {
  /** SHA-256 of the whole key (hex). */
  hash: string;
}

/** An API key for automation (`Authorization: Bearer`). */
export interface ApiKeyRecord {
  id: number;
  prefix: string;
  hash: string;
  userId: number;
  expiresAt: number;
  revokedAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
}

/** A web session (cookie value hashed). */
export interface SessionRecord {
  /** SHA-256 of the cookie value (hex). */
  hash: string;
  userId: number;
  /** Random token the page sends in a header on state-changing calls. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

/** A single-use sign-in link (owner link, invitation) or an agent's approval request. */
export interface LinkRecord {
  /** SHA-256 of the secret in the URL's fragment (hex). */
  hash: string;
  kind: "owner" | "invite";
  /** For invitations: the role given, and who invited. */
  role: "admin" | "member";
  createdBy: number | null;
  /** Invitation restricted to this email (""= anyone holding the link). */
  email: string;
  expiresAt: number;
  usedAt: number | null;
}

/** The policy document as the admin wrote it (comments kept) and its version. */
export interface PolicyRecord {
  text: string;
  version: number;
  updatedBy: number | null;
  updatedAt: number;
}

/** Settings chosen once at first start. */
export interface MeshSettings {
  /** The ULA /48 of this mesh ("fd12:3456:789a::/48"). */
  ipv6Prefix: string;
  /** "corridor.internal" unless set. */
  domain: string;
  /** The control server's Ed25519 private key that signs relay tokens (base64, 32 bytes). */
  tokenSigningKey: string;
  /** The control server's X25519 private key of the map stream's hello (base64, 32 bytes). */
  helloKey: string;
}

/**
 * One audit entry: a change made through the API (nodes, users, keys, invitations, policy,
 * approvals) or a sign-in / sign-out. Written in the transaction of the change it records.
 */
export type AuditRecord = AuditView;

/** Fields a new audit entry is written with (id chosen by the store). */
export type NewAudit = Omit<AuditRecord, "id">;

/**
 * Fields a new node is created with (id, createdAt chosen by the store; sshUsers and
 * shareAcceptanceId null if absent).
 */
export type NewNode = Omit<NodeRecord, "id" | "createdAt" | "sshUsers" | "shareAcceptanceId"> &
  Partial<Pick<NodeRecord, "sshUsers" | "shareAcceptanceId">>;

/** One store operation set; every method runs inside the transaction it was given. */
export interface StoreTx {
  // users
  userById(id: number): Promise<UserRecord | null>;
  userByIdentity(issuer: string, subject: string): Promise<UserRecord | null>;
  listUsers(): Promise<UserRecord[]>;
  createUser(user: Omit<UserRecord, "id" | "createdAt">): Promise<UserRecord>;
  updateUser(
    id: number,
    fields: Partial<Pick<UserRecord, "email" | "name" | "role" | "lastLoginAt">>,
  ): Promise<void>;

  // nodes
  nodeById(id: number): Promise<NodeRecord | null>;
  /** The nodes of `ids` that exist, by id, read in one statement (per 500 ids). */
  nodesByIds(ids: readonly number[]): Promise<Map<number, NodeRecord>>;
  nodeByKey(nodeKey: string): Promise<NodeRecord | null>;
  listNodes(): Promise<NodeRecord[]>;
  /** Throws StoreConflictError when the key, name or an address is taken. */
  createNode(node: NewNode): Promise<NodeRecord>;
  updateNode(
    id: number,
    fields: Partial<
      Pick<
        NodeRecord,
        | "nodeKey"
        | "name"
        | "hostname"
        | "os"
        | "tags"
        | "userId"
        | "keyExpiry"
        | "sshHostKeys"
        | "sshUsers"
        | "lastSeen"
      >
    >,
  ): Promise<void>;
  /**
   * Removes the node. A share node's open acceptance ends with reason "left" in the same call
   * (unless it ended before), so every path that removes nodes (ephemeral cleanup, the API)
   * keeps acceptances true.
   */
  deleteNode(id: number): Promise<void>;
  /**
   * `stem` when no node has that name, else `stem-N` with the lowest free N >= 2 (names.ts
   * makes a hostname's label unique with it). Index lookups: no read of every "stem-N".
   */
  nextNodeName(stem: string): Promise<string>;
  /**
   * A free IPv4 address in [first, last] (allocate.ts): the one after the highest taken, else
   * the lowest free one; null when every address is taken. An index lookup, not a scan.
   */
  freeIpv4(first: string, last: string): Promise<string | null>;

  // auth keys
  createAuthKey(
    key: Omit<AuthKeyRecord, "id" | "createdAt" | "usedCount" | "revokedAt">,
  ): Promise<AuthKeyRecord>;
  authKeyByHash(hash: string): Promise<AuthKeyRecord | null>;
  listAuthKeys(): Promise<AuthKeyRecord[]>;
  revokeAuthKey(id: number, at: number): Promise<boolean>;
  /**
   * Counts a use; false (and nothing changed) when a one-off key was used already or the key
   * is revoked. Atomic: of concurrent uses of a one-off key exactly one succeeds. Expiry is
   * the caller's to check (it holds the clock).
   */
  useAuthKey(id: number): Promise<boolean>;
  /**
   * useAuthKey as the transaction's last act (registration's): on PostgreSQL the use is sent
   * with COMMIT in one round trip, so the key's row, which every registration with that key
   * must lock, is locked only while the database commits, not across a round trip to this
   * process. A key it cannot use (revoked, a one-off key used) fails the commit (or, where
   * the use runs at once, this call) with StoreConflictError on "authKey", and nothing of the
   * transaction stays. Nothing may be written after it in the transaction. Outside a
   * transaction and on SQLite the use runs at once.
   */
  useAuthKeyAtCommit(id: number): Promise<void>;

  // API keys
  createApiKey(
    key: Omit<ApiKeyRecord, "id" | "createdAt" | "revokedAt" | "lastUsedAt">,
  ): Promise<ApiKeyRecord>;
  apiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: number, at: number): Promise<boolean>;
  touchApiKey(id: number, at: number): Promise<void>;

  // sessions
  createSession(session: SessionRecord): Promise<void>;
  sessionByHash(hash: string): Promise<SessionRecord | null>;
  deleteSession(hash: string): Promise<void>;
  deleteUserSessions(userId: number): Promise<void>;
  deleteExpiredSessions(now: number): Promise<number>;

  // sign-in links
  createLink(link: LinkRecord): Promise<void>;
  /** Marks the link used and returns it; null when unknown, used or expired (single use). */
  consumeLink(hash: string, now: number): Promise<LinkRecord | null>;

  // policy and settings
  getPolicy(): Promise<PolicyRecord | null>;
  /** Sets the policy; `expectVersion` guards against lost updates (StoreConflictError). */
  setPolicy(text: string, updatedBy: number | null, expectVersion?: number): Promise<PolicyRecord>;
  getSettings(): Promise<MeshSettings | null>;
  /** Stores settings once; returns the stored ones (another server may have won the race). */
  initSettings(settings: MeshSettings): Promise<MeshSettings>;

  // map checkpoint (server/control/checkpoint.ts)
  /** Stores the checkpoint a stopping server leaves (replacing any older one). */
  putMapCheckpoint(body: string): Promise<void>;
  /** Reads and deletes the checkpoint: it is good for one start only. Null when none. */
  takeMapCheckpoint(): Promise<string | null>;

  // shares (server/control/shares/)
  /** Throws StoreConflictError "id" when the id is taken, "createdBy" for an unknown user. */
  createShare(share: NewShare): Promise<ShareRecord>;
  shareById(id: string): Promise<ShareRecord | null>;
  /** Every share, or those `createdBy` made; newest first. */
  listShares(createdBy?: number): Promise<ShareRecord[]>;
  /** Marks it revoked; false when unknown or revoked already. */
  revokeShare(id: string, at: number): Promise<boolean>;
  /**
   * Counts one acceptance; false (nothing changed) when the share is unknown, revoked, expired
   * at `now` or used up. Atomic: of concurrent uses of a one-use share exactly one succeeds.
   */
  useShare(id: string, now: number): Promise<boolean>;
  /** Throws StoreConflictError "shareId" / "userId" for an unknown share or user. */
  createAcceptance(acceptance: NewAcceptance): Promise<ShareAcceptanceRecord>;
  acceptanceById(id: number): Promise<ShareAcceptanceRecord | null>;
  /** A share's acceptances, oldest first. */
  acceptancesOfShare(shareId: string): Promise<ShareAcceptanceRecord[]>;
  /** Ends an open acceptance; false when unknown or ended already (the first reason stays). */
  endAcceptance(id: number, at: number, reason: AcceptanceEndReason): Promise<boolean>;
  /** Every acceptance not ended, with its share, oldest first. */
  listOpenAcceptances(): Promise<OpenAcceptance[]>;

  // audit log (server/control/api/audit.ts)
  /** Appends one entry. */
  addAudit(entry: NewAudit): Promise<AuditRecord>;
  /** At most `limit` entries, newest first, only those with id < `before` when given. */
  listAudit(limit: number, before?: number): Promise<AuditRecord[]>;
}

/** A storage backend. */
export interface Store extends StoreTx {
  /** "sqlite" or "postgres". */
  readonly kind: "sqlite" | "postgres";
  /**
   * PostgreSQL: the URL the store connected with, for the connections several control servers
   * keep beside the pool (cluster/: LISTEN, the leader lock). Undefined on SQLite.
   */
  readonly connectionString?: string;
  /** Runs `work` in one transaction: all of it is written, or none (it rethrows). */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * One trivial round trip (`SELECT 1`): resolves when the database answers, rejects with the
   * driver's error when it does not. No timeout of its own: readiness (server/control/health.ts)
   * races it against one.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A uniqueness or version conflict: `field` names what collided. */
export class StoreConflictError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "StoreConflictError";
    this.field = field;
  }
}

/**
 * The database cannot be reached (PostgreSQL stopped, restarting, or the connection cut): the
 * call did nothing that lasts (a transaction it was in rolled back), and the same call may
 * work shortly. The API answers it 503 database_unavailable, the map stream with a close the
 * client retries.
 */
export class StoreUnavailableError extends Error {
  constructor(
    message = "the database cannot be reached: try again shortly",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}
