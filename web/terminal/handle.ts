// What the rest of the page sees of one xterm instance. The implementation (terminal/xterm.ts)
// is loaded with import() when the first terminal opens, so xterm is not in the first load;
// this file holds only types and the loader.

import type { Settings } from "../settings.ts";

export interface TermHandle {
  readonly cols: number;
  readonly rows: number;
  /** The renderer in use: the Settings choice ("auto" by what WebGL runs on), or "dom" when
   *  WebGL failed, is still loading, or lost its context (renderer-switch.ts). */
  readonly renderer: "webgl" | "dom";
  /** Why that renderer (a sentence for a tooltip). */
  readonly rendererReason: string;
  /** Called when the renderer in use changes (WebGL loaded, lost, or a new setting). */
  onRendererChange(listener: (renderer: "webgl" | "dom") => void): void;
  /** Writes to the terminal; `parsed` runs once xterm has processed the data. */
  write(data: Uint8Array | string, parsed?: () => void): void;
  /** Typed or pasted text (a string of UTF-16 code units). */
  onData(listener: (data: string) => void): void;
  /** Binary input (mouse reports): each char code is one byte. */
  onBinary(listener: (data: string) => void): void;
  onResize(listener: (cols: number, rows: number) => void): void;
  /** Ctrl/Cmd+F inside the terminal. */
  onSearchRequest(listener: () => void): void;
  fit(): void;
  focus(): void;
  paste(text: string): void;
  applySettings(settings: Settings): void;
  /** Whether the remote asked for application cursor keys (DECCKM). */
  applicationCursorKeys(): boolean;
  findNext(query: string): boolean;
  findPrevious(query: string): boolean;
  clearSearch(): void;
  /** The active buffer's lines, right-trimmed. */
  lines(): string[];
  dispose(): void;
}

/**
 * Where the escape sequences that could reach beyond the terminal go (docs/terminal.md).
 * None of these ever answers the server.
 */
export interface TerminalHooks {
  /** The data of an OSC 52 clipboard request (after "52;"). */
  clipboardRequest(data: string): void;
  /** A title set by OSC 0 or OSC 2, as the server sent it (the receiver sanitizes it). */
  titleChange(title: string): void;
  /** A click on a link (OSC 8 or a URL in the output); only http(s) reach this. */
  linkActivate(uri: string): void;
  linkHover(uri: string): void;
  linkLeave(): void;
}

export type CreateTerminal = (
  container: HTMLElement,
  settings: Settings,
  hooks: TerminalHooks,
) => TermHandle;

let loading: Promise<CreateTerminal> | undefined;

/** Loads xterm and its addons once (a separate chunk). */
export function loadTerminal(): Promise<CreateTerminal> {
  loading ??= import("./xterm.ts").then((m) => m.createTerminal);
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}
