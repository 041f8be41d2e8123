// The small find bar over a terminal (Ctrl/Cmd+F): Enter finds the next match, Shift+Enter
// the previous one, Escape closes and returns to the terminal.

import { button, h, input } from "../dom.ts";

export interface SearchTarget {
  findNext(query: string): boolean;
  findPrevious(query: string): boolean;
  clearSearch(): void;
  focus(): void;
}

export interface SearchBar {
  element: HTMLElement;
  open(): void;
  close(): void;
}

export function createSearchBar(target: () => SearchTarget | undefined): SearchBar {
  const query = input({ testid: "search-input", placeholder: "Find" });
  query.setAttribute("aria-label", "Find in terminal");
  const status = h("span", { class: "search-status", attrs: { "aria-live": "polite" } });
  const run = (backwards: boolean) => {
    const t = target();
    if (!t || !query.value) {
      status.textContent = "";
      return;
    }
    const found = backwards ? t.findPrevious(query.value) : t.findNext(query.value);
    status.textContent = found ? "" : "No match";
  };
  const element = h(
    "div",
    { class: "search-bar", testid: "search-bar", attrs: { role: "search" } },
    query,
    status,
    button("↑", () => run(true), { class: "small ghost", title: "Previous (Shift+Enter)" }),
    button("↓", () => run(false), { class: "small ghost", title: "Next (Enter)" }),
    button("×", () => close(), {
      class: "small ghost",
      title: "Close (Escape)",
      testid: "search-close",
    }),
  );
  element.hidden = true;
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      run(event.shiftKey);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  query.addEventListener("input", () => run(false));
  const open = () => {
    element.hidden = false;
    query.focus();
    query.select();
  };
  const close = () => {
    element.hidden = true;
    status.textContent = "";
    const t = target();
    t?.clearSearch();
    t?.focus();
  };
  return { element, open, close };
}
