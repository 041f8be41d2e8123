// The page's own terminal (web/terminal/xterm.ts, the renderer switch included) outside the
// app, for test/e2e/terminal-renderer.test.ts (which renderer headless Chromium gets, and the
// override) and for bench:web's no-network anchor: terminal output written straight into the
// same xterm the page uses, no engine, no network.

import type { RendererSetting } from "../../../web/settings.ts";
import type { TermHandle } from "../../../web/terminal/handle.ts";
import { probeWebgl, type WebglProbe } from "../../../web/terminal/renderer-choice.ts";
import { createTerminal } from "../../../web/terminal/xterm.ts";

export interface RendererLab {
  probe(): WebglProbe;
  /** Opens a terminal with `setting` (closing any earlier one). */
  open(setting: RendererSetting): void;
  state(): { renderer: string; reason: string; dataset: string };
  apply(setting: RendererSetting): void;
  /**
   * Writes `total` bytes of base64 lines (`lineLength` characters and CRLF, as a pty shows
   * `base64 -w N`) in `chunk`-byte writes, all queued at once; resolves with the ms until xterm
   * has parsed the last one.
   */
  write(total: number, chunk: number, lineLength: number, callbackEach?: boolean): Promise<number>;
  lastLine(): string;
}

declare global {
  interface Window {
    rendererLab?: RendererLab;
  }
}

const container = document.getElementById("term") as HTMLElement;
let term: TermHandle | undefined;
const settings = (renderer: RendererSetting) => ({
  fontSize: 14,
  theme: "dark" as const,
  renderer,
  clipboardWriteHosts: [],
  directPaths: true,
});
const none = () => undefined;

/** Base64 text in lines of `lineLength` + CRLF, from a fixed seed (the same bytes each run). */
function lines(total: number, lineLength: number): Uint8Array {
  const alphabet = new TextEncoder().encode(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
  );
  const out = new Uint8Array(total);
  let state = 0x2545f491;
  for (let i = 0, col = 0; i < total; i++) {
    if (col === lineLength) {
      out[i] = 13;
      col = -1;
    } else if (col === -1) {
      out[i] = 10;
      col = 0;
      continue;
    } else {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[i] = alphabet[state & 63]!;
    }
    col++;
  }
  return out;
}

window.rendererLab = {
  probe: () => probeWebgl(),
  open(setting) {
    term?.dispose();
    term = createTerminal(container, settings(setting), {
      clipboardRequest: none,
      titleChange: none,
      linkActivate: none,
      linkHover: none,
      linkLeave: none,
    });
  },
  state: () => ({
    renderer: term?.renderer ?? "",
    reason: term?.rendererReason ?? "",
    dataset: container.dataset.renderer ?? "",
  }),
  apply(setting) {
    term?.applySettings(settings(setting));
  },
  write(total, chunk, lineLength, callbackEach = false) {
    const t = term;
    if (!t) return Promise.reject(new Error("no terminal: open() first"));
    const data = lines(total, lineLength);
    return new Promise((resolve) => {
      const start = performance.now();
      for (let at = 0; at < total; at += chunk) {
        const end = Math.min(total, at + chunk);
        const last = end === total;
        t.write(
          data.subarray(at, end),
          last ? () => resolve(performance.now() - start) : callbackEach ? none : undefined,
        );
      }
    });
  },
  lastLine: () => term?.lines().at(-1) ?? "",
};
