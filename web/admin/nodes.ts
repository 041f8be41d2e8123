// Admin → Nodes: every node with its online state (from the map side), last seen, addresses,
// owner or tags, OS and key expiry; rename, expire the key, remove (each asked first). The list
// refreshes every 10 s while shown, so online states follow without a reload.

import type { NodeListBody, NodeListEntry, UserListBody } from "../../worker/control/api-views.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { button, field, h, input, replace } from "../dom.ts";
import { relativeTime } from "../format.ts";
import { cell, confirmAction, dataTable, dayCell, poll, StatusLine } from "./common.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";

const REFRESH_MS = 10_000;

/** A mesh name as the server accepts it (server/control/api/schemas.ts nodeNameSchema). */
const NODE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function nodesSection({ api }: AdminDeps): AdminSectionView {
  const status = new StatusLine();
  const list = h("div", { class: "admin-list" }, h("p", { class: "hint", text: "Loading…" }));
  let owners = new Map<number, string>();

  const load = async () => {
    const [{ nodes }, users] = await Promise.all([
      api.get<NodeListBody>("/api/v1/nodes"),
      api.get<UserListBody>("/api/v1/users").catch(() => ({ users: [] })),
    ]);
    owners = new Map(users.users.map((u) => [u.id, u.email || u.name]));
    replace(list, render(nodes));
  };

  const rename = async (node: NodeListEntry) => {
    const name = input({ value: node.name, testid: "rename-input", attrs: { maxlength: "63" } });
    const done = await openDialog<boolean>({
      title: `Rename ${node.name}`,
      body: [field("New name", name, "a-z, 0-9 and inner dashes; peers resolve it at once")],
      submitLabel: "Rename",
      testid: "rename-dialog",
      onSubmit: async () => {
        const wanted = name.value.trim();
        if (!NODE_NAME.test(wanted)) {
          throw new Error(`"${wanted}" is not a name: use a-z, 0-9 and inner dashes (at most 63)`);
        }
        await api.send("PATCH", `/api/v1/nodes/${node.id}`, { name: wanted });
        return true;
      },
    });
    if (done) await refresh(`${node.name} renamed to ${name.value.trim()}.`);
  };

  const expire = async (node: NodeListEntry) => {
    const ok = await confirmAction(
      `Expire ${node.name}'s key?`,
      "The node is disconnected and must sign in again (an agent needs a new auth key or approval).",
      "Expire key",
      () => api.send("POST", `/api/v1/nodes/${node.id}/expire`),
    );
    if (ok) await refresh(`${node.name}'s key expired.`);
  };

  const remove = async (node: NodeListEntry) => {
    const ok = await confirmAction(
      `Remove ${node.name}?`,
      "It leaves every map at once; its addresses and name become free.",
      "Remove node",
      () => api.send("DELETE", `/api/v1/nodes/${node.id}`),
    );
    if (ok) await refresh(`${node.name} removed.`);
  };

  const refresh = async (said: string) => {
    try {
      await load();
      status.info(said);
    } catch (error) {
      status.error(error);
    }
  };

  function render(nodes: NodeListEntry[]): HTMLElement {
    const now = Date.now();
    const rows = nodes.map((n) => {
      const online = n.online === true;
      const expired = n.keyExpiry !== null && n.keyExpiry <= now;
      return h(
        "tr",
        { data: { node: n.name } },
        h(
          "td",
          { class: "nowrap" },
          h("span", {
            class: "dot",
            data: { state: online ? "online" : "unknown" },
            attrs: { "aria-label": online ? "online" : "offline" },
          }),
          h("strong", { text: n.name }),
          n.ephemeral ? h("span", { class: "badge", text: "ephemeral" }) : null,
          h("div", { class: "hint", text: n.os || "—" }),
        ),
        h("td", {
          class: "nowrap",
          text: online ? "online" : n.lastSeen === null ? "never" : relativeTime(n.lastSeen, now),
        }),
        cell(h("span", { class: "mono", text: n.addresses.join(" ") })),
        cell(
          n.userId === null
            ? h("span", { class: "mono", text: n.tags.join(" ") })
            : (owners.get(n.userId) ?? `user ${n.userId}`),
        ),
        expired ? cell(h("span", { class: "error-text", text: "expired" })) : dayCell(n.keyExpiry),
        cell(
          h(
            "span",
            { class: "admin-actions" },
            button("Rename", () => void rename(n), { class: "small", testid: "node-rename" }),
            button("Expire", () => void expire(n), {
              class: "small",
              testid: "node-expire",
              ...(expired ? { attrs: { disabled: "" } } : {}),
            }),
            button("Remove", () => void remove(n), {
              class: "small danger",
              testid: "node-remove",
            }),
          ),
        ),
      );
    });
    return dataTable(
      "admin-nodes",
      ["Node", "Seen", "Addresses", "Owner / tags", "Key expires", ""],
      rows,
      "No nodes yet: sign in from a browser, or start `corridor agent` with an auth key.",
      { cards: true },
    );
  }

  const stop = poll(load, status, REFRESH_MS);
  const element = h(
    "div",
    { class: "admin-section" },
    h(
      "p",
      { class: "lead" },
      "Every node of the mesh. Online states come from the control server's live map; the list refreshes every 10 s.",
    ),
    status.element,
    list,
  );
  return { element, stop };
}
