// Authentication prompts of an SSH session: a password (with the engine's prompt text),
// keyboard-interactive rounds (one field per prompt; echoed prompts are plain text fields),
// and the passphrase of an encrypted SSH key the session was told to offer.

import type { SshKeySummary } from "../../worker/api.ts";
import { field, h, input } from "../dom.ts";
import { openDialog } from "./dialog.ts";
import { keyLabel } from "./key-chooser.ts";

export function askPassword(
  prompt: string,
  target: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const password = input({ type: "password", testid: "password-input" });
  password.autocomplete = "current-password";
  return openDialog<string>({
    title: `Log in to ${target}`,
    testid: "login-dialog",
    body: [field(prompt || "Password", password)],
    submitLabel: "Log in",
    onSubmit: () => password.value,
    ...(signal ? { signal } : {}),
  });
}

export function askInteractive(
  target: string,
  name: string,
  instruction: string,
  prompts: { prompt: string; echo: boolean }[],
  signal?: AbortSignal,
): Promise<string[] | null> {
  const fields = prompts.map((p, index) => {
    const el = input({
      type: p.echo ? "text" : "password",
      testid: p.echo ? "interactive-input" : "password-input",
      data: { index: String(index) },
    });
    return { el, label: field(p.prompt || `Response ${index + 1}`, el) };
  });
  return openDialog<string[]>({
    title: name || `Log in to ${target}`,
    testid: "login-dialog",
    body: [
      instruction ? h("p", { class: "dialog-text", text: instruction }) : null,
      prompts.length === 0
        ? h("p", { class: "dialog-text", text: "The server asks to continue." })
        : null,
      ...fields.map((f) => f.label),
    ],
    submitLabel: "Continue",
    onSubmit: () => fields.map((f) => f.el.value),
    ...(signal ? { signal } : {}),
  });
}

/**
 * The passphrase of an SSH key saved encrypted, when a session first needs it. The engine
 * keeps the opened key in its Worker's memory until "Lock keys" (or the tab closes).
 */
export function askKeyPassphrase(
  key: SshKeySummary,
  attempt: number,
  signal?: AbortSignal,
): Promise<string | null> {
  const passphrase = input({ type: "password", testid: "key-passphrase-input" });
  return openDialog<string>({
    title: "Unlock SSH key",
    testid: "key-passphrase-dialog",
    body: [
      h(
        "p",
        { class: "dialog-text" },
        attempt > 1 ? "Wrong passphrase, try again. " : "",
        "This key is saved encrypted. Its passphrase opens it in this tab's engine until you lock your keys or close the tab.",
      ),
      h("p", { class: "mono", testid: "key-passphrase-key", text: keyLabel(key) }),
      field("Passphrase", passphrase),
    ],
    submitLabel: "Unlock",
    cancelLabel: "Skip this key",
    onSubmit: () => {
      if (passphrase.value === "") throw new Error("Enter the key's passphrase, or skip the key.");
      return passphrase.value;
    },
    ...(signal ? { signal } : {}),
  });
}
