// The page's frame: a header, the sidebar and the main area (terminal tabs, or a page in front
// of them). On wide screens the sidebar is always shown. On narrow ones (<= 760 px) it is an
// overlay: closed at first load, opened by ☰, closed by a tap outside it and after navigating;
// going from narrow to wide shows it again (the state only means something while narrow).

import { button, h, replace } from "../dom.ts";

/** Below this width the sidebar is an overlay (kept in step with style.css). */
export const NARROW_QUERY = "(max-width: 760px)";

export interface LayoutParts {
  /** Header buttons on the right (SSH keys, Settings). */
  actions: HTMLElement[];
  /** The sidebar's content, top to bottom. */
  sidebar: HTMLElement[];
  /** The terminal tabs' strip and panels. */
  strip: HTMLElement;
  panels: HTMLElement;
}

export class Layout {
  readonly shell: HTMLElement;
  readonly status: HTMLElement;
  readonly account: HTMLElement;
  readonly sidebar: HTMLElement;
  readonly main: HTMLElement;
  readonly pageArea: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly narrow = matchMedia(NARROW_QUERY);

  constructor(root: HTMLElement, parts: LayoutParts) {
    this.status = h("p", {
      class: "engine-status",
      testid: "engine-status",
      text: "Starting the engine…",
      attrs: { id: "engine-status", role: "status" },
    });
    this.account = h("div", { class: "account", testid: "account" });
    this.toggle = button("☰", () => this.setSidebar(!this.isOpen()), {
      class: "ghost icon menu-toggle",
      testid: "menu-toggle",
      attrs: { "aria-label": "Show or hide the sidebar", "aria-controls": "sidebar" },
    });
    const header = h(
      "header",
      { class: "app-header" },
      this.toggle,
      h(
        "a",
        { class: "brand", attrs: { href: "#/" } },
        h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }),
        h("span", { class: "brand-name", text: "Corridor" }),
      ),
      this.status,
      h("div", { class: "header-actions" }, this.account, ...parts.actions),
    );
    this.sidebar = h(
      "aside",
      { class: "sidebar", testid: "sidebar", attrs: { id: "sidebar" } },
      ...parts.sidebar,
    );
    this.pageArea = h("div", { class: "page-area", testid: "page-area" });
    this.main = h(
      "main",
      { class: "main", data: { view: "page" } },
      parts.strip,
      this.pageArea,
      parts.panels,
    );
    this.shell = h(
      "div",
      { class: "app", data: { sidebar: this.narrow.matches ? "closed" : "open" } },
      header,
      this.sidebar,
      this.main,
    );
    this.syncToggle();
    replace(root, this.shell);

    // A tap outside the open overlay closes it (the toggle handles its own taps).
    document.addEventListener("pointerdown", (event) => {
      if (!this.narrow.matches || !this.isOpen()) return;
      const target = event.target;
      if (target instanceof Node && (this.sidebar.contains(target) || this.toggle.contains(target)))
        return;
      this.setSidebar(false);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.narrow.matches && this.isOpen()) this.setSidebar(false);
    });
    // Narrow → wide: the sidebar is part of the grid again; wide → narrow: start closed.
    this.narrow.addEventListener("change", () => this.setSidebar(!this.narrow.matches));
  }

  isOpen(): boolean {
    return this.shell.dataset.sidebar === "open";
  }

  setSidebar(open: boolean): void {
    this.shell.dataset.sidebar = open ? "open" : "closed";
    this.syncToggle();
  }

  /** After a navigation (a page or a session in front): the overlay gets out of the way. */
  navigated(): void {
    if (this.narrow.matches) this.setSidebar(false);
  }

  /** Which of the main area's two layers is in front: a page, or the terminal panels. */
  showLayer(layer: "page" | "session"): void {
    this.main.dataset.view = layer;
    this.pageArea.hidden = layer !== "page";
  }

  setEngineStatus(state: "ready" | "error", text: string): void {
    this.status.dataset.state = state;
    this.status.textContent = text;
    this.status.title = text;
  }

  private syncToggle(): void {
    this.toggle.setAttribute("aria-expanded", String(this.isOpen()));
  }
}
