// Approvals across control servers. An agent that joins without an auth key waits on the
// server holding its stream (approvals.ts, in memory: the request lives and dies with that
// stream); the person who approves it opens the approval URL through the load balancer and may
// reach any server. Each server therefore announces the requests it opens and closes on the
// corridor_approvals channel (approval-wire.ts), keeps a directory of the others', and hands a
// decision on one of theirs to its holder, which decides it as if the person had come to it
// and answers with the outcome (or the sentence that refused it: tags not allowed, gone). The
// API of the server the person reached writes the audit entry, as on one server.
//
// Like presence, nothing here is stored: a server that starts, or whose listener reconnects,
// says hello and every server announces what it holds. A request whose server went away is
// dropped when a decision on it finds no answer, or when it expires.

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ApprovalDesk, ApprovalsElsewhere } from "../approvals.ts";
import type { PendingApproval } from "../changes.ts";
import {
  type ApprovalMessage,
  decodeApprovalMessage,
  encodeApprovalMessage,
  wirePending,
} from "./approval-wire.ts";

/** The others' requests a server keeps at most (a flood of requests from elsewhere is cut). */
const MAX_REMOTE = 10_000;

/** What the board needs. */
export interface ApprovalBoardOptions {
  serverId: string;
  /** This server's desk (its requests, and where the others' decisions on them land). */
  desk: Pick<ApprovalDesk, "held" | "decideHere">;
  /** Sends a payload on the approvals channel. */
  send(payload: string): Promise<void>;
  now(): number;
  /** How long a decision waits for the holder's answer (default 15 s: a registration). */
  answerWithinMs?: number;
  log?: Logger;
}

interface Waiting {
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** The other servers' pending approvals, and the decisions sent to them. */
export class ApprovalBoard implements ApprovalsElsewhere {
  private readonly remote = new Map<string, { server: string; pending: PendingApproval }>();
  private readonly waiting = new Map<string, Waiting>();
  /** Notifications that were not approval messages. */
  malformed = 0;
  private saying: Promise<void> = Promise.resolve();

  constructor(private readonly options: ApprovalBoardOptions) {}

  /** Requests of other servers known now. */
  get size(): number {
    return this.remote.size;
  }

  get(id: string): PendingApproval | null {
    const entry = this.remote.get(id);
    if (entry === undefined) return null;
    if (entry.pending.expiresAt <= this.options.now()) {
      this.remote.delete(id);
      return null;
    }
    return wirePending(entry.pending);
  }

  approve(id: string, userId: number, tags?: string[]): Promise<void> {
    return this.decide(id, true, userId, tags);
  }

  deny(id: string): Promise<void> {
    return this.decide(id, false);
  }

  opened(pending: PendingApproval): void {
    this.say({ t: "open", s: this.options.serverId, a: wirePending(pending) });
  }

  closed(id: string): void {
    this.say({ t: "close", s: this.options.serverId, id });
  }

  /** The listener (re)connected: asks every server for the requests it holds. */
  rejoined(): void {
    this.say({ t: "hello", s: this.options.serverId });
  }

  /** A payload from the approvals channel. */
  received(payload: string): void {
    const message = decodeApprovalMessage(payload);
    if (message === null) {
      this.malformed++;
      return;
    }
    const self = this.options.serverId;
    if (message.s === self) return;
    switch (message.t) {
      case "open":
        this.learn(message.s, message.a);
        return;
      case "close":
        if (this.remote.get(message.id)?.server === message.s) this.remote.delete(message.id);
        return;
      case "hello":
        for (const pending of this.options.desk.held()) this.opened(pending);
        return;
      case "decide":
        if (message.to === self) void this.decideForOther(message);
        return;
      case "result": {
        if (message.to !== self) return;
        const waiting = this.waiting.get(message.r);
        if (waiting === undefined) return; // answered after its wait ended
        this.waiting.delete(message.r);
        clearTimeout(waiting.timer);
        if (message.error === undefined) waiting.resolve();
        else waiting.reject(new Error(message.error));
        return;
      }
    }
  }

  /** Ends every wait (the server is closing). */
  close(): void {
    for (const [r, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new Error("this control server is shutting down: try again"));
      this.waiting.delete(r);
    }
  }

  private learn(server: string, pending: PendingApproval): void {
    if (!this.remote.has(pending.id) && this.remote.size >= MAX_REMOTE) {
      const now = this.options.now();
      for (const [id, entry] of this.remote) {
        if (entry.pending.expiresAt <= now) this.remote.delete(id);
      }
      if (this.remote.size >= MAX_REMOTE) return;
    }
    this.remote.set(pending.id, { server, pending });
  }

  private async decide(
    id: string,
    approve: boolean,
    userId?: number,
    tags?: string[],
  ): Promise<void> {
    const entry = this.remote.get(id);
    if (entry === undefined || this.get(id) === null) {
      throw new Error("this approval request is gone: it expired or the agent disconnected");
    }
    const r = randomBytes(12).toString("base64url");
    const payload = encodeApprovalMessage({
      t: "decide",
      s: this.options.serverId,
      to: entry.server,
      r,
      id,
      approve,
      ...(userId === undefined ? {} : { user: userId }),
      ...(tags === undefined ? {} : { tags }),
    });
    if (payload === null) throw new Error("this decision is too large to send: use fewer tags");
    const waitMs = this.options.answerWithinMs ?? 15_000;
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(r);
        // Its server is gone or cut off: the agent will reconnect and ask again.
        if (this.remote.get(id)?.server === entry.server) this.remote.delete(id);
        reject(
          new Error(
            `the control server holding this request did not answer within ${Math.round(waitMs / 1000)} s: whether it was decided is not known (an agent still waiting asks again when it reconnects)`,
          ),
        );
      }, waitMs);
      timer.unref();
      this.waiting.set(r, { resolve, reject, timer });
    });
    // The send is not awaited on its own: a database that never answers ends at the wait above,
    // and a send that fails ends it at once with its error.
    this.options.send(payload).catch((error: unknown) => {
      const waiting = this.waiting.get(r);
      if (waiting === undefined) return;
      this.waiting.delete(r);
      clearTimeout(waiting.timer);
      waiting.reject(new Error(`the decision could not be passed on: ${(error as Error).message}`));
    });
    await answered;
  }

  private async decideForOther(message: ApprovalMessage & { t: "decide" }): Promise<void> {
    let error: string | undefined;
    try {
      await this.options.desk.decideHere(message.id, message.approve, message.user, message.tags);
    } catch (e) {
      error = (e as Error).message.slice(0, 1024);
    }
    this.say({ t: "result", s: this.options.serverId, to: message.s, r: message.r, error });
  }

  private say(message: ApprovalMessage): void {
    const payload = encodeApprovalMessage(message);
    if (payload === null) {
      this.options.log?.warn({ t: message.t }, "cluster: approval message too large, not sent");
      return;
    }
    // One after another: an "open" must not be overtaken by its "close" (notifications sent on
    // different pool connections at once may commit in either order).
    this.saying = this.saying
      .then(() => this.options.send(payload))
      .catch((error: unknown) => {
        this.options.log?.warn(
          { err: String(error), t: message.t },
          "cluster: approval message not sent",
        );
      });
  }
}
