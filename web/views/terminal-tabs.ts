// Terminal sessions as tabs: a strip (label "host-name · user · network", a state dot, close ×)
// over the panels, one visible at a time. Sessions live in the engine: when this page goes
// away they stay for the next one (a reload re-attaches those no other tab holds, with their
// scrollback); where the engine dies with the page, the page asks before a reload ends them
// (docs/page.md, "One engine per browser").

import type { LiveSession } from "../../worker/api.ts";
import { button, h, replace } from "../dom.ts";
import { type Engine, engineLifetime, rememberEngineLeft } from "../engine.ts";
import { type SessionStart, type SessionTarget, TerminalSession } from "../terminal/session.ts";

export class TerminalTabs {
  readonly strip: HTMLElement;
  readonly panels: HTMLElement;
  readonly sessions: TerminalSession[] = [];
  private active: TerminalSession | undefined;
  /** Called when the active tab changes or the last one closes. */
  onActiveChange: (session: TerminalSession | undefined) => void = () => undefined;

  /** The engine instance these sessions live in (known once restore() asked). */
  private engineId: string | undefined;

  /**
   * `keep` picks the engine's unattached sessions this page takes over (the share page takes
   * only its share's: it must never show another network's hosts).
   */
  constructor(
    private readonly engine: Engine,
    private readonly keep: (session: LiveSession) => boolean = () => true,
  ) {
    this.strip = h("div", { class: "tab-strip", testid: "tab-strip", attrs: { role: "tablist" } });
    this.panels = h("div", { class: "terminal-panels" });
    window.addEventListener("pagehide", () => this.leave());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) for (const s of this.sessions) s.rejoin();
    });
    window.addEventListener("beforeunload", (event) => {
      // A reload ends the engine's sessions only where the engine lives and dies with the page.
      if (engineLifetime().survivesReload || !this.sessions.some((s) => s.live)) return;
      event.preventDefault();
      event.returnValue = "";
    });
    void this.restore();
  }

  /**
   * Opens a tab for every session the engine holds that no page does (this page was reloaded,
   * or a tab holding them closed): their scrollback, then live output. Sessions another tab
   * holds stay there. Returns how many tabs it opened.
   */
  async restore(): Promise<number> {
    let live: LiveSession[];
    try {
      this.engineId = (await this.engine.status()).instanceId;
      live = await this.engine.listSessions();
    } catch {
      this.strip.dataset.restored = "0";
      return 0; // the engine did not start: the header says why
    }
    const shown = new Set(this.sessions.map((s) => s.id));
    let opened = 0;
    for (const session of live) {
      if (session.attached || session.state === "closed" || shown.has(session.id)) continue;
      if (!this.keep(session)) continue;
      this.open(
        {
          networkId: session.networkId,
          networkName: session.networkName,
          host: session.host,
          hostName: session.hostName === session.host ? undefined : session.hostName,
          port: session.port,
          user: session.username,
        },
        { attach: session.id },
      );
      opened++;
    }
    // How many tabs it brought back, for tests (the strip is hidden without tabs).
    this.strip.dataset.restored = String(opened);
    return opened;
  }

  /** The page goes away: its sessions stay in the engine for the next page. */
  private leave(): void {
    if (this.engineId !== undefined) {
      rememberEngineLeft(this.engineId, this.sessions.filter((s) => s.live).length);
    }
    for (const session of this.sessions) session.leave();
  }

  get activeSession(): TerminalSession | undefined {
    return this.active;
  }

  open(target: SessionTarget, start: SessionStart = {}): TerminalSession {
    const session = new TerminalSession(this.engine, target, start);
    session.onChange = () => this.renderStrip();
    this.sessions.push(session);
    this.panels.appendChild(session.panel);
    this.activate(session);
    void session.start();
    return session;
  }

  /** Shows `session`; undefined hides all panels (another view is in front). */
  activate(session: TerminalSession | undefined): void {
    this.active = session;
    for (const s of this.sessions) s.panel.hidden = s !== session;
    this.renderStrip();
    session?.shown();
    this.onActiveChange(session);
  }

  close(session: TerminalSession): void {
    const index = this.sessions.indexOf(session);
    if (index < 0) return;
    this.sessions.splice(index, 1);
    session.dispose();
    if (this.active === session) {
      this.activate(this.sessions[Math.min(index, this.sessions.length - 1)]);
    } else {
      this.renderStrip();
    }
  }

  private renderStrip(): void {
    this.strip.hidden = this.sessions.length === 0;
    replace(
      this.strip,
      ...this.sessions.map((session) => {
        const selected = session === this.active;
        const tab = h(
          "div",
          {
            class: selected ? "tab selected" : "tab",
            testid: "terminal-tab",
            data: { state: session.state },
            title: session.labels.full,
          },
          button(
            h(
              "span",
              { class: "tab-name" },
              h("span", { class: "dot", data: { state: session.state } }),
              // Host first, then user, then network: a narrow tab cuts the user short first,
              // then the host, and the network stays whole; the tooltip has the full target.
              h("span", { class: "tab-host", text: tabHost(session.target) }),
              h("span", { class: "tab-user", text: ` · ${session.target.user}` }),
              h("span", { class: "tab-network", text: ` · ${session.labels.network}` }),
            ),
            () => this.activate(session),
            {
              class: "tab-label",
              attrs: { role: "tab", "aria-selected": String(selected) },
            },
          ),
          button("×", () => this.close(session), {
            class: "tab-close",
            testid: "tab-close",
            attrs: { "aria-label": `Close ${session.title}` },
          }),
        );
        return tab;
      }),
    );
  }
}

/** "web-01" (":PORT" when not 22): the host by its name when known, what a tab shows first. */
export function tabHost(target: Pick<SessionTarget, "host" | "hostName" | "port">): string {
  const name = target.hostName || target.host;
  const port = target.port === 22 ? "" : `:${target.port}`;
  return `${name.includes(":") ? `[${name}]` : name}${port}`;
}
