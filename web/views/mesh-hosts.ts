// #/mesh: the hosts of the mesh as the map lists them (only those the policy lets this node
// see), live: online state, path and RTT are pushed by the engine (MeshWatch), never polled.
// A search box (name, address, tag, owner) and filters (online only, a tag); a row opens the
// host's page, its SSH button the keyless SSH dialog.

import type { MeshHost, MeshStatus } from "../../worker/api.ts";
import { button, h, input, replace } from "../dom.ts";
import { relativeTime } from "../format.ts";
import { formatRoute } from "../router.ts";
import type { MeshWatch } from "../shell/mesh-watch.ts";
import { allTags, filterHosts, type MeshFilter, pathText } from "./mesh-filter.ts";
import { renderMeshState } from "./mesh-state.ts";

export interface MeshHostsActions {
  ssh(host: MeshHost): void;
}

/** "online", "seen 3 min ago", "never seen". */
export function seenText(host: MeshHost): string {
  if (host.online) return "online";
  return host.lastSeen === null ? "never seen" : `seen ${relativeTime(host.lastSeen)}`;
}

export class MeshHostsView {
  readonly element: HTMLElement;
  private readonly state: HTMLElement;
  private readonly list: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly tagSelect: HTMLSelectElement;
  private readonly filter: MeshFilter = { query: "", onlineOnly: false, tag: "" };
  private status: MeshStatus = { state: "stopped" };
  private hosts: MeshHost[] = [];
  private readonly unsubscribe: () => void;
  private readonly retry: HTMLButtonElement;

  constructor(
    mesh: MeshWatch,
    private readonly actions: MeshHostsActions,
  ) {
    this.state = h("p", { class: "mesh-state", testid: "mesh-state", attrs: { role: "status" } });
    // An engine error (the control server was unreachable, say) can be retried in place.
    this.retry = button("Retry", () => void mesh.start(), {
      class: "small",
      testid: "mesh-retry",
    });
    this.retry.hidden = true;
    const search = input({
      testid: "mesh-search",
      placeholder: "Search name, address, tag, owner",
    });
    search.type = "search";
    search.setAttribute("aria-label", "Search hosts");
    search.addEventListener("input", () => {
      this.filter.query = search.value;
      this.renderList();
    });
    const online = h("input", { testid: "mesh-online-only", attrs: { type: "checkbox" } });
    online.addEventListener("change", () => {
      this.filter.onlineOnly = online.checked;
      this.renderList();
    });
    this.tagSelect = h("select", { testid: "mesh-tag", attrs: { "aria-label": "Tag" } });
    this.tagSelect.addEventListener("change", () => {
      this.filter.tag = this.tagSelect.value;
      this.renderList();
    });
    this.summary = h("p", { class: "muted mesh-summary", testid: "mesh-summary" });
    this.list = h("ul", { class: "mesh-host-list", testid: "mesh-host-list" });
    this.element = h(
      "section",
      { class: "page mesh-hosts", testid: "mesh-hosts", attrs: { "aria-label": "Mesh hosts" } },
      h("div", { class: "page-head" }, h("h1", { text: "Mesh hosts" }), this.retry),
      this.state,
      h(
        "div",
        { class: "mesh-toolbar" },
        search,
        h("label", { class: "check" }, online, "Online only"),
        this.tagSelect,
      ),
      this.summary,
      this.list,
    );
    this.unsubscribe = mesh.subscribe((status, hosts) => {
      this.status = status;
      this.hosts = hosts;
      renderMeshState(this.state, status);
      this.retry.hidden = status.state !== "error";
      this.renderTags();
      this.renderList();
    });
  }

  stop(): void {
    this.unsubscribe();
  }

  private renderTags(): void {
    const tags = allTags(this.hosts);
    if (this.filter.tag !== "" && !tags.includes(this.filter.tag)) this.filter.tag = "";
    this.tagSelect.hidden = tags.length === 0;
    const current = [...this.tagSelect.options].map((o) => o.value).join("\n");
    if (current === ["", ...tags].join("\n")) return;
    replace(
      this.tagSelect,
      h("option", { text: "Any tag", attrs: { value: "" } }),
      ...tags.map((tag) => h("option", { text: tag, attrs: { value: tag } })),
    );
    this.tagSelect.value = this.filter.tag;
  }

  private renderList(): void {
    const shown = filterHosts(this.hosts, this.filter);
    const online = this.hosts.filter((h) => h.online).length;
    this.summary.textContent =
      this.hosts.length === 0
        ? this.status.state === "ready"
          ? "No hosts: the policy lets this browser see none yet, or no host has joined."
          : ""
        : `${this.hosts.length} ${this.hosts.length === 1 ? "host" : "hosts"}, ${online} online${shown.length < this.hosts.length ? `; ${shown.length} shown` : ""}.`;
    replace(this.list, ...shown.map((host) => this.row(host)));
  }

  private row(host: MeshHost): HTMLElement {
    const state = host.online ? "online" : "offline";
    return h(
      "li",
      {
        class: "mesh-host",
        testid: "mesh-host-item",
        data: { name: host.name, online: String(host.online) },
      },
      h(
        "a",
        {
          class: "mesh-host-main",
          testid: "mesh-host-link",
          attrs: { href: formatRoute({ kind: "mesh-host", name: host.name }) },
        },
        h(
          "span",
          { class: "mesh-host-title" },
          h("span", { class: "dot", testid: "mesh-host-dot", data: { state } }),
          h("span", { class: "mesh-host-name", text: host.name }),
          host.os ? h("span", { class: "badge", text: host.os }) : null,
          ...host.tags.map((tag) => h("span", { class: "badge tag", text: tag })),
        ),
        h(
          "span",
          { class: "mesh-host-meta" },
          h("span", { class: "mono", text: host.addresses.join(", ") }),
          h("span", { testid: "mesh-host-path", text: pathText(host) }),
          h("span", { testid: "mesh-host-seen", text: seenText(host) }),
          host.owner ? h("span", { text: host.owner.name || host.owner.email }) : null,
        ),
      ),
      button("SSH", () => this.actions.ssh(host), {
        class: "small",
        testid: "mesh-ssh",
        attrs: { "aria-label": `SSH to ${host.name}` },
      }),
    );
  }
}
