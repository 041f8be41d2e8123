// Map sessions: what a reconnecting node names in `resume: {session, seq}`. A session's
// sequence numbers count its own messages (1 for the full map, then +1 per delta), so a client
// sees a gapless series; each remembers which global change sequence (change-log.ts) it
// covered, for the most recent `window` messages. One session per node (the newest stream of
// a node wins), so the table never holds more entries than there are nodes.

import { randomBytes } from "node:crypto";

/** One node's current map session. */
export interface MapSession {
  /** Random id sent in the map message (base64url, 16 bytes). */
  readonly id: string;
  readonly nodeId: number;
  /** Sequence number of the last message sent in this session. */
  seq: number;
  /** Global sequence covered by each recent session sequence number. */
  readonly covered: Map<number, number>;
}

/** What a successful resume gives back. */
export interface Resumed {
  session: MapSession;
  /** The global change sequence the client's state reflects. */
  globalSeq: number;
}

/** Recent messages a session remembers: a client further behind gets a full map. */
export const DEFAULT_SESSION_WINDOW = 64;

/** The sessions of every node. */
export class SessionTable {
  private readonly byNode = new Map<number, MapSession>();

  constructor(private readonly window = DEFAULT_SESSION_WINDOW) {}

  /** Starts a new session for a node's full map at `globalSeq` (replaces its previous one). */
  open(nodeId: number, globalSeq: number): MapSession {
    const session: MapSession = {
      id: randomBytes(16).toString("base64url"),
      nodeId,
      seq: 1,
      covered: new Map([[1, globalSeq]]),
    };
    this.byNode.set(nodeId, session);
    return session;
  }

  /** Records that the next message covers up to `globalSeq`; returns its sequence number. */
  sent(session: MapSession, globalSeq: number): number {
    const seq = ++session.seq;
    session.covered.set(seq, globalSeq);
    session.covered.delete(seq - this.window);
    return seq;
  }

  /**
   * Finds where a client left `sessionId` at `seq`. Null when the session is not this node's
   * current one, or `seq` is outside what it remembers. On success the session continues from
   * `seq`: the messages after it that the client never applied are forgotten.
   */
  resume(nodeId: number, sessionId: string, seq: number): Resumed | null {
    const session = this.byNode.get(nodeId);
    if (session === undefined || session.id !== sessionId) return null;
    if (!Number.isInteger(seq) || seq > session.seq) return null;
    const globalSeq = session.covered.get(seq);
    if (globalSeq === undefined) return null;
    for (let s = seq + 1; s <= session.seq; s++) session.covered.delete(s);
    session.seq = seq;
    return { session, globalSeq };
  }

  /**
   * The session a login's `resume` continues, or null (a full map is due). With `placeCursor`
   * (several control servers) a client's cursor names its place mesh-wide, whichever server
   * sent it: the session is adopted at that place, or null when the cursor cannot be placed;
   * `everyPatch` then says every peer's volatile facts must be sent again (they reached the
   * client in another server's order). Without a cursor: the session this server remembers.
   */
  resumeFrom(
    nodeId: number,
    resume: { session: string; seq: number; cursor?: string } | undefined,
    placeCursor?: (cursor: string) => number | null,
  ): { resumed: Resumed | null; everyPatch: boolean } {
    if (resume === undefined) return { resumed: null, everyPatch: false };
    if (placeCursor !== undefined && resume.cursor !== undefined) {
      const from = placeCursor(resume.cursor);
      if (from === null) return { resumed: null, everyPatch: false };
      this.adopt(nodeId, resume.session, resume.seq, from);
      return { resumed: this.resume(nodeId, resume.session, resume.seq), everyPatch: true };
    }
    return { resumed: this.resume(nodeId, resume.session, resume.seq), everyPatch: false };
  }

  /** The node's current session, if any. */
  of(nodeId: number): MapSession | undefined {
    return this.byNode.get(nodeId);
  }

  /** Every session (for the checkpoint a stopping server writes). */
  all(): IterableIterator<MapSession> {
    return this.byNode.values();
  }

  /**
   * Takes over a session from the previous run of the server (checkpoint.ts): it resumes only
   * from `seq`, the last message that run sent, which covered everything up to `globalSeq`.
   */
  adopt(nodeId: number, id: string, seq: number, globalSeq: number): void {
    this.byNode.set(nodeId, { id, nodeId, seq, covered: new Map([[seq, globalSeq]]) });
  }

  /** Forgets a removed node's session. */
  delete(nodeId: number): void {
    this.byNode.delete(nodeId);
  }
}
