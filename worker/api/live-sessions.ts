// The engine's API, live sessions (issue 15): one engine per browser, sessions that outlive a
// page and are attached again after a reload (part of EngineApi, re-exported by worker/api.ts).

import type { SessionState, SessionUi } from "./sessions.ts";

/**
 * Output bytes the engine keeps of every live session (its scrollback), replayed to a page
 * that attaches later (after a reload). Older output is dropped.
 */
export const SCROLLBACK_BYTES = 1 << 20;

/** A terminal session the engine holds, whichever page opened it. */
export interface LiveSession {
  id: string;
  networkId: string;
  /** The network's name ("mesh" for the mesh). */
  networkName: string;
  /** What the session connected to: an address, or a mesh name. */
  host: string;
  /** The name the person knows the host by (the network's host name), else `host`. */
  hostName: string;
  port: number;
  username: string;
  state: SessionState;
  /** When it connected (ms since the epoch). */
  startedAt: number;
  /** A page's port receives its output now; a page re-attaches only unattached sessions. */
  attached: boolean;
}

/**
 * Messages on a session's port besides TerminalMessage. Page → engine: "hello" (first, the
 * page's id: the page holds the Web Lock `corridor-page-<id>` while it lives, so the engine can
 * tell a crashed page's sessions from held ones) and "detach" (the page is going away: the
 * session lives on, its output kept in the scrollback only). Engine → page: "taken" (another
 * page attached the session; the engine closes this port after it).
 */
export type LiveSessionMessage =
  | { type: "hello"; page: string }
  | { type: "detach" }
  | { type: "taken" };

/** The Web Lock a page holds while it lives, named by its id ("hello"). */
export const PAGE_LOCK_PREFIX = "corridor-page-";

/** The live-session calls of EngineApi. */
export interface LiveSessionsApi {
  /** Sessions the engine holds that have not ended, oldest first. */
  listSessions(): Promise<LiveSession[]>;
  /**
   * Attaches a page to a live session: the scrollback is replayed on `port`, then live output
   * follows; input, resizes and acks are taken from `port`. The port attached before is sent
   * "taken" and closed, and `ui` replaces the previous page's for the session's callbacks.
   * Rejects when the session ended (or the engine restarted since).
   */
  attachSession(id: string, ui: SessionUi, port: MessagePort): Promise<LiveSession>;
}
