// The engine's live terminal sessions, whichever page opened them. With the engine in a
// SharedWorker a session outlives the page: a reloaded page lists the sessions no page holds
// and attaches to them (scrollback replayed, then live output), and the new page's SessionUi
// takes over the session's callbacks (docs/page.md, "One engine per browser").

import type { LiveSession, SessionRequest, SessionState, SessionUi } from "../api.ts";

/**
 * How long a session no page holds is kept for a page to come back (a reload, or the person
 * reopening the page after closing its tab by mistake). Then it is closed: nobody sees it.
 */
export const DETACHED_SESSION_GRACE_MS = 15 * 60_000;

/** What the registry needs of a connected session (worker/engine/session.ts). */
export interface LiveHandle {
  close(): Promise<void>;
  readonly ended: Promise<void>;
  /** The page's callbacks now, and its state as last reported. */
  readonly ui: UiSwitch;
  /** Whether a page's port receives the output. */
  readonly attached: boolean;
  /** The id of the page attached (its "hello"), or null. */
  readonly pageId: string | null;
  /** No page holds the session any more (its page is gone). */
  detach(): void;
  /** A page's port and callbacks become the session's (scrollback replayed on the port). */
  attach(ui: SessionUi, port: MessagePort): void;
  /** Set by the registry: a page attached (true) or the last one left (false). */
  onAttachment: (attached: boolean) => void;
}

/** Names a session is listed with, so a page that never opened it can label its tab. */
export interface SessionNames {
  networkName: string;
  hostName: string;
}

/**
 * The SessionUi a session talks to: it forwards to the page that holds the session now. A
 * call to a page that went away would never answer (its comlink port is dead), so while no
 * page holds the session, questions are answered "no" and reports are dropped.
 */
export class UiSwitch {
  /** The state last reported, for listSessions. */
  state: SessionState = "connecting";
  /** What the session's callbacks reach: forwards to the current page's ui. */
  readonly ui: SessionUi;
  private current: SessionUi | null;

  constructor(ui: SessionUi) {
    this.current = ui;
    const page = () => this.current;
    const quietly = (result: unknown) => void Promise.resolve(result).catch(() => undefined);
    this.ui = {
      onState: (state, detail) => {
        this.state = state;
        quietly(page()?.onState(state, detail));
      },
      confirmHostKey: (prompt) => page()?.confirmHostKey(prompt) ?? Promise.resolve(false),
      askPassword: (prompt) => page()?.askPassword(prompt) ?? Promise.resolve(null),
      askInteractive: (name, instruction, prompts) =>
        page()?.askInteractive(name, instruction, prompts) ?? Promise.resolve(null),
      onBanner: (text) => quietly(page()?.onBanner(text)),
      askKeyPassphrase: (key, attempt) =>
        page()?.askKeyPassphrase?.(key, attempt) ?? Promise.resolve(null),
      onSignInRequired: (checkUrl, message) =>
        quietly(page()?.onSignInRequired?.(checkUrl, message)),
    };
  }

  /** The page whose callbacks the session reaches now; null while no page holds it. */
  replace(ui: SessionUi | null): void {
    this.current = ui;
  }
}

interface Entry {
  session: LiveHandle;
  info: Omit<LiveSession, "state" | "attached">;
  /** Closes the session once no page has held it for the grace period. */
  orphanTimer: ReturnType<typeof setTimeout> | undefined;
}

/** The engine's connected sessions by id. */
export class LiveSessionRegistry<S extends LiveHandle = LiveHandle> {
  private readonly entries = new Map<string, Entry & { session: S }>();

  constructor(private readonly graceMs = DETACHED_SESSION_GRACE_MS) {}

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get(id: string): S | undefined {
    return this.entries.get(id)?.session;
  }

  /** Registers a connected session until it ends. */
  add(id: string, session: S, request: SessionRequest, names: SessionNames): void {
    const entry = {
      session,
      info: {
        id,
        networkId: request.networkId,
        networkName: names.networkName,
        host: request.host,
        hostName: names.hostName || request.host,
        port: request.port,
        username: request.username,
        startedAt: Date.now(),
      },
      orphanTimer: undefined as ReturnType<typeof setTimeout> | undefined,
    };
    this.entries.set(id, entry);
    session.onAttachment = (attached) => {
      if (entry.orphanTimer !== undefined) clearTimeout(entry.orphanTimer);
      entry.orphanTimer = undefined;
      if (attached) return;
      session.ui.replace(null);
      entry.orphanTimer = setTimeout(
        () => void session.close().catch(() => undefined),
        this.graceMs,
      );
    };
    // The page may have left while the session was being registered.
    if (!session.attached) session.onAttachment(false);
    void session.ended.finally(() => this.delete(id));
  }

  delete(id: string): void {
    const entry = this.entries.get(id);
    if (entry?.orphanTimer !== undefined) clearTimeout(entry.orphanTimer);
    this.entries.delete(id);
  }

  /**
   * Detaches sessions whose page is gone without saying so (crashed or killed: no pagehide),
   * given the ids of the pages alive now (their Web Locks), so a next page can take them.
   */
  detachGone(alive: ReadonlySet<string>): void {
    for (const { session } of this.entries.values()) {
      const page = session.pageId;
      if (session.attached && page !== null && !alive.has(page)) session.detach();
    }
  }

  /** The sessions, oldest first. */
  list(): LiveSession[] {
    return [...this.entries.values()]
      .map((entry) => this.describe(entry))
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Gives session `id` to a page (the previous page is told it was taken). */
  attach(id: string, ui: SessionUi, port: MessagePort): LiveSession {
    const entry = this.entries.get(id);
    if (entry === undefined) {
      port.close();
      throw new Error(`no live session ${id}: it ended, or the engine restarted since`);
    }
    entry.session.attach(ui, port);
    return this.describe(entry);
  }

  private describe(entry: Entry): LiveSession {
    return {
      ...entry.info,
      state: entry.session.ui.state,
      attached: entry.session.attached,
    };
  }
}

/**
 * The names a session on a wg-quick network is listed with: the network's name, and the name
 * the person gave the host there (else the address).
 */
export function networkSessionNames(
  record: { name: string; hosts: readonly { address: string; name: string }[] },
  host: string,
): SessionNames {
  return {
    networkName: record.name,
    hostName: record.hosts.find((h) => h.address === host)?.name || host,
  };
}
