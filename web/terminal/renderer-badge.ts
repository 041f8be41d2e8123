// The small "DOM" / "WebGL" label in a session's bar: which renderer draws this terminal, with
// the reason as its tooltip (Settings → Terminal renderer changes it).

import { h } from "../dom.ts";
import type { TermHandle } from "./handle.ts";

export interface RendererBadge {
  element: HTMLElement;
  /** Shows `term`'s renderer now and whenever it changes. */
  follow(term: TermHandle): void;
}

export function createRendererBadge(): RendererBadge {
  const element = h("span", { class: "renderer-badge", testid: "renderer-badge" });
  element.hidden = true;
  return {
    element,
    follow(term) {
      const show = () => {
        element.hidden = false;
        element.textContent = term.renderer === "webgl" ? "WebGL" : "DOM";
        element.dataset.renderer = term.renderer;
        element.title = `Renderer: ${term.rendererReason}`;
      };
      show();
      term.onRendererChange(show);
    },
  };
}
