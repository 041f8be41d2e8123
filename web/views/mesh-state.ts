// One line saying where this browser's mesh node is (starting, ready, reconnecting, refused),
// shared by the mesh pages and the sidebar.

import type { MeshStatus } from "../../worker/api.ts";
import { h, replace } from "../dom.ts";

const STATE_TEXT: Record<MeshStatus["state"], string> = {
  stopped: "Not joined",
  starting: "Joining the mesh…",
  ready: "On the mesh",
  reconnecting: "Reconnecting to the control server…",
  refused: "Refused by the control server",
  error: "The mesh did not start",
};

/** A dot state for the status (the page's .dot colours). */
export function meshDot(status: MeshStatus): string {
  switch (status.state) {
    case "ready":
      return "online";
    case "starting":
    case "reconnecting":
      return "checking";
    case "stopped":
      return "idle";
    default:
      return "error";
  }
}

/** Renders `status` into `el` (a dot, the state, the detail and this node's name). */
export function renderMeshState(el: HTMLElement, status: MeshStatus): void {
  el.dataset.state = status.state;
  const self = status.self ? ` as ${status.self.name} (${status.self.addresses.join(", ")})` : "";
  const detail =
    status.detail && status.state !== "ready" && status.state !== "starting"
      ? `: ${status.detail}`
      : "";
  replace(
    el,
    h("span", { class: "dot", data: { state: meshDot(status) } }),
    `${STATE_TEXT[status.state]}${status.state === "ready" ? self : ""}${detail}`,
  );
}
