// The transfers of a files panel: one row each with a progress bar, bytes, speed (over the last
// few seconds) and a Cancel button, then how it ended ("Done", "Cancelled", the error).

import { button, h, replace } from "../dom.ts";
import { bytes } from "../format.ts";
import type { TransferOutcome } from "./uploads.ts";

/** How far back the speed looks. */
const SPEED_WINDOW_MS = 3000;

/** One row of the list. */
export interface TransferItem {
  progress(done: number): void;
  finish(outcome: TransferOutcome): void;
  /** What Cancel does (set by the panel once the transfer runs). */
  onCancel: () => void;
}

/** The list of transfers. */
export class TransferList {
  readonly element = h("div", { class: "files-transfers", testid: "files-transfers" });

  /** Adds a row for `label` (`total` bytes when known). */
  add(label: string, total: number | null): TransferItem {
    const bar = h("progress", { testid: "transfer-progress" });
    if (total !== null && total > 0) bar.max = total;
    const figures = h("span", { class: "transfer-figures muted", testid: "transfer-figures" });
    const state = h("span", {
      class: "transfer-state",
      testid: "transfer-state",
      text: "Starting",
    });
    const samples: [number, number][] = [[performance.now(), 0]];
    const item: TransferItem = {
      onCancel: () => undefined,
      progress: (done) => {
        const now = performance.now();
        samples.push([now, done]);
        while (samples.length > 2 && now - samples[0]![0] > SPEED_WINDOW_MS) samples.shift();
        const [t0, b0] = samples[0]!;
        const speed = now > t0 ? ((done - b0) * 1000) / (now - t0) : 0;
        if (total !== null && total > 0) bar.value = Math.min(done, total);
        figures.textContent = `${bytes(done)}${total !== null ? ` of ${bytes(total)}` : ""} · ${bytes(Math.round(speed))}/s`;
        state.textContent = "Transferring";
      },
      finish: (outcome) => {
        row.dataset.state = outcome.ok ? "done" : outcome.cancelled ? "cancelled" : "failed";
        if (outcome.ok) {
          bar.max = 1;
          bar.value = 1;
          figures.textContent = bytes(outcome.bytes);
        }
        state.textContent = outcome.ok ? "Done" : outcome.cancelled ? "Cancelled" : outcome.message;
        replace(
          actions,
          button("Clear", () => row.remove(), { testid: "transfer-clear" }),
        );
      },
    };
    const actions = h(
      "span",
      { class: "transfer-actions" },
      button("Cancel", () => item.onCancel(), { testid: "transfer-cancel" }),
    );
    const row = h(
      "div",
      { class: "transfer", testid: "transfer", data: { state: "running" } },
      h("span", { class: "transfer-label", text: label, title: label }),
      bar,
      figures,
      state,
      actions,
    );
    this.element.prepend(row);
    return item;
  }
}
