// A hook for end-to-end tests: the terminal's text from xterm's buffer API (the WebGL renderer
// draws on a canvas, so the DOM holds no text to read).

import type { MeshHost, MeshStatus } from "../worker/api.ts";
import type { Engine } from "./engine.ts";
import type { TerminalTabs } from "./views/terminal-tabs.ts";

export interface CorridorDebug {
  /** The active buffer's lines of the tab at `tabIndex`, joined by "\n". */
  terminalText(tabIndex: number): string;
  /** The session state of the tab at `tabIndex` ("" when there is no such tab). */
  sessionState(tabIndex: number): string;
  /** "webgl" or "dom" for the tab at `tabIndex`. */
  renderer(tabIndex: number): string;
  /** The mesh's hosts as the engine sees them now (path, round trip: the direct-path tests). */
  meshHosts(): Promise<MeshHost[]>;
  /** The mesh's status now (direct paths: the setting, channels, offers made). */
  meshStatus(): Promise<MeshStatus>;
  /** One ICMP echo through the tunnel to a mesh host: the round trip (ms) or null. */
  meshPing(host: string, timeoutMs: number): Promise<number | null>;
}

declare global {
  interface Window {
    corridorDebug?: CorridorDebug;
  }
}

export function installDebugHooks(tabs: TerminalTabs, engine: Engine): void {
  window.corridorDebug = {
    meshHosts: () => engine.meshHosts(),
    meshStatus: () => engine.meshStatus(),
    meshPing: (host, timeoutMs) => engine.pingHost("mesh", host, timeoutMs),
    terminalText: (tabIndex) => tabs.sessions[tabIndex]?.lines().join("\n") ?? "",
    sessionState: (tabIndex) => tabs.sessions[tabIndex]?.state ?? "",
    renderer: (tabIndex) =>
      tabs.sessions[tabIndex]?.panel.querySelector<HTMLElement>("[data-renderer]")?.dataset
        .renderer ?? "",
  };
}
