// What a closed session shows over its terminal: the reason and a Reconnect button, or, when
// the server's host key changed, a hard stop with both fingerprints and no way to continue.

import { button, h } from "../dom.ts";

export function isHostKeyChange(detail: string): boolean {
  return detail.includes("HAS CHANGED");
}

export function closedPanel(reason: string, onReconnect: () => void): HTMLElement {
  return h(
    "div",
    { class: "session-closed", testid: "session-closed", attrs: { role: "status" } },
    h("p", { class: "closed-title", text: "Session closed" }),
    h("p", {
      class: "closed-reason",
      testid: "closed-reason",
      text: reason || "The connection ended.",
    }),
    button("Reconnect", onReconnect, { class: "primary", testid: "reconnect" }),
  );
}

export function hostKeyWarning(detail: string, target: string): HTMLElement {
  const fingerprints = [...new Set(detail.match(/SHA256:[A-Za-z0-9+/=]+/g) ?? [])];
  return h(
    "div",
    { class: "hostkey-warning", testid: "hostkey-warning", attrs: { role: "alert" } },
    h("p", { class: "warning-title", text: `WARNING: the host key of ${target} HAS CHANGED` }),
    h(
      "p",
      {},
      "The server presented a different key than the one trusted before. Someone could be " +
        "intercepting the connection, or the host was reinstalled. The connection was refused.",
    ),
    fingerprints.length > 0
      ? h(
          "dl",
          { class: "facts" },
          ...fingerprints.flatMap((fp, i) => [
            h("dt", {
              text:
                fingerprints.length === 2
                  ? i === 0
                    ? "Trusted key"
                    : "Key now presented"
                  : `Key ${i + 1}`,
            }),
            h("dd", { class: "mono", testid: "hostkey-warning-fingerprint", text: fp }),
          ]),
        )
      : null,
    h("pre", { class: "warning-detail", text: detail }),
    h(
      "p",
      { class: "muted" },
      "Check the host's key with its administrator. Corridor will not connect to this host " +
        "while the keys differ.",
    ),
  );
}
