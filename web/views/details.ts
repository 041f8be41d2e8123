// A network's details in the main area (networkStatus, every 2 s while shown): state, relay
// URL, state and round trip, the relay's warning (unencrypted ws:// over a network) and error
// (refused, or not the pinned key), and per peer the last handshake and bytes received and sent,
// and why it does not answer when the engine knows (peer-problem.ts).

import type { NetworkStatus, NetworkSummary } from "../../worker/api.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { button, errorText, h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { bytes, relativeTime } from "../format.ts";
import { problemLine } from "./peer-problem.ts";
import { relayNotices } from "./relay-notices.ts";

const REFRESH_MS = 2_000;

export class DetailsView {
  readonly element: HTMLElement;
  private readonly live: HTMLElement;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly network: NetworkSummary,
    onRemoved: () => void,
  ) {
    this.live = h("div", { class: "details-live" }, h("p", { class: "muted", text: "Loading…" }));
    const copy: HTMLButtonElement = button(
      "Copy",
      () => void copyText(network.publicKey).then((ok) => flashCopied(copy, ok)),
      { class: "small" },
    );
    const remove = button(
      "Remove network",
      () => {
        void openDialog<boolean>({
          title: `Remove ${network.name}?`,
          body: [
            h(
              "p",
              { class: "dialog-text" },
              "Its private key is deleted from this browser; the hosts' [Peer] entries for it stop working.",
            ),
          ],
          submitLabel: "Remove",
          danger: true,
          onSubmit: async () => {
            await engine.removeNetwork(network.id);
            return true;
          },
        }).then((removed) => {
          if (removed) onRemoved();
        });
      },
      { class: "danger small", testid: "remove-network" },
    );
    this.element = h(
      "section",
      {
        class: "page details",
        testid: "details-panel",
        attrs: { "aria-label": `${network.name} details` },
      },
      h("div", { class: "page-head" }, h("h1", { text: network.name }), remove),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Public key" }),
        h(
          "dd",
          {},
          h("code", { class: "mono", testid: "network-public-key", text: network.publicKey }),
          " ",
          copy,
        ),
        h("dt", { text: "Addresses" }),
        h("dd", { text: network.addresses.join(", ") }),
        h("dt", { text: "Kept" }),
        h("dd", {
          text: network.persisted
            ? "in this browser (IndexedDB)"
            : "in memory only (not saved; gone when the browser closes)",
        }),
      ),
      this.live,
    );
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh();
    }, REFRESH_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    try {
      const status = await this.engine.networkStatus(this.network.id);
      if (!this.stopped) this.render(status);
    } catch (error) {
      if (!this.stopped) {
        replace(this.live, h("p", { class: "form-error", text: `No status: ${errorText(error)}` }));
      }
    }
  }

  private render(status: NetworkStatus): void {
    const now = Date.now();
    const peerConfig = new Map(this.network.peers.map((p) => [p.publicKey, p]));
    replace(
      this.live,
      h("h2", { text: "Status" }),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "State" }),
        h(
          "dd",
          { testid: "network-state", data: { state: status.state } },
          h("span", { class: "dot", data: { state: status.state } }),
          status.state,
          status.error ? h("span", { class: "error-text", text: ` — ${status.error}` }) : null,
        ),
        h("dt", { text: "Relay" }),
        h("dd", { class: "mono", text: status.relay.url }),
        h("dt", { text: "Relay state" }),
        h(
          "dd",
          { testid: "relay-state" },
          status.relay.state,
          status.relay.rttMs === null ? "" : ` · ${Math.round(status.relay.rttMs)} ms round trip`,
        ),
      ),
      ...relayNotices(status.relay).map((notice) =>
        h(
          "p",
          {
            class: "form-error relay-notice",
            testid: `relay-${notice.kind}`,
            data: { kind: notice.kind },
            attrs: { role: notice.kind === "error" ? "alert" : "status" },
          },
          h("strong", { text: `${notice.title}: ` }),
          notice.text,
        ),
      ),
      h("h2", { text: "Peers" }),
      // Outside the table: it scrolls sideways on a narrow screen, a sentence must not.
      ...status.peers.flatMap((peer) =>
        peer.problem === undefined
          ? []
          : [
              h(
                "p",
                {
                  class: "peer-problem-note",
                  testid: "peer-problem-row",
                  attrs: { role: "status" },
                },
                h("strong", { text: `Offline (peer ${peer.publicKey.slice(0, 12)}…): ` }),
                problemLine(peer.problem, "peer-problem"),
              ),
            ],
      ),
      h(
        "table",
        { class: "peers", testid: "peer-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Public key", "Endpoint", "Allowed IPs", "Last handshake", "Received", "Sent"].map(
              (t) => h("th", { text: t }),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          ...status.peers.map((peer) => {
            const config = peerConfig.get(peer.publicKey);
            return h(
              "tr",
              { testid: "peer-row" },
              h("td", {
                class: "mono",
                title: peer.publicKey,
                text: `${peer.publicKey.slice(0, 12)}…`,
              }),
              h("td", { text: config?.endpoint ?? "via relay" }),
              h("td", { text: config?.allowedIps.join(", ") ?? "" }),
              h("td", { testid: "peer-handshake", text: relativeTime(peer.lastHandshake, now) }),
              h("td", { text: bytes(peer.rxBytes) }),
              h("td", { text: bytes(peer.txBytes) }),
            );
          }),
        ),
      ),
    );
  }
}
