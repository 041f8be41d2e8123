// A #/ssh/USER@HOST link can come from any web site. Before anything connects (not even the
// network starts), the person sees what the link asks for — network, host, user, port, the
// site it came from — and which SSH keys would be offered, and confirms or cancels.

import type { NetworkSummary } from "../../worker/api.ts";
import { h } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { openDialog } from "./dialog.ts";
import { createKeyChooser } from "./key-chooser.ts";

/** What a link asks to open. */
export interface LinkRequest {
  /** The wg-quick network, or the mesh ({id: "mesh", name: "Mesh"}). */
  network: Pick<NetworkSummary, "id" | "name">;
  /** Identity SSH to a mesh host: no keys are offered, so none are chosen. */
  keyless?: boolean;
  host: string;
  /** The host's name in the network, or "". */
  hostName: string;
  user: string;
  port: number;
  /** The origin of the page that linked here (document.referrer), or "" when not sent. */
  from: string;
}

/** Resolves with the keys to offer once the person confirms; null when cancelled. */
export function confirmDeepLink(
  engine: Engine,
  link: LinkRequest,
): Promise<{ keyIds: string[] } | null> {
  const keys = link.keyless
    ? null
    : createKeyChooser(engine, link.network.id, link.host, link.user);
  const hostText = link.hostName ? `${link.hostName} (${link.host})` : link.host;
  return openDialog<{ keyIds: string[] }>({
    title: "Open an SSH session from a link?",
    testid: "deeplink-dialog",
    submitTestid: "deeplink-connect",
    body: [
      h(
        "p",
        { class: "dialog-text" },
        "A link asks this page to log in to a host. Nothing has connected yet. Continue only if you meant to open this session.",
      ),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Network" }),
        h("dd", { testid: "deeplink-network", text: link.network.name }),
        h("dt", { text: "Host" }),
        h("dd", { testid: "deeplink-host", class: "mono", text: hostText }),
        h("dt", { text: "User" }),
        h("dd", { testid: "deeplink-user", class: "mono", text: link.user }),
        h("dt", { text: "Port" }),
        h("dd", { testid: "deeplink-port", text: String(link.port) }),
        h("dt", { text: "Link from" }),
        h("dd", {
          testid: "deeplink-from",
          class: "mono",
          text: link.from || "unknown (the linking site sent no referrer)",
        }),
      ),
      keys?.element ?? null,
    ],
    submitLabel: "Connect",
    onSubmit: () => ({ keyIds: keys?.selected() ?? [] }),
  });
}
