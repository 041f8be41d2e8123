// The sidebar's list of networks. Selecting one shows its hosts under it (views/hosts.ts).

import type { NetworkSummary } from "../../worker/api.ts";
import { button, h, replace } from "../dom.ts";

export interface NetworksCallbacks {
  onSelect(network: NetworkSummary): void;
  onAdd(): void;
}

export class NetworksView {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly message: HTMLElement;

  constructor(private readonly callbacks: NetworksCallbacks) {
    this.list = h("ul", { class: "network-list", testid: "network-list" });
    this.message = h("p", { class: "sidebar-message", attrs: { role: "status" } });
    this.element = h(
      "nav",
      { class: "networks", attrs: { "aria-label": "Networks" } },
      h(
        "div",
        { class: "sidebar-head" },
        h("h2", { text: "Networks" }),
        button("+ Add network", () => callbacks.onAdd(), {
          class: "small primary",
          testid: "add-network",
        }),
      ),
      this.message,
      this.list,
    );
    this.showMessage("Loading networks…");
  }

  showMessage(text: string, isError = false): void {
    this.message.textContent = text;
    this.message.hidden = text === "";
    this.message.classList.toggle("error", isError);
  }

  /** Redraws the list; `hostsOf` gives the hosts element shown under the selected network. */
  render(
    networks: NetworkSummary[],
    selectedId: string | undefined,
    hosts: HTMLElement | undefined,
  ): void {
    if (networks.length === 0) {
      this.showMessage("");
      replace(
        this.list,
        h(
          "li",
          { class: "empty-networks", testid: "networks-empty" },
          h("p", { text: "No networks yet." }),
          h("p", {
            class: "muted",
            text: "Import a WireGuard config or generate a key to join one.",
          }),
        ),
      );
      return;
    }
    this.showMessage("");
    replace(
      this.list,
      ...networks.map((network) => {
        const selected = network.id === selectedId;
        return h(
          "li",
          { class: selected ? "network selected" : "network" },
          button(
            h(
              "span",
              { class: "network-label" },
              h("span", { class: "network-name", text: network.name }),
              h("span", { class: "network-meta", text: network.addresses.join(", ") }),
              network.persisted ? null : h("span", { class: "badge", text: "not saved" }),
            ),
            () => this.callbacks.onSelect(network),
            {
              class: "network-item",
              testid: "network-item",
              data: { id: network.id, name: network.name },
              attrs: { "aria-expanded": String(selected) },
            },
          ),
          selected ? hosts : null,
        );
      }),
    );
  }
}
