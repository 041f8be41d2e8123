// One terminal tab: an xterm (loaded on first use) joined to an SSH session of the engine.
// Terminal bytes go over a MessagePort (TerminalMessage); the engine calls back through a
// comlink proxy of SessionUi for state changes, the host key decision and passwords.

import { transfer } from "comlink";
import type {
  LiveSession,
  LiveSessionMessage,
  SessionRequest,
  SessionState,
  TerminalMessage,
} from "../../worker/api.ts";
import { errorText, h, replace } from "../dom.ts";
import { type Engine, pageId } from "../engine.ts";
import { filesButton } from "../files/files-button.ts";
import { getSettings, onSettings } from "../settings.ts";
import { ClipboardGuard } from "./clipboard-guard.ts";
import { closedPanel, hostKeyWarning, isHostKeyChange } from "./closed-panel.ts";
import { confirmForgetHostKey } from "./forget-host-key.ts";
import { loadTerminal, type TermHandle, type TerminalHooks } from "./handle.ts";
import { coarsePointer, createKeyBar, type KeyBar } from "./keybar.ts";
import { createLinkOpener, type LinkOpener } from "./link-opener.ts";
import { learnNamesOf, openOrAttach } from "./live-attach.ts";
import { createRendererBadge } from "./renderer-badge.ts";
import { createSearchBar } from "./search-bar.ts";
import { signInUi } from "./sign-in-ui.ts";
import { sanitizeTitle } from "./title.ts";

export interface SessionTarget {
  networkId: string;
  networkName: string;
  host: string;
  /** The name the person knows the host by (a host name of the network), when it has one. */
  hostName?: string;
  port: number;
  user: string;
  /** The SSH keys the person chose to offer ([] = none; absent = the engine's remembered choice). */
  keyIds?: string[];
}

const STATE_TEXT: Record<SessionState, string> = {
  connecting: "Connecting",
  handshaking: "Key exchange",
  authenticating: "Authenticating",
  connected: "Connected",
  closed: "Closed",
};

const encoder = new TextEncoder();

/** How a session's tab names it. */
export interface SessionLabels {
  /** "alice@web-01" (":PORT" after the host when not 22): the host by its name when known. */
  who: string;
  /** The network's name ("mesh", "lab"). */
  network: string;
  /** Both: "alice@web-01 · mesh". */
  label: string;
  /** The whole target for a tooltip: "alice@100.64.0.7:2222 (web-01) on network mesh". */
  full: string;
}

/** The labels of a session to `target`, so tabs to different hosts, users or networks differ. */
export function sessionLabels(target: SessionTarget): SessionLabels {
  const name = target.hostName || target.host;
  const port = target.port === 22 ? "" : `:${target.port}`;
  const hostText = target.host.includes(":") ? `[${target.host}]` : target.host;
  const nameText = name.includes(":") ? `[${name}]` : name;
  const who = `${target.user}@${nameText}${port}`;
  const named = name === target.host ? "" : ` (${name})`;
  return {
    who,
    network: target.networkName,
    label: `${who} · ${target.networkName}`,
    full: `${target.user}@${hostText}${port}${named} on network ${target.networkName}`,
  };
}

/** How a tab's session begins: a new SSH session, or one the engine holds (after a reload). */
export interface SessionStart {
  /** A live session's id (engine.listSessions) to attach to instead of opening one. */
  attach?: string;
}

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

  private readonly stateLine: HTMLElement;
  private readonly termBox: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly keyBar: KeyBar;
  private readonly clipboard: ClipboardGuard;
  private readonly links: LinkOpener;
  /** The title the remote program set (OSC 0/2), sanitized, beside the session's address. */
  private readonly remoteTitle: HTMLElement;
  private readonly rendererBadge = createRendererBadge();
  private term: TermHandle | undefined;
  private port: MessagePort | undefined;
  private sessionId: string | undefined;
  private generation = 0;
  /** A live session to attach to at the first connect (then a reconnect opens a new one). */
  private attachId: string | undefined;
  /** The engine's session was handed on as the page went away (pagehide): rejoin on return. */
  private left = false;
  private dialogs = new AbortController();
  private readonly cleanups: (() => void)[] = [];
  private disposed = false;

  constructor(
    private readonly engine: Engine,
    readonly target: SessionTarget,
    start: SessionStart = {},
  ) {
    this.attachId = start.attach;
    const hostText = target.host.includes(":") ? `[${target.host}]` : target.host;
    const address = `${target.user}@${hostText}${target.port === 22 ? "" : `:${target.port}`}`;
    this.labels = sessionLabels(target);
    this.title = this.labels.label;
    this.stateLine = h("span", { class: "session-state", testid: "session-state" });
    this.termBox = h("div", { class: "term-host", testid: "terminal" });
    this.overlay = h("div", { class: "session-overlay" });
    this.overlay.hidden = true;
    const refocus = () => this.term?.focus();
    const { networkId, networkName, host, port } = target;
    this.clipboard = new ClipboardGuard(
      { networkId, networkName, host, port },
      // Notices name who asked ("alice@web-01"), as the terminal's own sentences do.
      this.labels.who,
      refocus,
    );
    this.links = createLinkOpener(this.labels.who, refocus);
    this.remoteTitle = h("span", { class: "remote-title", testid: "remote-title" });
    const search = createSearchBar(() => this.term);
    this.keyBar = createKeyBar({
      send: (data) => this.sendText(data),
      applicationCursor: () => this.term?.applicationCursorKeys() ?? false,
      paste: () => {
        navigator.clipboard
          ?.readText()
          .then((text) => this.term?.paste(text))
          .catch(() => undefined);
      },
      refocus: () => this.term?.focus(),
    });
    const media = coarsePointer();
    const showKeys = () => {
      this.keyBar.element.hidden = !media.matches;
      this.term?.fit();
    };
    showKeys();
    media.addEventListener("change", showKeys);
    this.cleanups.push(() => media.removeEventListener("change", showKeys));

    this.panel = h(
      "section",
      { class: "terminal-panel", testid: "terminal-panel", attrs: { "aria-label": this.title } },
      h(
        "div",
        { class: "panel-bar" },
        this.stateLine,
        h("span", { class: "muted", text: `${address} · ${target.networkName}` }),
        this.remoteTitle,
        this.rendererBadge.element,
        filesButton(
          engine,
          () => (this.state === "connected" ? this.sessionId : undefined),
          () => this.panel.querySelector(".terminal-area"),
        ),
      ),
      h(
        "div",
        { class: "terminal-area" },
        this.termBox,
        search.element,
        this.clipboard.element,
        this.links.element,
        this.overlay,
      ),
      this.keyBar.element,
    );
    this.searchOpen = search.open;
    this.renderState();

    const resize = new ResizeObserver(() => this.term?.fit());
    resize.observe(this.termBox);
    this.cleanups.push(() => resize.disconnect());
    this.cleanups.push(onSettings((settings) => this.term?.applySettings(settings)));
  }

  private readonly searchOpen: () => void;

  /** Loads the terminal and opens the session. */
  async start(): Promise<void> {
    this.setState("connecting", "Loading the terminal…");
    try {
      const create = await loadTerminal();
      if (this.disposed) return;
      const hooks: TerminalHooks = {
        clipboardRequest: (data) => this.clipboard.handle(data),
        titleChange: (title) => {
          const text = sanitizeTitle(title);
          this.remoteTitle.textContent = text;
          this.remoteTitle.title = text;
        },
        linkActivate: (uri) => this.links.activate(uri),
        linkHover: (uri) => this.links.hover(uri),
        linkLeave: () => this.links.leave(),
      };
      const term = create(this.termBox, getSettings(), hooks);
      this.term = term;
      this.rendererBadge.follow(term);
      term.onData((data) => this.sendText(this.keyBar.transform(data)));
      term.onBinary((data) => this.sendBytes(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
      term.onResize((cols, rows) => this.post({ type: "resize", cols, rows }));
      term.onSearchRequest(this.searchOpen);
    } catch (error) {
      this.setState("closed", `The terminal did not load: ${errorText(error)}`);
      return;
    }
    this.connect();
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
    this.remoteTitle.textContent = "";
    this.remoteTitle.title = "";
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
    const { state, detail } = this;
    this.stateLine.dataset.state = state;
    replace(
      this.stateLine,
      h("span", { class: "dot", data: { state } }),
      STATE_TEXT[state],
      detail && state !== "closed" && state !== "connected" ? ` · ${detail}` : "",
    );
    if (state === "closed") {
      replace(
        this.overlay,
        isHostKeyChange(detail)
          ? hostKeyWarning(detail, this.target.host, () => void this.forgetHostKey())
          : closedPanel(
              detail,
              () => this.reconnect(),
              this.loginRefused && this.onOtherUser !== undefined
                ? {
                    otherUser: this.onOtherUser,
                    backToHosts: () => {
                      location.hash = "#/mesh";
                    },
                  }
                : undefined,
            ),
      );
      this.overlay.hidden = false;
    } else {
      replace(this.overlay);
      this.overlay.hidden = true;
    }
  }

  /** Called when the tab becomes visible. */
  shown(): void {
    requestAnimationFrame(() => {
      this.term?.fit();
      if (this.state !== "closed") this.term?.focus();
    });
  }

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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dialogs.abort();
    this.teardownConnection();
    for (const cleanup of this.cleanups) cleanup();
    this.clipboard.dispose();
    this.term?.dispose();
    this.panel.remove();
  }
}
