// Admin → Auth keys: the keys agents register with. Create one with its options (reusable,
// ephemeral nodes, tags, expiry): the key is shown once, in a dialog with a Copy button, and
// never again (the server keeps only its hash). The list shows prefixes; revoke asks first.

import type {
  AuthKeyCreatedBody,
  AuthKeyListBody,
  AuthKeyView,
} from "../../worker/control/api-views.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { button, errorText, field, h, input, replace } from "../dom.ts";
import { cell, confirmAction, dataTable, dayCell, poll, StatusLine } from "./common.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";

const REFRESH_MS = 30_000;

/** A tag as the server accepts it (server/control/api/schemas.ts tagSchema). */
const TAG = /^tag:[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const EXPIRIES = [
  ["1h", "1 hour"],
  ["1d", "1 day"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
  ["365d", "1 year"],
] as const;

/** The tags typed in the field ("tag:a, tag:b" or "tag:a tag:b"); throws naming a bad one. */
export function parseTags(text: string): string[] {
  const tags = text.split(/[\s,]+/).filter((t) => t !== "");
  const bad = tags.find((t) => !TAG.test(t));
  if (bad !== undefined) throw new Error(`"${bad.slice(0, 70)}" is not a tag: write tag:NAME`);
  if (tags.length > 16) throw new Error("at most 16 tags");
  return [...new Set(tags)];
}

function keyState(k: AuthKeyView, now: number): HTMLTableCellElement {
  if (k.revokedAt !== null) return cell(h("span", { class: "error-text", text: "revoked" }));
  if (k.expiresAt <= now) return cell(h("span", { class: "error-text", text: "expired" }));
  if (!k.reusable && k.usedCount > 0) return cell("used");
  return cell(h("span", { class: "ok-text", text: "active" }));
}

export function keysSection({ api }: AdminDeps): AdminSectionView {
  const status = new StatusLine();
  const list = h("div", { class: "admin-list" }, h("p", { class: "hint", text: "Loading…" }));

  const reusable = h("input", { testid: "key-reusable", attrs: { type: "checkbox" } });
  const ephemeral = h("input", { testid: "key-ephemeral", attrs: { type: "checkbox" } });
  const tags = input({ testid: "key-tags", placeholder: "tag:server tag:web" });
  const expiry = h(
    "select",
    { testid: "key-expiry" },
    ...EXPIRIES.map(([value, label]) => h("option", { text: label, attrs: { value } })),
  );
  expiry.value = "90d";
  const formError = h("p", { class: "form-error", attrs: { role: "alert" } });
  formError.hidden = true;

  const load = async () => {
    const { authKeys } = await api.get<AuthKeyListBody>("/api/v1/authkeys");
    replace(list, render(authKeys.slice().reverse()));
  };

  const showOnce = async (key: string) => {
    const copy: HTMLButtonElement = button(
      "Copy",
      () => void copyText(key).then((ok) => flashCopied(copy, ok)),
      { class: "small", testid: "key-copy" },
    );
    await openDialog({
      title: "New auth key",
      wide: true,
      testid: "key-created",
      body: [
        h(
          "p",
          { class: "dialog-text" },
          "Copy it now: it is shown this once, and the server keeps only its hash.",
        ),
        h(
          "div",
          { class: "key-once" },
          h("code", { class: "mono", testid: "key-value", text: key }),
          copy,
        ),
        h(
          "p",
          { class: "hint" },
          "On the host: ",
          h("code", { text: "CORRIDOR_AUTH_KEY=… corridor agent --server URL" }),
        ),
      ],
    });
  };

  const create = async (submit: HTMLButtonElement) => {
    formError.hidden = true;
    let tagList: string[];
    try {
      tagList = parseTags(tags.value);
    } catch (error) {
      formError.textContent = errorText(error);
      formError.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const made = await api.send<AuthKeyCreatedBody>("POST", "/api/v1/authkeys", {
        reusable: reusable.checked,
        ephemeral: ephemeral.checked,
        tags: tagList,
        expiry: expiry.value,
      });
      await load();
      status.info(`Auth key ${made.authKey.prefix}… created.`);
      await showOnce(made.key);
    } catch (error) {
      formError.textContent = errorText(error);
      formError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  };

  const revoke = async (k: AuthKeyView) => {
    const ok = await confirmAction(
      `Revoke ${k.prefix}…?`,
      "No new node can register with it. Nodes that already did stay.",
      "Revoke",
      () => api.send("DELETE", `/api/v1/authkeys/${k.id}`),
    );
    if (ok) {
      await load().catch((error) => status.error(error));
      status.info(`${k.prefix}… revoked.`);
    }
  };

  function render(keys: AuthKeyView[]): HTMLElement {
    const now = Date.now();
    const rows = keys.map((k) =>
      h(
        "tr",
        { data: { key: k.prefix } },
        h("td", { class: "nowrap" }, h("code", { class: "mono", text: `${k.prefix}…` })),
        cell(
          [k.reusable ? "reusable" : "one-off", k.ephemeral ? "ephemeral" : ""]
            .filter(Boolean)
            .join(", "),
        ),
        cell(h("span", { class: "mono", text: k.tags.join(" ") || "—" })),
        cell(String(k.usedCount)),
        dayCell(k.expiresAt),
        keyState(k, now),
        cell(
          k.revokedAt === null && k.expiresAt > now
            ? button("Revoke", () => void revoke(k), {
                class: "small danger",
                testid: "key-revoke",
              })
            : null,
        ),
      ),
    );
    return dataTable(
      "admin-keys",
      ["Key", "Options", "Tags", "Used", "Expires", "State", ""],
      rows,
      "No auth keys yet.",
    );
  }

  const submit: HTMLButtonElement = button("Create key", () => void create(submit), {
    class: "primary",
    testid: "key-create",
  });
  const form = h(
    "div",
    { class: "card admin-key-form" },
    h("h2", { text: "New auth key" }),
    h(
      "div",
      { class: "row" },
      h("label", { class: "check" }, reusable, " Reusable (any number of nodes)"),
      h("label", { class: "check" }, ephemeral, " Ephemeral nodes (removed when they disconnect)"),
    ),
    h(
      "div",
      { class: "row" },
      field("Tags (optional: nodes get these instead of your user)", tags),
      field("Expires in", expiry),
    ),
    formError,
    h("div", { class: "actions" }, submit),
  );

  const stop = poll(load, status, REFRESH_MS);
  const element = h(
    "div",
    { class: "admin-section" },
    h(
      "p",
      { class: "lead" },
      "Keys with which ",
      h("code", { text: "corridor agent" }),
      " registers hosts without anyone approving them.",
    ),
    form,
    status.element,
    list,
  );
  return { element, stop };
}
