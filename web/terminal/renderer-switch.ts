// Puts one terminal on the renderer its setting comes to (renderer-choice.ts). xterm draws with
// its DOM renderer until told otherwise, so the first frame never waits for WebGL: the WebGL
// addon (~35 KB gzip, its own chunk) is fetched only when chosen, and only after that first
// frame. A lost context or a failed load falls back to DOM and says so.

import type { WebglAddon } from "@xterm/addon-webgl";
import type { Terminal } from "@xterm/xterm";
import type { RendererSetting } from "../settings.ts";
import { type RendererName, rendererFor } from "./renderer-choice.ts";

/** The renderer a terminal uses now, and why. */
export interface RendererState {
  renderer: RendererName;
  reason: string;
}

export interface RendererSwitch {
  readonly state: RendererState;
  /** Moves to what `setting` comes to (a no-op when it is already there). */
  apply(setting: RendererSetting): void;
  onChange(listener: (state: RendererState) => void): void;
  dispose(): void;
}

let addonModule: Promise<typeof import("@xterm/addon-webgl")> | undefined;

function loadAddon(): Promise<typeof import("@xterm/addon-webgl")> {
  addonModule ??= import("@xterm/addon-webgl");
  addonModule.catch(() => {
    addonModule = undefined;
  });
  return addonModule;
}

function afterNextFrame(run: () => void): void {
  // Two frames: the first rAF callback runs before that frame is painted.
  requestAnimationFrame(() => requestAnimationFrame(run));
}

/** Starts `term` (already opened in `container`) on `setting`'s renderer. */
export function createRendererSwitch(
  term: Terminal,
  container: HTMLElement,
  setting: RendererSetting,
): RendererSwitch {
  let state: RendererState = { renderer: "dom", reason: "" };
  let webgl: WebglAddon | undefined;
  let applied: RendererSetting | undefined;
  let generation = 0;
  let disposed = false;
  const listeners = new Set<(state: RendererState) => void>();

  const set = (renderer: RendererName, reason: string) => {
    state = { renderer, reason };
    container.dataset.renderer = renderer;
    for (const listener of listeners) listener(state);
  };

  const dropWebgl = () => {
    const addon = webgl;
    webgl = undefined;
    addon?.dispose();
  };

  const startWebgl = (reason: string, current: number) => {
    set("dom", `${reason} (loading WebGL)`);
    afterNextFrame(() => {
      loadAddon().then(
        ({ WebglAddon }) => {
          if (disposed || current !== generation) return;
          const addon = new WebglAddon();
          try {
            term.loadAddon(addon);
          } catch (error) {
            addon.dispose();
            set("dom", `WebGL did not start (${String(error)}): DOM`);
            return;
          }
          addon.onContextLoss(() => {
            if (webgl !== addon) return;
            dropWebgl();
            set("dom", "the WebGL context was lost: DOM");
          });
          webgl = addon;
          set("webgl", reason);
        },
        () => {
          if (!disposed && current === generation)
            set("dom", "the WebGL renderer did not load: DOM");
        },
      );
    });
  };

  const apply = (next: RendererSetting) => {
    if (disposed || next === applied) return;
    applied = next;
    const current = ++generation;
    const choice = rendererFor(next);
    if (choice.renderer === "dom") {
      dropWebgl();
      set("dom", choice.reason);
    } else if (webgl) {
      set("webgl", choice.reason);
    } else {
      startWebgl(choice.reason, current);
    }
  };

  apply(setting);
  return {
    get state() {
      return state;
    },
    apply,
    onChange: (listener) => void listeners.add(listener),
    dispose: () => {
      disposed = true;
      listeners.clear();
      dropWebgl();
    },
  };
}
