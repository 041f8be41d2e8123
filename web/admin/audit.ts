// Admin → Audit: the audit log, newest first, 50 at a time ("Older" loads the next page by the
// server's cursor). Who (and how they signed in), from which address, did what to what.

import type { AuditPageBody, AuditView } from "../../worker/control/api-views.ts";
import { button, h, replace } from "../dom.ts";
import { cell, dataTable, StatusLine, timeCell } from "./common.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";

const PAGE = 50;

export function auditSection({ api }: AdminDeps): AdminSectionView {
  const status = new StatusLine();
  const list = h("div", { class: "admin-list" }, h("p", { class: "hint", text: "Loading…" }));
  let entries: AuditView[] = [];
  let next: number | null = null;
  let stopped = false;

  const older: HTMLButtonElement = button("Older entries", () => void load(true), {
    testid: "audit-older",
  });
  older.hidden = true;

  async function load(more: boolean): Promise<void> {
    older.disabled = true;
    try {
      const query = more && next !== null ? `?limit=${PAGE}&before=${next}` : `?limit=${PAGE}`;
      const page = await api.get<AuditPageBody>(`/api/v1/audit${query}`);
      if (stopped) return;
      entries = more ? [...entries, ...page.entries] : page.entries;
      next = page.next;
      replace(list, render());
      older.hidden = next === null;
    } catch (error) {
      status.error(error);
    } finally {
      older.disabled = false;
    }
  }

  function render(): HTMLElement {
    const rows = entries.map((e) =>
      h(
        "tr",
        { data: { action: e.action } },
        timeCell(e.at),
        h("td", { class: "nowrap" }, e.actor || "—", h("span", { class: "badge", text: e.via })),
        h("td", { class: "nowrap" }, h("code", { text: e.action })),
        cell(e.target || "—"),
        cell(e.detail || "—"),
        cell(h("span", { class: "mono", text: e.source })),
      ),
    );
    return dataTable(
      "admin-audit",
      ["Time (UTC)", "Who", "Action", "Target", "Detail", "From"],
      rows,
      "Nothing recorded yet.",
      { cards: true },
    );
  }

  void load(false);
  const refresh = button("Refresh", () => void load(false), {
    class: "small",
    testid: "audit-refresh",
  });
  const element = h(
    "div",
    { class: "admin-section" },
    h(
      "div",
      { class: "page-head" },
      h("p", {
        class: "lead",
        text: "Changes made through the API, and every sign-in and sign-out, newest first.",
      }),
      refresh,
    ),
    status.element,
    list,
    h("div", { class: "actions" }, older),
  );
  return {
    element,
    stop: () => {
      stopped = true;
    },
  };
}
