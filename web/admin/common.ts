// What the admin sections share: a table builder that stays readable on a phone (it scrolls
// sideways inside its own box), times for people, a confirmation dialog, and a status line for
// loading and errors that says the server's own sentence.

import { openDialog } from "../dialogs/dialog.ts";
import { type Child, errorText, h, replace } from "../dom.ts";

/** "2026-12-03 07:40Z" (UTC, to the minute; the title has the second), or "—". */
export function when(ms: number | null): string {
  if (ms === null) return "—";
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/:\d\d\.\d+Z$/, "Z");
}

/** A cell showing `when(ms)` with the exact time as its title. */
export function timeCell(ms: number | null): HTMLTableCellElement {
  return h("td", {
    class: "nowrap",
    text: when(ms),
    ...(ms === null ? {} : { title: new Date(ms).toISOString() }),
  });
}

/** A cell with the day of `ms` ("2027-06-01", or "never"), the exact time as its title. */
export function dayCell(ms: number | null): HTMLTableCellElement {
  return h("td", {
    class: "nowrap",
    text: ms === null ? "never" : new Date(ms).toISOString().slice(0, 10),
    ...(ms === null ? {} : { title: new Date(ms).toISOString() }),
  });
}

/**
 * A table with a header row, inside a box that scrolls sideways on narrow screens. With `cards`,
 * a phone (below 600 px) shows each row as a card instead, every cell labelled with its column
 * (data-label), so no column or action button is off screen.
 */
export function dataTable(
  testid: string,
  headers: string[],
  rows: HTMLTableRowElement[],
  empty: string,
  options: { cards?: boolean } = {},
): HTMLElement {
  if (rows.length === 0) return h("p", { class: "hint", testid: `${testid}-empty`, text: empty });
  if (options.cards === true) {
    for (const row of rows) {
      Array.from(row.cells).forEach((td, i) => {
        const label = headers[i] ?? "";
        if (label !== "") td.dataset.label = label;
      });
    }
  }
  return h(
    "div",
    { class: options.cards === true ? "admin-table-box cards" : "admin-table-box" },
    h(
      "table",
      { class: options.cards === true ? "admin-table cards" : "admin-table", testid },
      h(
        "thead",
        {},
        h("tr", {}, ...headers.map((t) => h("th", { text: t, attrs: { scope: "col" } }))),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

/** A table cell of anything. */
export function cell(...children: Child[]): HTMLTableCellElement {
  return h("td", {}, ...children);
}

/** A line that says what is going on: loading, done, or the error (role=status / alert). */
export class StatusLine {
  readonly element = h("p", { class: "admin-status", testid: "admin-status" });

  constructor() {
    this.element.hidden = true;
  }

  info(text: string): void {
    this.element.className = "admin-status";
    this.element.setAttribute("role", "status");
    replace(this.element, text);
    this.element.hidden = false;
  }

  error(error: unknown): void {
    this.element.className = "admin-status error-text";
    this.element.setAttribute("role", "alert");
    replace(this.element, errorText(error));
    this.element.hidden = false;
  }

  clear(): void {
    this.element.hidden = true;
  }
}

/** Asks before something that cannot be undone; true when confirmed and `act` succeeded. */
export async function confirmAction(
  title: string,
  text: string,
  label: string,
  act: () => Promise<unknown>,
): Promise<boolean> {
  const done = await openDialog<boolean>({
    title,
    body: [h("p", { class: "dialog-text", text })],
    submitLabel: label,
    danger: true,
    testid: "admin-confirm",
    onSubmit: async () => {
      await act();
      return true;
    },
  });
  return done === true;
}

/** Runs `load` now and every `everyMs` until stop(); errors go to `status`. */
export function poll(load: () => Promise<void>, status: StatusLine, everyMs: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      await load();
    } catch (error) {
      if (!stopped) status.error(error);
    }
    if (!stopped) timer = setTimeout(tick, everyMs);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
