// How the parts of the control server that change durable state (the HTTP API, sign-in,
// expiry jobs) tell the map side (state/, mapper/, stream.ts) what changed, so it can send
// deltas to exactly the nodes concerned. The write happens first, in the store's transaction;
// the notification after it committed. Implemented by the mapper; called by api/ and auth/.

/** How a removed node's stream is refused (default: "node_removed", removed by an admin). */
export interface NodeRefusal {
  code: string;
  message: string;
}

/** What the map side must hear about after a committed change. */
export interface MeshChanges {
  /** A node's durable fields changed (name, tags, key, key expiry, owner, SSH host keys). */
  nodeChanged(nodeId: number): Promise<void>;
  /**
   * A node was removed (its stream is closed with `refused` "node_removed", or `refusal`: a
   * share node's says share_revoked / share_expired).
   */
  nodeRemoved(nodeId: number, refusal?: NodeRefusal): Promise<void>;
  /**
   * A user was created or changed (role, email: groups and autogroups may match anew), or
   * signed in (the maps' UserRef.signedInAt, which SSH `check` rules read).
   */
  userChanged(userId: number): Promise<void>;
  /** A user's web sessions ended (sign-out): their ephemeral browser nodes go at once. */
  userSignedOut(userId: number): Promise<void>;
  /** The policy was replaced (already validated and stored). */
  policyChanged(): Promise<void>;
  /**
   * A share or an acceptance was created, revoked, ended or expired (shares/service.ts): the
   * share overlay is read again. Optional only so that fakes of the other calls need not grow.
   */
  sharesChanged?(): Promise<void>;
}

/** An agent waiting for a person's approval (it connected with no auth key). */
export interface PendingApproval {
  /** Random id: the approval URL is `<server>/approve/<id>`. */
  id: string;
  nodeKey: string;
  hostname: string;
  os: string;
  requestedTags: string[];
  createdAt: number;
  expiresAt: number;
}

/** Approvals, held in memory by the map side while the agent's stream waits. */
export interface Approvals {
  /** The pending request, or null when unknown or expired. */
  get(id: string): PendingApproval | null;
  /**
   * Approves as `userId` (the node belongs to that user, or to `tags` when given and allowed):
   * registers the node and lets its stream continue with a full map. Throws with a sentence
   * when the request is gone or the tags are not allowed.
   */
  approve(id: string, userId: number, tags?: string[]): Promise<void>;
  /** Refuses: the agent's stream ends with `refused` "approval_denied". */
  deny(id: string): Promise<void>;
}
