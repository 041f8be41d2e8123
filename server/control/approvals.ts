// Agents waiting for a person: an agent that connects with no auth key and no session is told
// `waiting {approvalUrl}`; a signed-in user opens the URL (the API's page) and approves or
// denies. Requests live in memory, tied to the agent's open stream: when the stream ends or the
// request expires, the request is gone (the agent reconnects and gets a new one). With several
// control servers the person's browser may reach another server than the agent's stream: the
// desk then tells the others what it opens and closes, and hands a request it does not hold to
// the server that does (`ApprovalsElsewhere`, cluster/approval-board.ts).

import { randomBytes } from "node:crypto";
import type { Approvals, PendingApproval } from "./changes.ts";
import type { Clock } from "./state/clock.ts";

/** How long a request waits for a person: 15 minutes. */
export const APPROVAL_TTL_MS = 15 * 60 * 1000;

/** What the agent asked for. */
export type ApprovalRequest = Pick<
  PendingApproval,
  "nodeKey" | "hostname" | "os" | "requestedTags"
>;

/** What the waiting stream does with the decision. */
export interface ApprovalHandler {
  /** Registers the node for `userId` (or `tags`); throws a sentence when that is not allowed. */
  approve(userId: number, tags: string[] | undefined): Promise<void>;
  /** Ends the stream with `refused` "approval_denied". */
  deny(): void;
}

/** Requests held by the other control servers, and how to tell them of this desk's. */
export interface ApprovalsElsewhere {
  /** Another server's pending request, or null. */
  get(id: string): PendingApproval | null;
  /** Has the server holding it approve it; throws a sentence as the desk's approve does. */
  approve(id: string, userId: number, tags?: string[]): Promise<void>;
  /** Has the server holding it deny it. */
  deny(id: string): Promise<void>;
  /** This desk opened a request. */
  opened(pending: PendingApproval): void;
  /** This desk's request was decided or its stream ended. */
  closed(id: string): void;
}

interface Entry {
  request: PendingApproval;
  handler: ApprovalHandler;
}

/** The pending requests. */
export class ApprovalDesk implements Approvals {
  private readonly entries = new Map<string, Entry>();
  private readonly base: string;
  private elsewhere: ApprovalsElsewhere | undefined;

  /** `baseUrl`: the server's URL as browsers reach it ("https://corridor.example.com/"). */
  constructor(
    private readonly clock: Clock,
    baseUrl: string,
    private readonly ttlMs = APPROVAL_TTL_MS,
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
  }

  /** Opens a request; returns it and the URL a person must open. */
  open(
    request: ApprovalRequest,
    handler: ApprovalHandler,
  ): { pending: PendingApproval; url: string } {
    this.prune();
    const now = this.clock.now();
    const pending: PendingApproval = {
      ...request,
      requestedTags: [...request.requestedTags],
      id: randomBytes(16).toString("base64url"),
      createdAt: now,
      expiresAt: now + this.ttlMs,
    };
    this.entries.set(pending.id, { request: pending, handler });
    this.elsewhere?.opened(pending);
    return { pending, url: `${this.base}/approve/${pending.id}` };
  }

  /** Shares requests with the other control servers (set once the cluster member runs). */
  share(elsewhere: ApprovalsElsewhere | undefined): void {
    this.elsewhere = elsewhere;
  }

  /** The agent's stream ended: its request goes with it. */
  cancel(id: string): void {
    if (this.entries.delete(id)) this.elsewhere?.closed(id);
  }

  /** The requests this desk holds that are still waiting (announced to a server that asks). */
  held(): PendingApproval[] {
    this.prune();
    return [...this.entries.values()].map((e) => e.request);
  }

  /** Requests still waiting (for the admin views). */
  get size(): number {
    this.prune();
    return this.entries.size;
  }

  get(id: string): PendingApproval | null {
    return this.live(id)?.request ?? this.elsewhere?.get(id) ?? null;
  }

  async approve(id: string, userId: number, tags?: string[]): Promise<void> {
    if (this.live(id) === undefined && this.elsewhere?.get(id)) {
      return this.elsewhere.approve(id, userId, tags);
    }
    return this.decideHere(id, true, userId, tags);
  }

  async deny(id: string): Promise<void> {
    if (this.live(id) === undefined && this.elsewhere?.get(id)) return this.elsewhere.deny(id);
    return this.decideHere(id, false);
  }

  /**
   * Decides a request this desk holds (never one of another server's: the cluster's decisions
   * for this server arrive here). Throws a sentence when it is gone or the handler refuses.
   */
  async decideHere(id: string, approve: boolean, userId?: number, tags?: string[]): Promise<void> {
    const entry = this.live(id);
    if (entry === undefined) {
      throw new Error("this approval request is gone: it expired or the agent disconnected");
    }
    // Taken out first, so that two people approving at once register the node once; put back
    // when the handler refuses (tags not allowed) so the person can approve without them.
    this.entries.delete(id);
    if (!approve) {
      this.elsewhere?.closed(id);
      entry.handler.deny();
      return;
    }
    if (userId === undefined) {
      this.entries.set(id, entry);
      throw new Error("an approval names the approving user");
    }
    try {
      await entry.handler.approve(userId, tags);
    } catch (error) {
      this.entries.set(id, entry);
      throw error;
    }
    this.elsewhere?.closed(id);
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.request.expiresAt <= this.clock.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [id, entry] of this.entries)
      if (entry.request.expiresAt <= now) this.entries.delete(id);
  }
}
