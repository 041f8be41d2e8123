// The main area when no terminal is in front: a short welcome, or a message (deep links).

import { button, h } from "../dom.ts";

export function homeView(hasNetworks: boolean, onAdd: () => void): HTMLElement {
  return h(
    "section",
    { class: "page home", testid: "home" },
    h(
      "div",
      { class: "welcome" },
      h("h1", { text: hasNetworks ? "Open a terminal" : "Welcome to Corridor" }),
      hasNetworks
        ? h("p", {
            class: "lead",
            text: "Pick a network in the sidebar, then press SSH next to a host.",
          })
        : h(
            "p",
            { class: "lead" },
            "Corridor joins a WireGuard network from this tab and opens SSH terminals to its hosts. " +
              "WireGuard and SSH both run in the browser; the relay only sees ciphertext.",
          ),
      hasNetworks
        ? null
        : button("Add a network", onAdd, { class: "primary large", testid: "welcome-add-network" }),
    ),
  );
}

export function messageView(title: string, text: string, testid: string): HTMLElement {
  return h(
    "section",
    { class: "page home", testid },
    h(
      "div",
      { class: "welcome notice", attrs: { role: "alert" } },
      h("h1", { text: title }),
      h("p", { text }),
    ),
  );
}
