// #/mesh/host/NAME: one mesh host's details, live from the map (MeshWatch), with SSH and a
// ping through the mesh, and its web services with "Open" (host-services.ts); for its owner or an
// admin, "Share…" (a share link, web/dialogs/share-create.ts).

import { MESH_NETWORK_ID, type MeshHost } from "../../worker/api.ts";
import { button, errorText, h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { relativeTime } from "../format.ts";
import type { AppsPlace } from "../shell/app-links.ts";
import type { MeshWatch } from "../shell/mesh-watch.ts";
import { HostServicesView } from "./host-services.ts";
import { pathText } from "./mesh-filter.ts";
import { seenText } from "./mesh-hosts.ts";

const PING_TIMEOUT_MS = 3_000;

/** "Share…" on the host: who may, and what it does. */
export interface MeshHostSharing {
  /** Whether this person may share `host` (its owner, or an admin). */
  may(host: MeshHost): boolean;
  share(host: MeshHost): void;
}

export class MeshHostView {
  readonly element: HTMLElement;
  private readonly facts: HTMLElement;
  private readonly pingResult: HTMLElement;
  private readonly sshButton: HTMLButtonElement;
  private readonly pingButton: HTMLButtonElement;
  private readonly shareButton: HTMLButtonElement;
  private host: MeshHost | undefined;
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    mesh: MeshWatch,
    private readonly name: string,
    onSsh: (host: MeshHost) => void,
    /** Where private services open (app-links.ts appsPlace); no services section without it. */
    apps?: AppsPlace,
    private readonly sharing?: MeshHostSharing,
  ) {
    this.facts = h("dl", { class: "facts", testid: "mesh-host-facts" });
    this.pingResult = h("p", {
      class: "muted",
      testid: "mesh-ping-result",
      attrs: { role: "status" },
    });
    this.sshButton = button(
      "SSH",
      () => {
        if (this.host) onSsh(this.host);
      },
      { class: "primary", testid: "mesh-host-ssh" },
    );
    this.pingButton = button("Ping", () => void this.ping(), { testid: "mesh-host-ping" });
    this.shareButton = button(
      "Share…",
      () => {
        if (this.host) sharing?.share(this.host);
      },
      { testid: "mesh-host-share" },
    );
    this.shareButton.hidden = true;
    this.element = h(
      "section",
      { class: "page mesh-host-page", testid: "mesh-host-page", attrs: { "aria-label": name } },
      h(
        "div",
        { class: "page-head" },
        h("h1", { text: name }),
        h("div", { class: "actions" }, this.shareButton, this.pingButton, this.sshButton),
      ),
      h("p", {}, h("a", { text: "← All mesh hosts", attrs: { href: "#/mesh" } })),
      this.facts,
      this.pingResult,
      apps === undefined
        ? null
        : new HostServicesView({ networkId: MESH_NETWORK_ID, host: name, place: apps }).element,
    );
    this.unsubscribe = mesh.subscribe((status, hosts) => {
      this.host = mesh.find(name) ?? hosts.find((h) => h.name === name);
      this.render(status.state === "ready" || status.state === "reconnecting");
    });
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  private async ping(): Promise<void> {
    this.pingButton.disabled = true;
    this.pingResult.textContent = "Pinging…";
    try {
      const rtt = await this.engine.pingHost(MESH_NETWORK_ID, this.name, PING_TIMEOUT_MS);
      if (this.stopped) return;
      this.pingResult.textContent =
        rtt === null
          ? `No answer from ${this.name} within ${PING_TIMEOUT_MS / 1000} s.`
          : `${this.name} answered in ${Math.round(rtt)} ms.`;
    } catch (error) {
      if (!this.stopped) this.pingResult.textContent = `Ping failed: ${errorText(error)}`;
    } finally {
      this.pingButton.disabled = false;
    }
  }

  private render(meshUp: boolean): void {
    const host = this.host;
    this.sshButton.disabled = host === undefined;
    this.pingButton.disabled = host === undefined;
    this.shareButton.hidden = host === undefined || this.sharing?.may(host) !== true;
    if (host === undefined) {
      replace(
        this.facts,
        h("dt", { text: "Host" }),
        h("dd", {
          testid: "mesh-host-missing",
          text: meshUp
            ? `Your mesh has no host named ${this.name}: it left, or the policy does not let this browser see it.`
            : "Waiting for the mesh…",
        }),
      );
      return;
    }
    const rows: [string, string, string?][] = [
      ["Status", seenText(host), "mesh-host-status"],
      ["Host name", host.hostname || "—"],
      ["OS", host.os || "—"],
      ["Addresses", host.addresses.join(", ")],
      ["Tags", host.tags.join(", ") || "none"],
      ["Owner", host.owner ? `${host.owner.name} <${host.owner.email}>` : "tagged node"],
      ["Path", pathText(host), "mesh-host-path"],
      ["Last handshake", relativeTime(host.lastHandshake)],
      ["SSH", host.identitySsh ? "identity SSH (host key from the map)" : "not announced"],
      ["Public key", host.key],
    ];
    replace(
      this.facts,
      ...rows.flatMap(([label, value, testid]) => [
        h("dt", { text: label }),
        h("dd", { text: value, ...(testid ? { testid } : {}) }),
      ]),
    );
  }
}
