// One terminal tab: an xterm (loaded on first use) joined to an SSH session of the engine.
// Terminal bytes go over a MessagePort (TerminalMessage); the engine calls back through a
// comlink proxy of SessionUi for state changes, the host key decision and passwords.
//
// This file is the connection: the engine's session, its MessagePort and what arrives on it
// (onMessage: the xterm write and ack of "output"), the state machine, leave/rejoin. The tab's
// DOM around the terminal (bar, overlays, key bar, notices) is session-panel.ts, which shows
// what setState() decides; where a session goes and what it is called is session-labels.ts.

import { transfer } from "comlink";
import type {
  LiveSession,
  LiveSessionMessage,
  SessionRequest,
  SessionState,
  TerminalMessage,
} from "../../worker/api.ts";
import { errorText } from "../dom.ts";
import { type Engine, pageId } from "../engine.ts";
import { getSettings } from "../settings.ts";
import { confirmForgetHostKey } from "./forget-host-key.ts";
import { loadTerminal, type TermHandle } from "./handle.ts";
import { learnNamesOf, openOrAttach } from "./live-attach.ts";
import { type SessionLabels, type SessionTarget, sessionLabels } from "./session-labels.ts";
import { SessionPanel } from "./session-panel.ts";
import { signInUi } from "./sign-in-ui.ts";

/** Where a session goes and how its tab names it (session-labels.ts; importers use these). */
export type { SessionLabels, SessionTarget } from "./session-labels.ts";

const encoder = new TextEncoder();

/** How a tab's session begins: a new SSH session, or one the engine holds (after a reload). */
export interface SessionStart {
  /** A live session's id (engine.listSessions) to attach to instead of opening one. */
  attach?: string;
}

/** One terminal tab's SSH session: start() loads xterm and connects; dispose() ends it all. */
export class TerminalSession {
  readonly panel: HTMLElement;
  /** The tab's label: "user@host-name · network". */
  title: string;
  /** How the tab names the session (its label in parts, the tooltip's whole target). */
  labels: SessionLabels;
  state: SessionState = "connecting";
  detail = "";
  /** Called when state or detail changes (the tab strip redraws its dot). */
  onChange: () => void = () => undefined;
  /** A mesh host's `check` rule wants a fresh sign-in (SessionUi.onSignInRequired). */
  onSignInRequired: (checkUrl: string, message: string) => void = () => undefined;
  /**
   * Set for a mesh session: after the identity SSH server's refusal the closed panel offers
   * "Back to hosts" and "Other user" (this) instead of Reconnect.
   */
  onOtherUser: (() => void) | undefined = undefined;
  /** The last attempt was refused by the identity SSH server (SessionUi.onLoginRefused). */
  private loginRefused = false;
  /** Set by endedBy(): the session cannot come back. */
  private endedText: string | undefined;

  private readonly view: SessionPanel;
  private term: TermHandle | undefined;
  private port: MessagePort | undefined;
  private sessionId: string | undefined;
  private generation = 0;
  /** A live session to attach to at the first connect (then a reconnect opens a new one). */
  private attachId: string | undefined;
  /** The engine's session was handed on as the page went away (pagehide): rejoin on return. */
  private left = false;
  private dialogs = new AbortController();
  private disposed = false;

  constructor(
    private readonly engine: Engine,
    readonly target: SessionTarget,
    start: SessionStart = {},
  ) {
    this.attachId = start.attach;
    this.labels = sessionLabels(target);
    this.title = this.labels.label;
    this.view = new SessionPanel(
      {
        engine,
        target,
        labels: this.labels,
        term: () => this.term,
        sendText: (data) => this.sendText(data),
        filesSession: () => (this.state === "connected" ? this.sessionId : undefined),
      },
      this.title,
    );
    this.panel = this.view.element;
    this.renderState();
  }

  /** Loads the terminal and opens the session. */
  async start(): Promise<void> {
    this.setState("connecting", "Loading the terminal…");
    try {
      const create = await loadTerminal();
      if (this.disposed) return;
      const term = create(this.view.termBox, getSettings(), this.view.hooks);
      this.term = term;
      this.view.rendererBadge.follow(term);
      term.onData((data) => this.sendText(this.view.keyBar.transform(data)));
      term.onBinary((data) => this.sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
      term.onResize((cols, rows) => this.post({ type: "resize", cols, rows }));
      term.onSearchRequest(this.view.openSearch);
    } catch (error) {
      this.setState("closed", `The terminal did not load: ${errorText(error)}`);
      return;
    }
    this.connect();
  }

  /**
   * The way to the host is gone for good (a share revoked or expired): `text` goes into the
   * terminal, and the closed panel says it instead of offering Reconnect.
   */
  endedBy(text: string): void {
    this.endedText = text;
    this.notice(text);
    if (this.state === "closed") this.setState("closed", text);
  }

  /** Writes a line of the page's own into the terminal (in red), e.g. that access ended. */
  notice(text: string): void {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the page's text must not carry escapes
    this.term?.write(`\r\n\x1b[1;31m── ${text.replace(/[\x00-\x1f\x7f]/g, " ")} ──\x1b[0m\r\n`);
  }

  /** A new session with the same request, in the same terminal. */
  reconnect(): void {
    this.term?.write("\r\n\x1b[2m── reconnecting ──\x1b[0m\r\n");
    this.connect();
  }

  private connect(): void {
    const term = this.term;
    if (!term) return;
    this.teardownConnection();
    // The title belonged to the previous connection's programs.
    this.view.setRemoteTitle("");
    const generation = ++this.generation;
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.port.onmessage = (event: MessageEvent<TerminalMessage | LiveSessionMessage>) =>
      this.onMessage(event.data);
    // First on the port: whose session this is (the engine checks the page still lives).
    this.port.postMessage({ type: "hello", page: pageId() } satisfies LiveSessionMessage);
    this.setState("connecting", "");
    term.fit();
    const request: SessionRequest = {
      networkId: this.target.networkId,
      host: this.target.host,
      port: this.target.port,
      username: this.target.user,
      keyIds: this.target.keyIds,
      cols: term.cols,
      rows: term.rows,
      term: "xterm-256color",
      // Known before it connects, so closing the tab meanwhile cancels it in the engine.
      sessionId: this.attachId ?? crypto.randomUUID(),
    };
    this.sessionId = request.sessionId;
    const current = () => generation === this.generation && !this.disposed;
    const ui = signInUi({
      current,
      signal: this.dialogs.signal,
      label: this.title,
      setState: (state, detail) => this.setState(state, detail),
      banner: (text) => this.term?.write(text),
      signInRequired: (checkUrl, message) => this.onSignInRequired(checkUrl, message),
    });
    this.loginRefused = false;
    ui.onLoginRefused = () => {
      if (current()) this.loginRefused = true;
    };
    const attachId = this.attachId;
    this.attachId = undefined;
    const learnNames = (live: LiveSession) => this.learnNames(live);
    openOrAttach({
      engine: this.engine,
      attachId,
      request,
      ui,
      port: transfer(channel.port2, [channel.port2]),
      term,
      resize: (cols, rows) => this.post({ type: "resize", cols, rows }),
      current,
      learnNames,
    })
      .then((id) => {
        if (!current()) {
          // Not ours to close when it was attached: this tab let go of it (pagehide).
          if (attachId === undefined) void this.engine.closeSession(id).catch(() => undefined);
          return;
        }
        this.sessionId = id;
        if (this.state !== "closed") this.setState("connected", this.detail);
        this.term?.focus();
        if (attachId === undefined && !this.target.hostName) {
          learnNamesOf(this.engine, id, current, learnNames);
        }
      })
      .catch((error: unknown) => {
        if (current() && this.state !== "closed") this.setState("closed", errorText(error));
      });
  }

  private onMessage(message: TerminalMessage | LiveSessionMessage): void {
    if (message.type === "output") {
      // Acknowledge once xterm has parsed the bytes: the engine sends at most OUTPUT_WINDOW
      // ahead, so a flood of output waits in the SSH channel instead of this page's memory.
      const port = this.port;
      const bytes = message.data.length;
      const ack = () => port?.postMessage({ type: "ack", bytes } satisfies TerminalMessage);
      if (this.term) this.term.write(message.data, ack);
      else ack();
    } else if (message.type === "exit") {
      const how =
        message.signal !== null
          ? `killed by signal ${message.signal}`
          : `exited with code ${message.code ?? "unknown"}`;
      this.term?.write(`\r\n\x1b[2m[the remote shell ${how}]\x1b[0m\r\n`);
    } else if (message.type === "taken") {
      // Another tab attached the session: it is that tab's now (the engine closed our port).
      this.port = undefined;
      this.setState("closed", "This session was opened in another tab of this browser.");
    }
  }

  /** The engine's id of the session (set once opening starts), for listSessions matches. */
  get id(): string | undefined {
    return this.sessionId ?? this.attachId;
  }

  /** Connected, held by this page: a reload must not end it without asking (per-tab engine). */
  get live(): boolean {
    return this.state === "connected" && this.sessionId !== undefined && !this.left;
  }

  /**
   * The page is going away (pagehide). A connected session stays in the engine for the next
   * page (a reload re-attaches it); one still connecting is cancelled: its questions (host
   * key, password) could not be answered.
   */
  leave(): void {
    const id = this.sessionId;
    if (this.disposed || id === undefined || this.left) return;
    if (this.state === "connected") {
      this.port?.postMessage({ type: "detach" } satisfies LiveSessionMessage);
      this.left = true;
    } else {
      void this.engine.closeSession(id).catch(() => undefined);
    }
  }

  /** The page came back from the back-forward cache after leave(): attach again. */
  rejoin(): void {
    if (!this.left || this.disposed) return;
    this.left = false;
    this.attachId = this.sessionId;
    // The session is the engine's to keep: the teardown in connect() must not close it.
    this.sessionId = undefined;
    this.connect();
  }

  /** The engine knows the host's name (a network's host name): label the tab with it. */
  private learnNames(live: LiveSession): void {
    if (this.target.hostName || live.hostName === live.host) return;
    this.target.hostName = live.hostName;
    this.labels = sessionLabels(this.target);
    this.title = this.labels.label;
    this.panel.setAttribute("aria-label", this.title);
    this.onChange();
  }

  private sendText(data: string): void {
    this.sendBytes(encoder.encode(data));
  }

  private sendBytes(data: Uint8Array): void {
    if (this.state === "closed") return;
    this.post({ type: "input", data });
  }

  private post(message: TerminalMessage): void {
    if (!this.port) return;
    if (message.type === "input") this.port.postMessage(message, [message.data.buffer]);
    else this.port.postMessage(message);
  }

  /** Asks the person to confirm, then forgets the host's trusted keys and reconnects. */
  private async forgetHostKey(): Promise<void> {
    if (await confirmForgetHostKey(this.engine, this.target)) this.reconnect();
  }

  private setState(state: SessionState, detail: string): void {
    if (state === "closed" && this.endedText !== undefined) detail = this.endedText;
    this.state = state;
    this.detail = detail;
    if (state === "closed") {
      this.dialogs.abort();
      this.dialogs = new AbortController();
      this.sessionId = undefined;
    }
    this.renderState();
    this.onChange();
  }

  private renderState(): void {
    this.view.showState(this.state, this.detail, {
      reconnect: this.endedText === undefined ? () => this.reconnect() : undefined,
      forgetHostKey: () => void this.forgetHostKey(),
      otherUser: this.loginRefused ? this.onOtherUser : undefined,
    });
  }

  /** Called when the tab becomes visible. */
  shown(): void {
    requestAnimationFrame(() => {
      this.term?.fit();
      if (this.state !== "closed") this.term?.focus();
    });
  }

  /** The terminal's active buffer, line by line (tests read it). */
  lines(): string[] {
    return this.term?.lines() ?? [];
  }

  private teardownConnection(): void {
    const id = this.sessionId;
    this.sessionId = undefined;
    if (id !== undefined) void this.engine.closeSession(id).catch(() => undefined);
    this.port?.close();
    this.port = undefined;
  }

  /** Closes the session and removes the tab's panel (the tab was closed). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dialogs.abort();
    this.teardownConnection();
    this.view.dispose();
    this.term?.dispose();
    this.panel.remove();
  }
}
