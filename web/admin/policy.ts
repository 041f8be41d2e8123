// Admin → Policy: the policy document in an editor with line numbers. "Test" compiles it on the
// server (POST /api/v1/policy/test: syntax, references, and the document's own `tests`) and
// lists each problem with its line and column beside the text (a click puts the cursor there;
// the line is marked in the gutter). "Save" is offered only for the exact text that last passed
// a test, so a policy that would lock people out is never one click away; the server compiles
// it again on save and refuses it with the same errors if it changed underneath, and a version
// saved by someone else since this page read it is never overwritten unseen.

import type {
  PolicyBody,
  PolicyProblem,
  PolicySetBody,
  PolicyTestBody,
} from "../../worker/control/api-views.ts";
import { ControlApiError } from "../control-api.ts";
import { button, h, replace } from "../dom.ts";
import { StatusLine, when } from "./common.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";

/** What the editor keeps of the stored policy (after a save it knows no more than this). */
type StoredPolicy = Pick<PolicyBody, "text" | "version" | "default" | "updatedAt">;

/** The character offset of 1-based `line`, `column` in `text` (clamped to the text). */
export function offsetOf(text: string, line: number, column: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf("\n", at);
    if (next === -1) return text.length;
    at = next + 1;
  }
  const end = text.indexOf("\n", at);
  const lineEnd = end === -1 ? text.length : end;
  return Math.min(at + Math.max(0, column - 1), lineEnd);
}

export function policySection({ api }: AdminDeps): AdminSectionView {
  const status = new StatusLine();
  const gutter = h("div", { class: "policy-gutter", attrs: { "aria-hidden": "true" } });
  const text = h("textarea", {
    class: "policy-text mono",
    testid: "policy-text",
    attrs: { wrap: "off", spellcheck: "false", "aria-label": "Policy document", rows: "24" },
  });
  const result = h(
    "div",
    { class: "policy-result", testid: "policy-result", attrs: { "aria-live": "polite" } },
    h("p", {
      class: "hint",
      text: "Test the policy to see its errors and the result of its tests here.",
    }),
  );
  const meta = h("p", { class: "hint", testid: "policy-meta" });
  let stored: StoredPolicy | null = null;
  /** The text that last passed a test: the only one Save sends. */
  let passed: string | null = null;
  let bad = new Set<number>();

  const numberLines = () => {
    const count = text.value.split("\n").length;
    const spans: HTMLElement[] = [];
    for (let n = 1; n <= count; n++) {
      spans.push(h("span", { text: String(n), ...(bad.has(n) ? { class: "bad" } : {}) }));
    }
    replace(gutter, ...spans);
    gutter.scrollTop = text.scrollTop;
  };

  const jump = (p: PolicyProblem) => {
    const at = offsetOf(text.value, p.line, p.column);
    text.focus();
    text.setSelectionRange(at, at);
    // Bring the line into view: textarea has no API for it, so scroll by line height.
    const lineHeight = Number.parseFloat(getComputedStyle(text).lineHeight) || 20;
    text.scrollTop = Math.max(0, (p.line - 3) * lineHeight);
    gutter.scrollTop = text.scrollTop;
  };

  const showProblems = (problems: PolicyProblem[]) => {
    bad = new Set(problems.map((p) => p.line));
    numberLines();
    replace(
      result,
      h("p", {
        class: "error-text",
        text: `Refused: ${problems.length} problem${problems.length === 1 ? "" : "s"}.`,
      }),
      h(
        "ol",
        { class: "policy-problems", testid: "policy-problems" },
        ...problems.map((p) =>
          h(
            "li",
            {},
            button(`line ${p.line}:${p.column}`, () => jump(p), {
              class: "small ghost mono",
              testid: "policy-problem-at",
            }),
            " ",
            p.path === "" ? null : h("code", { text: p.path }),
            " ",
            h("span", { text: p.message }),
          ),
        ),
      ),
    );
  };

  const save: HTMLButtonElement = button("Save", () => void doSave(), {
    class: "primary",
    testid: "policy-save",
    attrs: { disabled: "" },
  });
  const test: HTMLButtonElement = button("Test", () => void doTest(), { testid: "policy-test" });

  const doTest = async () => {
    const candidate = text.value;
    test.disabled = true;
    status.clear();
    try {
      const tested = await api.send<PolicyTestBody>("POST", "/api/v1/policy/test", {
        text: candidate,
      });
      if (text.value !== candidate) return; // edited while testing: that answer is stale
      if (tested.ok) {
        passed = candidate;
        bad = new Set();
        numberLines();
        replace(
          result,
          h("p", {
            class: "ok-text",
            testid: "policy-ok",
            text: "Passed: the policy compiles and its tests pass.",
          }),
          h("p", { class: "hint", text: "Save puts it in force for every node at once." }),
        );
      } else {
        passed = null;
        showProblems(tested.errors);
      }
    } catch (error) {
      status.error(error);
    } finally {
      test.disabled = false;
      save.disabled = passed === null || passed !== text.value;
    }
  };

  const doSave = async () => {
    if (passed === null || passed !== text.value) return;
    save.disabled = true;
    try {
      // Someone else may have saved since this page read the policy: never overwrite their
      // version unseen. The server checks If-Match in the same transaction as the write.
      const headers = stored === null ? undefined : { "If-Match": `"${stored.version}"` };
      const set = await api.send<PolicySetBody>(
        "PUT",
        "/api/v1/policy",
        { text: passed },
        { headers },
      );
      status.info(`Saved: version ${set.version} is in force.`);
      stored = { text: passed, version: set.version, default: false, updatedAt: Date.now() };
      showMeta();
    } catch (error) {
      if (error instanceof ControlApiError && error.code === "version_conflict") {
        status.error(
          new Error(
            "someone saved the policy since you opened it: reload to see their version " +
              "(copy your text first, then apply your change to theirs)",
          ),
        );
      } else {
        status.error(error);
      }
      save.disabled = false;
    }
  };

  const showMeta = () => {
    if (stored === null) return;
    meta.textContent = stored.default
      ? "No policy was set: this is the default one, in force until you save one."
      : `Version ${stored.version}, saved ${when(stored.updatedAt)}.`;
  };

  text.addEventListener("input", () => {
    save.disabled = passed === null || passed !== text.value;
    if (bad.size > 0) bad = new Set();
    numberLines();
  });
  text.addEventListener("scroll", () => {
    gutter.scrollTop = text.scrollTop;
  });
  // Tab indents instead of leaving the field (Shift+Tab and Escape-then-Tab still leave it).
  text.addEventListener("keydown", (event) => {
    if (event.key !== "Tab" || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey)
      return;
    event.preventDefault();
    text.setRangeText("  ", text.selectionStart, text.selectionEnd, "end");
    text.dispatchEvent(new Event("input"));
  });

  let stopped = false;
  void api
    .get<PolicyBody>("/api/v1/policy")
    .then((got) => {
      if (stopped) return;
      stored = got;
      text.value = got.text;
      numberLines();
      showMeta();
    })
    .catch((error) => status.error(error));
  numberLines();

  const element = h(
    "div",
    { class: "admin-section" },
    h(
      "p",
      { class: "lead" },
      "Who reaches what, and who logs in as whom over SSH. Test a change first: Save is offered once it passes.",
    ),
    meta,
    h("div", { class: "policy-editor" }, h("div", { class: "policy-box" }, gutter, text), result),
    status.element,
    h("div", { class: "actions" }, test, save),
  );
  return {
    element,
    stop: () => {
      stopped = true;
    },
  };
}
