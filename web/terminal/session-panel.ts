// The DOM of one terminal tab around its xterm: the bar (state, address, remote title, renderer
// badge, Files), the terminal area with its search bar, clipboard and link notices and the
// closed-session overlay, and the key bar for touch screens.
//
// Why this seam: the panel is what the person sees and knows nothing of the engine's session.
// session.ts keeps the connection (the MessagePort, its messages with the output/ack path, the
// engine's calls, the state machine) and tells the panel what to show through showState(); the
// panel reaches the terminal and the input path only through the callbacks it is given.

import type { SessionState } from "../../worker/api.ts";
import { h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { filesButton } from "../files/files-button.ts";
import { onSettings } from "../settings.ts";
import { ClipboardGuard } from "./clipboard-guard.ts";
import { closedPanel, hostKeyWarning, isHostKeyChange } from "./closed-panel.ts";
import type { TermHandle, TerminalHooks } from "./handle.ts";
import { coarsePointer, createKeyBar, type KeyBar } from "./keybar.ts";
import { createLinkOpener, type LinkOpener } from "./link-opener.ts";
import { createRendererBadge, type RendererBadge } from "./renderer-badge.ts";
import { createSearchBar } from "./search-bar.ts";
import { type SessionLabels, type SessionTarget, sessionAddress } from "./session-labels.ts";
import { sanitizeTitle } from "./title.ts";

const STATE_TEXT: Record<SessionState, string> = {
  connecting: "Connecting",
  handshaking: "Key exchange",
  authenticating: "Authenticating",
  connected: "Connected",
  closed: "Closed",
};

/** What the panel needs of its session. */
export interface PanelSession {
  engine: Engine;
  target: SessionTarget;
  labels: SessionLabels;
  /** The terminal, once loaded (undefined before and after). */
  term(): TermHandle | undefined;
  /** Sends typed text to the session (the key bar's keys). */
  sendText(data: string): void;
  /** The connected session's id for the Files button, undefined while not connected. */
  filesSession(): string | undefined;
}

/** The ways on from a closed session, as the overlay offers them. */
export interface ClosedWays {
  /** Undefined: nothing to reconnect to (a share's access ended). */
  reconnect: (() => void) | undefined;
  /** After the person confirms, forget the host's trusted keys (the host key changed). */
  forgetHostKey(): void;
  /**
   * Set when the identity SSH server refused the login and the tab can ask for another user:
   * the overlay offers "Back to hosts" and "Other user" instead of Reconnect.
   */
  otherUser: (() => void) | undefined;
}

/** One tab's panel: build it with its session's callbacks, show states, dispose it last. */
export class SessionPanel {
  /** The tab's panel element (the tab strip mounts it). */
  readonly element: HTMLElement;
  /** Where the xterm is created. */
  readonly termBox: HTMLElement;
  /** The touch key bar; its transform() applies a latched Ctrl/Alt to typed data. */
  readonly keyBar: KeyBar;
  /** Follows the terminal's renderer once it is loaded. */
  readonly rendererBadge: RendererBadge = createRendererBadge();
  /** Opens the search bar (Ctrl/Cmd+F inside the terminal). */
  readonly openSearch: () => void;
  /** Where the terminal's escape sequences that reach beyond it go (docs/terminal.md). */
  readonly hooks: TerminalHooks;

  private readonly stateLine: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly clipboard: ClipboardGuard;
  private readonly links: LinkOpener;
  /** The title the remote program set (OSC 0/2), sanitized, beside the session's address. */
  private readonly remoteTitle: HTMLElement;
  private readonly target: SessionTarget;
  private readonly cleanups: (() => void)[] = [];

  constructor(session: PanelSession, title: string) {
    const { engine, target, labels, term } = session;
    this.target = target;
    this.stateLine = h("span", { class: "session-state", testid: "session-state" });
    this.termBox = h("div", { class: "term-host", testid: "terminal" });
    this.overlay = h("div", { class: "session-overlay" });
    this.overlay.hidden = true;
    const refocus = () => term()?.focus();
    const { networkId, networkName, host, port } = target;
    this.clipboard = new ClipboardGuard(
      { networkId, networkName, host, port },
      // Notices name who asked ("alice@web-01"), as the terminal's own sentences do.
      labels.who,
      refocus,
    );
    this.links = createLinkOpener(labels.who, refocus);
    this.remoteTitle = h("span", { class: "remote-title", testid: "remote-title" });
    const search = createSearchBar(term);
    this.keyBar = createKeyBar({
      send: (data) => session.sendText(data),
      applicationCursor: () => term()?.applicationCursorKeys() ?? false,
      paste: () => {
        navigator.clipboard
          ?.readText()
          .then((text) => term()?.paste(text))
          .catch(() => undefined);
      },
      refocus: () => term()?.focus(),
    });
    const media = coarsePointer();
    const showKeys = () => {
      this.keyBar.element.hidden = !media.matches;
      term()?.fit();
    };
    showKeys();
    media.addEventListener("change", showKeys);
    this.cleanups.push(() => media.removeEventListener("change", showKeys));

    this.element = h(
      "section",
      { class: "terminal-panel", testid: "terminal-panel", attrs: { "aria-label": title } },
      h(
        "div",
        { class: "panel-bar" },
        this.stateLine,
        h("span", { class: "muted", text: `${sessionAddress(target)} · ${target.networkName}` }),
        this.remoteTitle,
        this.rendererBadge.element,
        filesButton(
          engine,
          () => session.filesSession(),
          () => this.element.querySelector(".terminal-area"),
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
    this.openSearch = search.open;
    this.hooks = {
      clipboardRequest: (data) => this.clipboard.handle(data),
      titleChange: (text) => this.setRemoteTitle(sanitizeTitle(text)),
      linkActivate: (uri) => this.links.activate(uri),
      linkHover: (uri) => this.links.hover(uri),
      linkLeave: () => this.links.leave(),
    };

    const resize = new ResizeObserver(() => term()?.fit());
    resize.observe(this.termBox);
    this.cleanups.push(() => resize.disconnect());
    this.cleanups.push(onSettings((settings) => term()?.applySettings(settings)));
  }

  /** Shows the remote program's title ("" clears it: it belonged to the last connection). */
  setRemoteTitle(text: string): void {
    this.remoteTitle.textContent = text;
    this.remoteTitle.title = text;
  }

  /** Shows `state` in the bar; closed, the overlay with the reason and `ways` on. */
  showState(state: SessionState, detail: string, ways: ClosedWays): void {
    this.stateLine.dataset.state = state;
    replace(
      this.stateLine,
      h("span", { class: "dot", data: { state } }),
      STATE_TEXT[state],
      detail && state !== "closed" && state !== "connected" ? ` · ${detail}` : "",
    );
    if (state === "closed") {
      const { otherUser } = ways;
      replace(
        this.overlay,
        isHostKeyChange(detail)
          ? hostKeyWarning(detail, this.target.host, () => ways.forgetHostKey())
          : closedPanel(
              detail,
              ways.reconnect,
              otherUser !== undefined
                ? {
                    otherUser,
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

  /** Ends the panel's listeners and the clipboard guard's notices (the session removes it). */
  dispose(): void {
    for (const cleanup of this.cleanups) cleanup();
    this.clipboard.dispose();
  }
}
