// What a closed session shows over its terminal: the reason and a Reconnect button, or, when
// the server's host key changed, a hard stop with both fingerprints and no way to continue.
// After a mesh host's identity SSH server refused the login (its policy, not the network), a
// reconnect as the same user would be refused again: the panel offers "Back to hosts" and
// "Other user" (the SSH dialog again) instead.

import { button, h } from "../dom.ts";

export function isHostKeyChange(detail: string): boolean {
  return detail.includes("HAS CHANGED");
}

/** The way on after the identity SSH server's refusal. */
export interface RefusedActions {
  /** To the hosts list (#/mesh). */
  backToHosts: () => void;
  /** The SSH dialog for the same host again, to pick another user. */
  otherUser: () => void;
}

/**
 * The panel of a closed session; `refused` set: the server refused the login; no `onReconnect`:
 * nothing to reconnect to (a share's access ended), no button.
 */
export function closedPanel(
  reason: string,
  onReconnect: (() => void) | undefined,
  refused?: RefusedActions,
): HTMLElement {
  const actions = refused
    ? h(
        "div",
        { class: "actions" },
        button("Back to hosts", refused.backToHosts, { class: "primary", testid: "back-to-hosts" }),
        button("Other user", refused.otherUser, { testid: "other-user" }),
      )
    : onReconnect === undefined
      ? null
      : button("Reconnect", onReconnect, { class: "primary", testid: "reconnect" });
  return h(
    "div",
    { class: "session-closed", testid: "session-closed", attrs: { role: "status" } },
    h("p", { class: "closed-title", text: "Session closed" }),
    h("p", {
      class: "closed-reason",
      testid: "closed-reason",
      text: reason || "The connection ended.",
    }),
    actions,
  );
}

export function hostKeyWarning(detail: string, target: string, onForget: () => void): HTMLElement {
  // The engine's message reads "…the server sent TYPE SHA256:X, but the known key is
  // TYPE SHA256:Y (line N)…" (worker/ssh/host-key-policy.ts); the types differ when the
  // server offered no key of the type trusted before, which is refused as a change too.
  const sent = /server sent (\S+) (SHA256:[A-Za-z0-9+/=]+)/.exec(detail);
  const trusted = [...detail.matchAll(/known key is ([^.]*)/g)].flatMap((m) => [
    ...(m[1] ?? "").matchAll(/(?:([a-z0-9@-]+) )?(SHA256:[A-Za-z0-9+/=]+)/g),
  ]);
  const withType = (label: string, type: string | undefined) =>
    type ? `${label} (${type})` : label;
  const rows: [string, string][] = [
    ...trusted.map((m): [string, string] => [withType("Trusted key", m[1]), m[2] ?? ""]),
    ...(sent?.[2] ? [[withType("Key now presented", sent[1]), sent[2]] as [string, string]] : []),
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
