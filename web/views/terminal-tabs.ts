// Terminal sessions as tabs: a strip (title user@host, a state dot, close ×) over the panels,
// one visible at a time.

import { button, h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { type SessionTarget, TerminalSession } from "../terminal/session.ts";

export class TerminalTabs {
  readonly strip: HTMLElement;
  readonly panels: HTMLElement;
  readonly sessions: TerminalSession[] = [];
  private active: TerminalSession | undefined;
  /** Called when the active tab changes or the last one closes. */
  onActiveChange: (session: TerminalSession | undefined) => void = () => undefined;

  constructor(private readonly engine: Engine) {
    this.strip = h("div", { class: "tab-strip", testid: "tab-strip", attrs: { role: "tablist" } });
    this.panels = h("div", { class: "terminal-panels" });
  }

  get activeSession(): TerminalSession | undefined {
    return this.active;
  }

  open(target: SessionTarget): TerminalSession {
    const session = new TerminalSession(this.engine, target);
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
            title: `${session.title} (${session.target.networkName})`,
          },
          button(
            h(
              "span",
              {},
              h("span", { class: "dot", data: { state: session.state } }),
              session.title,
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
