// bench:web: what Chromium fetched in a cold start (test/e2e/page-weight.ts counts it), per
// response, against the budgets: the first load (to "Engine ready") <= 150 KB gzip, and
// everything up to the shell's answer <= 250 KB gzip (issue 15 item 11).

import { BUDGET, kb, type Weight } from "../e2e/page-weight.ts";
import { printTable } from "./harness.ts";

/** Prints the table; returns the Targets rows. */
export function weightTargets(firstLoad: Weight, toPrompt: Weight): string[][] {
  printTable(
    "Fetched by Chromium in a cold start (HTTP cache off), page and Worker",
    ["response", "encoding", "on the wire", "gzip -9"],
    [
      ...toPrompt.responses.map((r) => [
        `${r.path}${firstLoad.responses.some((f) => f.path === r.path) ? "" : " (after Engine ready)"}`,
        r.encoding || "identity",
        String(r.transferred),
        String(r.gzip),
      ]),
      ["up to Engine ready", "", String(firstLoad.transferred), String(firstLoad.gzip)],
      ["up to the shell's answer", "", String(toPrompt.transferred), String(toPrompt.gzip)],
    ],
    ["left", "left", "right", "right"],
  );
  return [
    [
      "first load in Chromium (to Engine ready), gzip",
      kb(firstLoad.gzip),
      "<= 150 KB",
      firstLoad.gzip <= BUDGET.firstLoad ? "PASS" : "MISS",
    ],
    [
      "everything to a shell prompt in Chromium, gzip",
      kb(toPrompt.gzip),
      "<= 250 KB",
      toPrompt.gzip <= BUDGET.toPrompt ? "PASS" : "MISS",
    ],
  ];
}
