// A tab's way into its SSH session: open a new one, or attach to a live session the engine kept
// (the page was reloaded, or came back from the back-forward cache) with its scrollback
// replayed; and learning the host's name from the engine's record of the session.

import { proxy } from "comlink";
import type { LiveSession, SessionRequest, SessionUi } from "../../worker/api.ts";
import type { Engine } from "../engine.ts";
import type { TermHandle } from "./handle.ts";

/** What openOrAttach needs of the tab. */
export interface OpenOrAttach {
  engine: Engine;
  /** A live session's id to attach to; undefined opens `request` as a new session. */
  attachId: string | undefined;
  request: SessionRequest;
  ui: SessionUi;
  /** The engine's end of the session's MessageChannel, already marked for transfer. */
  port: MessagePort;
  term: TermHandle;
  /** Sends the terminal's size on the tab's end of the channel. */
  resize(cols: number, rows: number): void;
  /** Whether the attempt is still the tab's current one. */
  current(): boolean;
  /** The engine knows the host's name: label the tab with it. */
  learnNames(live: LiveSession): void;
}

/** Opens the session, or attaches to the live one; resolves with the engine's session id. */
export function openOrAttach(a: OpenOrAttach): Promise<string> {
  if (a.attachId === undefined) return a.engine.openSession(a.request, proxy(a.ui), a.port);
  // A session the engine kept (this page was reloaded): its scrollback is replayed into a
  // clean terminal, at this page's size.
  a.term.write("\x1bc");
  a.resize(a.term.cols, a.term.rows);
  return a.engine.attachSession(a.attachId, proxy(a.ui), a.port).then((live) => {
    if (a.current()) a.learnNames(live);
    return live.id;
  });
}

/** Looks up a newly opened session in the engine's list, for the host's name it knows. */
export function learnNamesOf(
  engine: Engine,
  id: string,
  current: () => boolean,
  learnNames: (live: LiveSession) => void,
): void {
  void engine
    .listSessions()
    .then((list) => {
      const live = list.find((s) => s.id === id);
      if (live && current()) learnNames(live);
    })
    .catch(() => undefined);
}
