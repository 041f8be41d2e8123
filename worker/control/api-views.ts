// The JSON bodies of the control server's HTTP API (/api/v1/...) for stored records: what
// server/control/api/ builds and what the page's admin views (web/admin/) read. Written once
// here, under worker/control/ with the map stream's types, because both sides may import from
// worker/ while the page must never import server code. Plain data: never a hash, never a
// secret; times are unix milliseconds.

/** A user's rights: owner (the first user, all rights), admin (nodes, keys, policy), member. */
export type UserRole = "owner" | "admin" | "member";

/** A user as the API shows it. */
export interface UserView {
  id: number;
  name: string;
  email: string;
  role: UserRole;
  /** OIDC issuer URL, or "corridor:local" for the owner and invited users without a provider. */
  issuer: string;
  createdAt: number;
  lastLoginAt: number | null;
}

/** A node as the API shows it. */
export interface NodeView {
  id: number;
  /** The node's WireGuard public key (base64). */
  key: string;
  name: string;
  hostname: string;
  os: string;
  /** Its mesh addresses: IPv4, then IPv6. */
  addresses: string[];
  /** The owning user, or null for a tagged node. */
  userId: number | null;
  tags: string[];
  ephemeral: boolean;
  keyExpiry: number | null;
  /** The local users the node's SSH server can be (its SSH rules are narrowed to them); null: any. */
  sshUsers: string[] | null;
  createdAt: number;
  lastSeen: number | null;
}

/** A node in GET /api/v1/nodes: online and a fresher lastSeen come from the map side's memory. */
export interface NodeListEntry extends NodeView {
  online: boolean;
}

/** An auth key as lists show it: the prefix, never the key. */
export interface AuthKeyView {
  id: number;
  /** First characters of the key ("cak_3f9a…"). */
  prefix: string;
  /** Who made it: nodes registered with it belong to this user unless the key carries tags. */
  userId: number;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  expiresAt: number;
  revokedAt: number | null;
  usedCount: number;
  createdAt: number;
}

/** An API key as lists show it: the prefix, never the key. */
export interface ApiKeyView {
  id: number;
  prefix: string;
  userId: number;
  expiresAt: number;
  revokedAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
}

/** An audit log entry as the API shows it (the stored record as is: it holds no secret). */
export interface AuditView {
  /** Increasing: newer entries have larger ids (the list's cursor). */
  id: number;
  at: number;
  /** The acting user, or null when nobody signed in acted. */
  actorId: number | null;
  /** The actor as people read it then: the user's email (or name when it has none). */
  actor: string;
  /** How the actor proved who they are: "session", "apikey", "link", "oidc". */
  via: string;
  /** What was done, "thing.verb": "node.rename", "authkey.create", "login", ... */
  action: string;
  /** What it was done to ("node 7 web-01"); "" when the action names it already. */
  target: string;
  /** More about it in words ("web-01 -> db-01"); "" when nothing. */
  detail: string;
  /** The address the request came from. */
  source: string;
}

/** Where a policy document is wrong (1-based line and column), and what. */
export interface PolicyProblem {
  line: number;
  column: number;
  /** JSON path of the offending value ("acls[2].dst[0]"), "" for syntax errors. */
  path: string;
  message: string;
}

/** GET /api/v1/nodes: the nodes the caller may manage. */
export interface NodeListBody {
  nodes: NodeListEntry[];
}

/** PATCH /api/v1/nodes/:id, POST /api/v1/nodes/:id/expire: the node as changed. */
export interface NodeBody {
  node: NodeView;
}

/** GET /api/v1/users. */
export interface UserListBody {
  users: UserView[];
}

/** PATCH /api/v1/users/:id: the user as changed. */
export interface UserBody {
  user: UserView;
}

/** GET /api/v1/authkeys. */
export interface AuthKeyListBody {
  authKeys: AuthKeyView[];
}

/** POST /api/v1/authkeys: the key itself, shown this once, and its list entry. */
export interface AuthKeyCreatedBody {
  key: string;
  authKey: AuthKeyView;
}

/** GET /api/v1/apikeys. */
export interface ApiKeyListBody {
  apiKeys: ApiKeyView[];
}

/** POST /api/v1/apikeys: the key itself, shown this once, and its list entry. */
export interface ApiKeyCreatedBody {
  key: string;
  apiKey: ApiKeyView;
}

/** GET /api/v1/audit: a page, newest first; `next` is the cursor of the older page (null: last). */
export interface AuditPageBody {
  entries: AuditView[];
  next: number | null;
}

/** GET /api/v1/policy: the stored document, or the default one (version 0) when none is set. */
export interface PolicyBody {
  text: string;
  version: number;
  /** True when no policy was ever set and `text` is the default in force. */
  default: boolean;
  updatedAt: number | null;
  /** The user who stored it. */
  updatedBy: number | null;
}

/** POST /api/v1/policy/test: whether the candidate compiles, and its errors when not. */
export interface PolicyTestBody {
  ok: boolean;
  errors: PolicyProblem[];
}

/** PUT /api/v1/policy: the version now stored. */
export interface PolicySetBody {
  version: number;
  updatedAt: number;
}

/** Who may accept a share: anyone with the link, users of this deployment, listed emails. */
export type ShareAudience = "anyone" | "signed-in" | "emails";

/** Where a share stands now (`active` until revoked, expired or used up). */
export type ShareState = "active" | "revoked" | "expired" | "used-up";

/** One recipient's acceptance of a share, as its sharer sees it. */
export interface ShareAcceptanceView {
  id: number;
  /** The recipient's share node; null once it is removed. */
  nodeId: number | null;
  /** Its mesh name while it exists. */
  nodeName: string | null;
  /** The signed-in recipient, null for a guest. */
  userId: number | null;
  /** How the recipient is shown ("Guest 3", or the user's name). */
  name: string;
  userAgent: string;
  acceptedAt: number;
  endedAt: number | null;
  endReason: "revoked" | "expired" | "left" | null;
  /** Its share node's map stream is up now (the recipient has the share open). */
  online: boolean;
}

/** A share as its sharer (or an admin) sees it. The secret is never in it. */
export interface ShareView {
  id: string;
  /** The shared device and its mesh name ("" when it was removed). */
  nodeId: number;
  nodeName: string;
  createdBy: number;
  /** Local users offered over SSH ([] = no SSH). */
  sshUsers: string[];
  /** TCP ports offered, sorted. */
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
  state: ShareState;
  acceptances: ShareAcceptanceView[];
}

/** What a share link offers, as the recipient's page shows it before accepting. */
export interface ShareOffer {
  id: string;
  /** The shared device: its mesh name and operating system. */
  device: { name: string; os: string };
  /** Who shared it (their name, else email). */
  sharedBy: string;
  sshUsers: string[];
  ports: number[];
  audience: ShareAudience;
  expiresAt: number;
  /** Acceptances left; null: any number until expiry. */
  usesLeft: number | null;
  note: string;
}

/** POST /api/v1/shares: the share, and its URL (`<baseUrl>/s/<id>#<secret>`), shown once. */
export interface ShareCreatedBody {
  url: string;
  share: ShareView;
}

/** GET /api/v1/shares */
export interface ShareListBody {
  shares: ShareView[];
}

/** POST /api/v1/shares/:id/accept: the recipient's share node and what it reaches. */
export interface ShareAcceptedBody {
  acceptanceId: number;
  node: { id: number; name: string; addresses: string[] };
  /** The shared device's mesh name. */
  device: string;
  /** When the share ends (its node is removed then). */
  expiresAt: number;
}
