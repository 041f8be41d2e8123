// A row of keys phones lack, shown on touch devices (pointer: coarse): Esc, Tab, a sticky
// Ctrl that applies to the next key (from the bar or the on-screen keyboard), arrows, paste.

import { button, h } from "../dom.ts";

export interface KeyBar {
  element: HTMLElement;
  /** Applies a latched Ctrl to typed input (and releases it). */
  transform(data: string): string;
}

/** The control character for Ctrl+`ch`, or `ch` unchanged when there is none. */
export function ctrlOf(data: string): string {
  if (data.length !== 1) return data;
  const code = data.charCodeAt(0);
  if (data === " " || data === "@" || data === "2") return "\x00";
  if (data === "?") return "\x7f";
  if ((code >= 0x61 && code <= 0x7a) || (code >= 0x40 && code <= 0x5f)) {
    return String.fromCharCode(code & 0x1f);
  }
  return data;
}

export function createKeyBar(options: {
  send: (data: string) => void;
  applicationCursor: () => boolean;
  paste: () => void;
  refocus: () => void;
}): KeyBar {
  let ctrl = false;
  const ctrlButton = button("Ctrl", () => setCtrl(!ctrl), {
    class: "key",
    testid: "key-ctrl",
    attrs: { "aria-pressed": "false" },
  });
  const setCtrl = (on: boolean) => {
    ctrl = on;
    ctrlButton.setAttribute("aria-pressed", String(on));
    ctrlButton.classList.toggle("latched", on);
  };
  const transform = (data: string) => {
    if (!ctrl) return data;
    setCtrl(false);
    return ctrlOf(data);
  };
  // Ctrl+arrow is CSI 1;5 X (word moves in shells); plain arrows follow DECCKM.
  const arrow = (label: string, final: string, name: string) =>
    button(
      label,
      () => {
        if (ctrl) {
          setCtrl(false);
          options.send(`\x1b[1;5${final}`);
        } else {
          options.send(`${options.applicationCursor() ? "\x1bO" : "\x1b["}${final}`);
        }
      },
      { class: "key", testid: `key-${name}`, attrs: { "aria-label": name } },
    );
  const element = h(
    "div",
    {
      class: "keybar",
      testid: "keybar",
      attrs: { role: "toolbar", "aria-label": "Terminal keys" },
    },
    button("Esc", () => options.send("\x1b"), { class: "key", testid: "key-esc" }),
    button("Tab", () => options.send(transform("\t")), { class: "key", testid: "key-tab" }),
    ctrlButton,
    arrow("←", "D", "left"),
    arrow("↑", "A", "up"),
    arrow("↓", "B", "down"),
    arrow("→", "C", "right"),
    button("Paste", () => options.paste(), { class: "key", testid: "key-paste" }),
  );
  // Keep the terminal's focus (and the on-screen keyboard) when a key is tapped.
  element.addEventListener("pointerdown", (event) => event.preventDefault());
  element.addEventListener("click", () => options.refocus());
  return { element, transform };
}

/** Whether the key bar should show: a touch screen is the main pointer. */
export function coarsePointer(): MediaQueryList {
  return matchMedia("(pointer: coarse)");
}
