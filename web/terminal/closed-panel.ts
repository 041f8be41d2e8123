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

export function hostKeyWarning(detail: string, target: string, onForget: () => void): HTMLElement {
  // The engine's message reads "…the server sent TYPE SHA256:X, but the known key is
  // SHA256:Y (line N)…" (worker/ssh/host-key-policy.ts).
  const presented = /server sent \S+ (SHA256:[A-Za-z0-9+/=]+)/.exec(detail)?.[1];
  const trusted = [...detail.matchAll(/known key is ([^.]*)/g)].flatMap(
    (m) => m[1]?.match(/SHA256:[A-Za-z0-9+/=]+/g) ?? [],
  );
  const rows: [string, string][] = [
    ...trusted.map((fp): [string, string] => ["Trusted key", fp]),
    ...(presented ? [["Key now presented", presented] as [string, string]] : []),
  ];
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
    rows.length > 0
      ? h(
          "dl",
          { class: "facts" },
          ...rows.flatMap(([label, fp]) => [
            h("dt", { text: label }),
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
    h(
      "p",
      { class: "muted" },
      "If the host's key was really replaced (a reinstall), forget the trusted key; the next " +
        "connection asks you to check the new fingerprint.",
    ),
    button("Forget the trusted key…", onForget, { testid: "forget-host-key" }),
  );
}
