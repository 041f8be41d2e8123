// The one dialog helper: a modal <dialog> with a form. Focus goes to the first field (or the
// submit button), Enter submits, Escape cancels, and focus returns where it was. Dialogs are
// shown one at a time: several sessions may ask at once, and each waits its turn.

import { append, button, type Child, errorText, h } from "../dom.ts";

export interface DialogOptions<T> {
  title: string;
  body: Child[];
  /** Without a submit label the dialog only has a close button. */
  submitLabel?: string;
  cancelLabel?: string;
  /** Red submit button (destructive or risky choice). */
  danger?: boolean;
  testid?: string;
  submitTestid?: string;
  wide?: boolean;
  /** The field to focus first; default the first input, else the submit button. */
  initialFocus?: HTMLElement;
  /** Gives the result; a thrown error is shown in the dialog, which stays open. */
  onSubmit?: () => T | Promise<T>;
  /** Aborting closes the dialog with null (e.g. its session ended). */
  signal?: AbortSignal;
}

let queue: Promise<unknown> = Promise.resolve();

/** Shows a dialog after those already open; resolves with onSubmit's result, or null. */
export function openDialog<T>(options: DialogOptions<T>): Promise<T | null> {
  const run = queue.then(() => (options.signal?.aborted ? null : show(options)));
  queue = run.catch(() => undefined);
  return run;
}

function show<T>(options: DialogOptions<T>): Promise<T | null> {
  return new Promise<T | null>((resolve) => {
    const previousFocus =
      document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
    const error = h("p", { class: "form-error", testid: "dialog-error", attrs: { role: "alert" } });
    error.hidden = true;
    const submit = options.submitLabel
      ? h("button", {
          class: options.danger ? "danger" : "primary",
          testid: options.submitTestid ?? "dialog-submit",
          text: options.submitLabel,
          attrs: { type: "submit" },
        })
      : null;
    const cancel = button(
      options.cancelLabel ?? (submit ? "Cancel" : "Close"),
      () => finish(null),
      {
        testid: "dialog-cancel",
      },
    );
    const form = h(
      "form",
      { class: "dialog-form", attrs: { novalidate: "" } },
      h("h2", { text: options.title, attrs: { id: titleId } }),
      h("div", { class: "dialog-body" }, ...options.body),
      error,
      h("div", { class: "dialog-actions" }, cancel, submit),
    );
    const dialog = h(
      "dialog",
      {
        class: options.wide ? "dialog wide" : "dialog",
        testid: options.testid ?? "dialog",
        attrs: { "aria-labelledby": titleId },
      },
      form,
    );
    let busy = false;
    let done = false;

    const finish = (value: T | null) => {
      if (done) return;
      done = true;
      options.signal?.removeEventListener("abort", onAbort);
      dialog.close();
      dialog.remove();
      previousFocus?.focus();
      resolve(value);
    };
    const onAbort = () => finish(null);
    options.signal?.addEventListener("abort", onAbort);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!options.onSubmit || busy) return;
      busy = true;
      if (submit) submit.disabled = true;
      error.hidden = true;
      Promise.resolve()
        .then(() => options.onSubmit?.())
        .then(
          (value) => finish(value ?? null),
          (err: unknown) => {
            error.textContent = errorText(err);
            error.hidden = false;
          },
        )
        .finally(() => {
          busy = false;
          if (submit) submit.disabled = false;
        });
    });
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(null);
    });

    append(document.body, dialog);
    dialog.showModal();
    const first =
      options.initialFocus ??
      form.querySelector<HTMLElement>(
        ".dialog-body input:not([type=hidden]), .dialog-body textarea",
      ) ??
      submit ??
      cancel;
    first.focus();
  });
}
