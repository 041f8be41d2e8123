// xterm.js 6 with its addons: fit, web links, Unicode 11 widths; search and the WebGL renderer
// are chunks of their own, fetched only when used (Ctrl+F; WebGL when chosen, after the first
// frame: renderer-switch.ts), to keep the bytes up to a shell prompt small (docs/terminal.md).
// Loaded lazily (see handle.ts). The sequences that could
// reach beyond the terminal (OSC 52 clipboard, titles, links) go to the session's hooks,
// never straight to the system: docs/terminal.md has the review. The clipboard addon is not
// used: its provider answers a read with the clipboard, and even an empty answer reaches the
// server.

import "@xterm/xterm/css/xterm.css";
import { FitAddon } from "@xterm/addon-fit";
import type { SearchAddon } from "@xterm/addon-search";
import { Unicode11Addon } from "@xterm/addon-unicode11";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { Terminal } from "@xterm/xterm";
import type { Settings } from "../settings.ts";
import { installCspStyleShim } from "./csp-shim.ts";
import type { TermHandle, TerminalHooks } from "./handle.ts";
import { createRendererSwitch } from "./renderer-switch.ts";
import { terminalTheme } from "./themes.ts";

const FONT_FAMILY =
  '"JetBrains Mono", "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace';

const SEARCH_DECORATIONS = {
  matchBackground: "#3a4a6b",
  matchOverviewRuler: "#5b8cff",
  activeMatchBackground: "#d6a13a",
  activeMatchColorOverviewRuler: "#d6a13a",
};

export function createTerminal(
  container: HTMLElement,
  settings: Settings,
  hooks: TerminalHooks,
): TermHandle {
  installCspStyleShim();
  const term = new Terminal({
    allowProposedApi: true,
    cursorBlink: true,
    fontFamily: FONT_FAMILY,
    fontSize: settings.fontSize,
    theme: terminalTheme(settings.theme),
    scrollback: 5000,
    macOptionIsMeta: true,
    // OSC 8 links: without a handler xterm asks with window.confirm and opens the link itself.
    linkHandler: {
      activate: (_event, uri) => hooks.linkActivate(uri),
      hover: (_event, uri) => hooks.linkHover(uri),
      leave: () => hooks.linkLeave(),
      allowNonHttpProtocols: false,
    },
    // No window reports or manipulations (CSI t): the title report would echo a server's
    // own title back as input. This is xterm's default, stated so it stays that way.
    windowOptions: {},
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  let search: SearchAddon | undefined;
  let searchLoading = false;
  let disposed = false;
  const loadSearch = () => {
    if (searchLoading) return;
    searchLoading = true;
    import("@xterm/addon-search").then(
      ({ SearchAddon }) => {
        if (disposed) return;
        search = new SearchAddon();
        term.loadAddon(search);
      },
      () => {
        searchLoading = false; // the next Ctrl+F tries again
      },
    );
  };
  term.loadAddon(
    new WebLinksAddon((_event, uri) => hooks.linkActivate(uri), {
      hover: (_event, uri) => hooks.linkHover(uri),
      leave: () => hooks.linkLeave(),
    }),
  );
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = "11";
  // Handled (true) and never answered: see clipboard-guard.ts.
  term.parser.registerOscHandler(52, (data) => {
    hooks.clipboardRequest(data);
    return true;
  });
  term.onTitleChange((title) => hooks.titleChange(title));

  let searchListener: (() => void) | undefined;
  term.attachCustomKeyEventHandler((event) => {
    if (event.type !== "keydown") return true;
    const key = event.key.toLowerCase();
    const mod = event.ctrlKey || event.metaKey;
    if (mod && !event.shiftKey && !event.altKey && key === "f") {
      event.preventDefault();
      loadSearch();
      searchListener?.();
      return false;
    }
    // Ctrl+Shift+C copies the selection; Ctrl+Shift+V is left to the browser's paste event.
    if (event.ctrlKey && event.shiftKey && key === "c") {
      const text = term.getSelection();
      if (text) void navigator.clipboard?.writeText(text).catch(() => undefined);
      event.preventDefault();
      return false;
    }
    if (event.ctrlKey && event.shiftKey && key === "v") return false;
    return true;
  });

  term.open(container);
  const renderer = createRendererSwitch(term, container, settings.renderer);

  const safeFit = () => {
    try {
      fit.fit();
    } catch {
      // not laid out yet (hidden tab): the next resize fits
    }
  };
  safeFit();

  return {
    get cols() {
      return term.cols;
    },
    get rows() {
      return term.rows;
    },
    get renderer() {
      return renderer.state.renderer;
    },
    get rendererReason() {
      return renderer.state.reason;
    },
    onRendererChange: (listener) => renderer.onChange(({ renderer }) => listener(renderer)),
    write: (data, parsed) => term.write(data, parsed),
    onData: (listener) => void term.onData(listener),
    onBinary: (listener) => void term.onBinary(listener),
    onResize: (listener) => void term.onResize(({ cols, rows }) => listener(cols, rows)),
    onSearchRequest: (listener) => {
      searchListener = listener;
    },
    fit: safeFit,
    focus: () => term.focus(),
    paste: (text) => term.paste(text),
    applySettings: (next) => {
      term.options.fontSize = next.fontSize;
      term.options.theme = terminalTheme(next.theme);
      renderer.apply(next.renderer);
      safeFit();
    },
    applicationCursorKeys: () => term.modes.applicationCursorKeysMode,
    // Before the addon arrives (a same-origin fetch, started by Ctrl+F) nothing is found yet.
    findNext: (query) => {
      loadSearch();
      return search?.findNext(query, { decorations: SEARCH_DECORATIONS }) ?? false;
    },
    findPrevious: (query) => {
      loadSearch();
      return search?.findPrevious(query, { decorations: SEARCH_DECORATIONS }) ?? false;
    },
    clearSearch: () => {
      search?.clearDecorations();
      term.clearSelection();
    },
    lines: () => {
      const buffer = term.buffer.active;
      const out: string[] = [];
      for (let i = 0; i < buffer.length; i++)
        out.push(buffer.getLine(i)?.translateToString(true) ?? "");
      while (out.length > 0 && out[out.length - 1] === "") out.pop();
      return out;
    },
    dispose: () => {
      disposed = true;
      renderer.dispose();
      term.dispose();
    },
  };
}
