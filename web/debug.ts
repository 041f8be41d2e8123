// A hook for end-to-end tests: the terminal's text from xterm's buffer API (the WebGL renderer
// draws on a canvas, so the DOM holds no text to read).

import type { TerminalTabs } from "./views/terminal-tabs.ts";

export interface CorridorDebug {
  /** The active buffer's lines of the tab at `tabIndex`, joined by "\n". */
  terminalText(tabIndex: number): string;
  /** The session state of the tab at `tabIndex` ("" when there is no such tab). */
  sessionState(tabIndex: number): string;
  /** "webgl" or "dom" for the tab at `tabIndex`. */
  renderer(tabIndex: number): string;
}

declare global {
  interface Window {
    corridorDebug?: CorridorDebug;
  }
}

export function installDebugHooks(tabs: TerminalTabs): void {
  window.corridorDebug = {
    terminalText: (tabIndex) => tabs.sessions[tabIndex]?.lines().join("\n") ?? "",
    sessionState: (tabIndex) => tabs.sessions[tabIndex]?.state ?? "",
    renderer: (tabIndex) =>
      tabs.sessions[tabIndex]?.panel.querySelector<HTMLElement>("[data-renderer]")?.dataset
        .renderer ?? "",
  };
}
