// The sidebar's mesh part, above the wg-quick networks: "Mesh" (this browser's node state and
// how many hosts are online, or "Sign in"), and for admins the admin views. Plain links to the
// page's routes, so they can be opened in a new tab and the current one is marked.

import type { MeshStatus } from "../../worker/api.ts";
import { h, replace } from "../dom.ts";
import { ADMIN_SECTIONS, type AdminSection, formatRoute, type Route } from "../router.ts";
import { meshDot } from "./mesh-state.ts";

const ADMIN_LABELS: Record<AdminSection, string> = {
  nodes: "Nodes",
  users: "Users",
  keys: "Keys",
  policy: "Policy",
  audit: "Audit",
};

export type NavAccount = "unavailable" | "signed-out" | "signed-in";

export class SidebarNav {
  readonly element: HTMLElement;
  private readonly meshLink: HTMLAnchorElement;
  private readonly meshMeta: HTMLElement;
  private readonly admin: HTMLElement;
  private readonly sharesItem: HTMLElement;
  private account: NavAccount = "unavailable";

  constructor() {
    this.meshMeta = h("span", { class: "network-meta", testid: "nav-mesh-meta" });
    this.meshLink = h(
      "a",
      { class: "network-item nav-item", testid: "nav-mesh", attrs: { href: "#/mesh" } },
      h(
        "span",
        { class: "network-label" },
        h("span", { class: "network-name", text: "Mesh" }),
        this.meshMeta,
      ),
    );
    // The person's share links (#/shares), when signed in.
    this.sharesItem = h(
      "li",
      { class: "network" },
      h(
        "a",
        { class: "network-item nav-item", testid: "nav-shares", attrs: { href: "#/shares" } },
        h("span", { class: "network-label" }, h("span", { class: "network-name", text: "Shares" })),
      ),
    );
    this.sharesItem.hidden = true;
    this.admin = h("nav", {
      class: "nav-admin",
      testid: "nav-admin",
      attrs: { "aria-label": "Admin" },
    });
    this.element = h(
      "div",
      { class: "sidebar-nav", testid: "sidebar-nav" },
      h("div", { class: "sidebar-head" }, h("h2", { text: "Mesh" })),
      h(
        "ul",
        { class: "network-list" },
        h("li", { class: "network" }, this.meshLink),
        this.sharesItem,
      ),
      this.admin,
    );
    this.element.hidden = true;
    this.admin.hidden = true;
  }

  /** Shows the mesh entry for `account` and the admin links when `isAdmin`. */
  setAccount(account: NavAccount, isAdmin: boolean): void {
    this.account = account;
    this.element.hidden = account === "unavailable";
    this.admin.hidden = !(account === "signed-in" && isAdmin);
    this.sharesItem.hidden = account !== "signed-in";
    replace(
      this.admin,
      h("div", { class: "sidebar-head" }, h("h2", { text: "Admin" })),
      h(
        "ul",
        { class: "network-list" },
        ...ADMIN_SECTIONS.map((section) =>
          h(
            "li",
            { class: "network" },
            h("a", {
              class: "network-item nav-item",
              testid: `nav-admin-${section}`,
              text: ADMIN_LABELS[section],
              attrs: { href: formatRoute({ kind: "admin", section }) },
            }),
          ),
        ),
      ),
    );
    if (account !== "signed-in") this.meshMeta.textContent = "Sign in";
  }

  /** The node's state and how many hosts are online. */
  setMesh(status: MeshStatus, online: number, total: number): void {
    if (this.account !== "signed-in") return;
    const text =
      status.state === "ready" || status.state === "reconnecting"
        ? `${online} of ${total} online`
        : status.state;
    replace(this.meshMeta, h("span", { class: "dot", data: { state: meshDot(status) } }), text);
  }

  /** Marks the link of the route on screen. */
  markCurrent(route: Route): void {
    const current = formatRoute(
      route.kind === "mesh-host"
        ? { kind: "mesh" }
        : route.kind === "home"
          ? { kind: "mesh" }
          : route,
    );
    for (const link of this.element.querySelectorAll<HTMLAnchorElement>("a.nav-item")) {
      const here = link.getAttribute("href") === current && route.kind !== "home";
      link.parentElement?.classList.toggle("selected", here);
      if (here) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }
}
