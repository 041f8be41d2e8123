// The hosts of one network, under it in the sidebar: online status from pingHost (refreshed
// every 10 s while shown), add and remove hosts, "SSH" and the details panel. An offline host
// says why when the engine knows (the relay refused its endpoint, nothing listens there, or no
// answer to our handshake: peer-problem.ts).

import type { HostEntry, NetworkSummary } from "../../worker/api.ts";
import { button, errorText, h, input, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import {
  networkErrorOf,
  type PeerProblem,
  problemForAddress,
  problemLine,
} from "./peer-problem.ts";

const PING_EVERY_MS = 10_000;
/** The network's state (its error, why hosts are offline) is read more often: it is local. */
const STATUS_EVERY_MS = 3_000;
const PING_TIMEOUT_MS = 3_000;

export interface HostsCallbacks {
  onSsh(network: NetworkSummary, host: HostEntry): void;
  onDetails(network: NetworkSummary): void;
}

type PingState =
  | { state: "checking" }
  | { state: "online"; rttMs: number }
  | { state: "offline"; problem?: PeerProblem };

export class HostsView {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly message: HTMLElement;
  private readonly networkError: HTMLElement;
  private hosts: HostEntry[] = [];
  private readonly pings = new Map<string, PingState>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private statusTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly onVisibility = () => {
    if (document.visibilityState === "visible") void this.pingAll();
  };

  constructor(
    private readonly engine: Engine,
    readonly network: NetworkSummary,
    private readonly callbacks: HostsCallbacks,
  ) {
    this.list = h("ul", { class: "host-list", testid: "host-list" });
    this.message = h("p", { class: "sidebar-message", attrs: { role: "status" } });
    this.networkError = h("p", {
      class: "network-error",
      testid: "network-error",
      attrs: { role: "alert" },
    });
    this.networkError.hidden = true;
    const address = input({ testid: "add-host-address", placeholder: "100.64.0.2" });
    address.setAttribute("aria-label", "Host address");
    const name = input({ testid: "add-host-name", placeholder: "name (optional)" });
    name.setAttribute("aria-label", "Host name");
    const addForm = h(
      "form",
      { class: "add-host", testid: "add-host-form" },
      address,
      name,
      h("button", {
        class: "small",
        testid: "add-host-submit",
        text: "Add",
        attrs: { type: "submit" },
      }),
    );
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const addr = address.value.trim();
      if (!addr) return;
      this.engine
        .addHost(network.id, addr, name.value.trim())
        .then(() => {
          address.value = "";
          name.value = "";
          return this.refresh();
        })
        .catch((error: unknown) => this.showMessage(errorText(error), true));
    });
    this.element = h(
      "div",
      { class: "hosts", testid: "hosts" },
      h(
        "div",
        { class: "hosts-head" },
        h("span", { class: "muted", text: "Hosts" }),
        button("Details", () => callbacks.onDetails(network), {
          class: "small ghost",
          testid: "details-button",
        }),
      ),
      this.networkError,
      this.message,
      this.list,
      addForm,
    );
    this.showMessage("Loading hosts…");
  }

  /** Starts the network, lists hosts and pings them every 10 s until stop(). */
  start(): void {
    this.engine.startNetwork(this.network.id).catch((error: unknown) => {
      this.showMessage(`The network did not start: ${errorText(error)}`, true);
    });
    void this.refresh();
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.pingAll();
    }, PING_EVERY_MS);
    this.statusTimer = setInterval(() => {
      if (document.visibilityState === "visible") void this.explainOffline();
    }, STATUS_EVERY_MS);
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.statusTimer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  async refresh(): Promise<void> {
    try {
      this.hosts = await this.engine.listHosts(this.network.id);
      if (this.stopped) return;
      this.showMessage(this.hosts.length === 0 ? "No hosts yet: add one by its mesh address." : "");
      this.render();
      void this.pingAll();
    } catch (error) {
      this.showMessage(`Could not list hosts: ${errorText(error)}`, true);
    }
  }

  private showMessage(text: string, isError = false): void {
    this.message.textContent = text;
    this.message.hidden = text === "";
    this.message.classList.toggle("error", isError);
  }

  private async pingAll(): Promise<void> {
    await Promise.all(
      this.hosts.map(async (host) => {
        if (!this.pings.has(host.address)) this.setPing(host.address, { state: "checking" });
        let result: PingState;
        try {
          const rtt = await this.engine.pingHost(this.network.id, host.address, PING_TIMEOUT_MS);
          result = rtt === null ? { state: "offline" } : { state: "online", rttMs: rtt };
        } catch {
          result = { state: "offline" };
        }
        // Still offline: keep the cause shown until explainOffline() has a newer one.
        const previous = this.pings.get(host.address);
        if (result.state === "offline" && previous?.state === "offline") result = previous;
        if (!this.stopped) this.setPing(host.address, result);
      }),
    );
    await this.explainOffline();
  }

  /**
   * Reads the network's status: its own error (relay refused, stopped) goes in the sidebar, and
   * offline hosts get the cause the engine knows.
   */
  private async explainOffline(): Promise<void> {
    if (this.stopped) return;
    let status: Awaited<ReturnType<Engine["networkStatus"]>>;
    try {
      status = await this.engine.networkStatus(this.network.id);
    } catch {
      return; // the network did not start: start() already says so
    }
    if (this.stopped) return;
    const error = networkErrorOf(status);
    this.networkError.textContent = error ?? "";
    this.networkError.hidden = error === undefined;
    for (const [address, ping] of [...this.pings]) {
      if (ping.state !== "offline") continue;
      const problem = problemForAddress(status, this.network, address);
      this.setPing(
        address,
        problem === undefined ? { state: "offline" } : { state: "offline", problem },
      );
    }
  }

  private setPing(address: string, ping: PingState): void {
    this.pings.set(address, ping);
    const item = this.list.querySelector<HTMLElement>(
      `[data-testid="host-item"][data-address="${CSS.escape(address)}"]`,
    );
    const el = item?.querySelector<HTMLElement>(".host-status");
    if (el) renderStatus(el, ping);
    const why = item?.querySelector<HTMLElement>(".host-problem");
    if (why) renderProblem(why, ping);
  }

  private render(): void {
    replace(
      this.list,
      ...this.hosts.map((host) => {
        const status = h("span", { class: "host-status", testid: "host-status" });
        const ping = this.pings.get(host.address) ?? { state: "checking" };
        renderStatus(status, ping);
        const why = h("span", { class: "host-problem", attrs: { role: "status" } });
        renderProblem(why, ping);
        return h(
          "li",
          {
            class: "host",
            testid: "host-item",
            data: { address: host.address, source: host.source },
          },
          status,
          h(
            "span",
            { class: "host-label" },
            h("span", { class: "host-name", text: host.name || host.address }),
            host.name ? h("span", { class: "host-address", text: host.address }) : null,
            why,
          ),
          button("SSH", () => this.callbacks.onSsh(this.network, host), {
            class: "small",
            testid: "ssh-button",
            attrs: { "aria-label": `SSH to ${host.name || host.address}` },
          }),
          host.source === "user"
            ? button(
                "×",
                () => {
                  this.engine
                    .removeHost(this.network.id, host.address)
                    .then(() => this.refresh())
                    .catch((error: unknown) => this.showMessage(errorText(error), true));
                },
                {
                  class: "small ghost icon",
                  testid: "remove-host",
                  attrs: { "aria-label": `Remove ${host.name || host.address}` },
                },
              )
            : null,
        );
      }),
    );
  }
}

function renderProblem(el: HTMLElement, ping: PingState): void {
  const problem = ping.state === "offline" ? ping.problem : undefined;
  el.hidden = problem === undefined;
  if (problem === undefined) replace(el);
  else replace(el, problemLine(problem, "host-problem"));
}

function renderStatus(el: HTMLElement, ping: PingState): void {
  el.dataset.status = ping.state;
  const text =
    ping.state === "online"
      ? `${Math.round(ping.rttMs)} ms`
      : ping.state === "offline"
        ? "offline"
        : "checking…";
  el.title = ping.state === "online" ? `online, ${text}` : text;
  replace(
    el,
    h("span", { class: "dot", data: { state: ping.state } }),
    h("span", { class: "rtt", text }),
  );
}
