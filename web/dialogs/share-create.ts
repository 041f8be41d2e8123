// "Share…" on a mesh host (issue 17): what to share (SSH as which local users, which ports: the
// host's web services and free port numbers), who may accept (anyone with the link, signed-in
// users, these emails), how long, how many acceptances, a note. Create sends POST
// /api/v1/shares; the link (`<base>/s/<id>#<secret>`) is shown once, with Copy.

import type { MeshHost } from "../../worker/api.ts";
import type { NodeListBody, ShareCreatedBody } from "../../worker/control/api-views.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import type { ControlApi } from "../control-api.ts";
import { button, errorText, field, h, input, replace } from "../dom.ts";
import {
  buildShareRequest,
  EXPIRY_CHOICES,
  type ExpiryChoice,
  NOTE_MAX,
  type ShareForm,
  type UsesChoice,
} from "../share/share-body.ts";
import type { WebService } from "../shell/services-store.ts";
import { openDialog } from "./dialog.ts";

const EXPIRY_LABELS: Record<ExpiryChoice, string> = {
  "10m": "10 minutes",
  "1h": "1 hour",
  "1d": "1 day",
  "7d": "7 days",
  custom: "Custom…",
};

/**
 * The local users the node's SSH server can be (GET /api/v1/nodes lists the nodes this person
 * manages: theirs, or all for an admin), or [] when unknown (any user: typed in).
 */
async function nodeSshUsers(api: ControlApi, nodeId: number): Promise<string[]> {
  try {
    const body = await api.get<NodeListBody>("/api/v1/nodes");
    return body.nodes.find((n) => n.id === nodeId)?.sshUsers ?? [];
  } catch {
    return [];
  }
}

function select<T extends string>(
  testid: string,
  options: readonly T[],
  labels: Record<T, string>,
  value: T,
): HTMLSelectElement {
  const el = h(
    "select",
    { testid },
    ...options.map((o) => h("option", { text: labels[o], attrs: { value: o } })),
  );
  el.value = value;
  return el;
}

function checkList(
  testid: string,
  items: { value: string; label: string }[],
): {
  element: HTMLElement;
  checked(): string[];
} {
  const boxes = items.map((item) =>
    h("input", { testid, data: { value: item.value }, attrs: { type: "checkbox" } }),
  );
  return {
    element: h(
      "div",
      { class: "share-checks" },
      ...items.map((item, i) =>
        h("label", { class: "check" }, boxes[i]!, h("span", { text: item.label })),
      ),
    ),
    checked: () => items.filter((_, i) => boxes[i]!.checked).map((i) => i.value),
  };
}

/**
 * Asks what to share of `host` and creates the share; then shows its link. `services` are the
 * host's web services (host-services.ts). Resolves when the dialogs are closed.
 */
export async function openShareDialog(
  api: ControlApi,
  host: MeshHost,
  services: WebService[],
): Promise<void> {
  const known = await nodeSshUsers(api, host.id);
  const users = checkList(
    "share-user",
    known.map((u) => ({ value: u, label: u })),
  );
  const usersText = input({
    testid: "share-users-text",
    placeholder: known.length > 0 ? "other users, comma separated" : "e.g. alice, deploy",
  });
  const ports = checkList(
    "share-port",
    services.map((s) => ({
      value: String(s.port),
      label: s.name === "" ? `port ${s.port}` : `${s.name} (port ${s.port})`,
    })),
  );
  const portsText = input({ testid: "share-ports-text", placeholder: "e.g. 8080, 3000" });
  portsText.inputMode = "numeric";
  const audience = select(
    "share-audience",
    ["anyone", "signed-in", "emails"] as const,
    { anyone: "Anyone with the link", "signed-in": "Signed-in users", emails: "These emails" },
    "anyone",
  );
  const emails = h("textarea", {
    testid: "share-emails",
    attrs: { rows: "2", placeholder: "ada@example.com, grace@example.com" },
  });
  const emailsField = field("Emails", emails, "Each must sign in with this address to accept.");
  const expiry = select("share-expiry", EXPIRY_CHOICES, EXPIRY_LABELS, "1h");
  const customAmount = input({ testid: "share-expiry-amount", placeholder: "2" });
  customAmount.inputMode = "numeric";
  const customUnit = select(
    "share-expiry-unit",
    ["m", "h", "d"] as const,
    { m: "minutes", h: "hours", d: "days" },
    "h",
  );
  const custom = h("div", { class: "row share-custom" }, customAmount, customUnit);
  const uses = select(
    "share-uses",
    ["one", "several", "unlimited"] as const,
    { one: "One person", several: "Several…", unlimited: "Unlimited until it expires" },
    "one",
  );
  const usesText = input({ testid: "share-uses-count", placeholder: "5" });
  usesText.inputMode = "numeric";
  const note = input({
    testid: "share-note",
    placeholder: "what it is for (shown to the recipient)",
  });
  note.maxLength = NOTE_MAX;
  const sync = () => {
    emailsField.hidden = audience.value !== "emails";
    custom.hidden = expiry.value !== "custom";
    usesText.hidden = uses.value !== "several";
  };
  for (const el of [audience, expiry, uses]) el.addEventListener("change", sync);
  sync();

  const created = await openDialog<ShareCreatedBody>({
    title: `Share ${host.name}`,
    testid: "share-dialog",
    submitTestid: "share-create",
    submitLabel: "Create link",
    wide: true,
    body: [
      h("p", {
        class: "muted",
        text: `The link lets its recipient reach ${host.name} alone, and only for what you tick here; ${host.name} cannot connect back to them.`,
      }),
      h(
        "fieldset",
        { class: "share-group" },
        h("legend", { text: "SSH as" }),
        h("p", {
          class: "muted",
          text: `SSH gives them a shell on ${host.name} as that user, and from there whatever ${host.name} itself reaches.`,
        }),
        known.length > 0 ? users.element : null,
        usersText,
      ),
      h(
        "fieldset",
        { class: "share-group" },
        h("legend", { text: "Ports and web services" }),
        services.length > 0 ? ports.element : null,
        portsText,
      ),
      field("Who may accept", audience),
      emailsField,
      h("div", { class: "row" }, field("Expires after", expiry), field("Uses", uses)),
      custom,
      usesText,
      field("Note", note),
    ],
    onSubmit: async () => {
      const form: ShareForm = {
        nodeId: host.id,
        sshUsers: users.checked(),
        sshUsersText: usersText.value,
        ports: ports.checked().map(Number),
        portsText: portsText.value,
        audience: audience.value as ShareForm["audience"],
        emailsText: emails.value,
        expiry: expiry.value as ExpiryChoice,
        customAmount: customAmount.value,
        customUnit: customUnit.value as ShareForm["customUnit"],
        uses: uses.value as UsesChoice,
        usesText: usesText.value,
        note: note.value,
      };
      const built = buildShareRequest(form);
      if (!built.ok) throw new Error(built.issues.map((i) => i.message).join("; "));
      return api.send<ShareCreatedBody>("POST", "/api/v1/shares", built.body);
    },
  });
  if (created !== null) await showShareLink(created);
}

/** The new share's link, shown once, with Copy. */
async function showShareLink(created: ShareCreatedBody): Promise<void> {
  // A text area: the whole link is seen (wrapped) on a phone too, not its last characters.
  const url = h("textarea", {
    testid: "share-link-url",
    class: "share-link-text",
    attrs: { rows: "3", readonly: "", spellcheck: "false", "aria-label": "The share link" },
  });
  url.value = created.url;
  url.addEventListener("focus", () => url.select());
  const copy = button(
    "Copy",
    () => void copyText(created.url).then((ok) => flashCopied(copy, ok)),
    {
      class: "primary",
      testid: "share-link-copy",
    },
  );
  const what = h("p", { class: "muted" });
  const share = created.share;
  replace(
    what,
    `For ${share.nodeName}: `,
    [
      share.sshUsers.length > 0 ? `SSH as ${share.sshUsers.join(", ")}` : "",
      share.ports.length > 0 ? `ports ${share.ports.join(", ")}` : "",
    ]
      .filter((s) => s !== "")
      .join(" and "),
    `. ${
      share.audience === "anyone"
        ? "Whoever has the link"
        : share.audience === "signed-in"
          ? "A signed-in user with the link"
          : `With the link, ${share.emails.join(", ")}`
    } may accept it ${
      share.maxUses === null
        ? "any number of times"
        : share.maxUses === 1
          ? "once"
          : `${share.maxUses} times`
    }, until ${new Date(share.expiresAt).toLocaleString()}.`,
  );
  await openDialog<void>({
    title: "Share link created",
    testid: "share-link-dialog",
    wide: true,
    body: [
      h("p", {
        text: "Send this link to the person you share with. It is shown only now: the server keeps no copy of its secret part.",
      }),
      h("div", { class: "row share-link-row" }, url, copy),
      what,
      h(
        "p",
        {},
        h("a", {
          text: "See and revoke your shares",
          attrs: { href: "#/shares" },
          testid: "share-link-list",
        }),
      ),
    ],
  }).catch((error: unknown) => {
    console.warn(`share link dialog: ${errorText(error)}`);
  });
}
