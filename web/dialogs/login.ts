// Authentication prompts of an SSH session: a password (with the engine's prompt text), and
// keyboard-interactive rounds (one field per prompt; echoed prompts are plain text fields).

import { field, h, input } from "../dom.ts";
import { openDialog } from "./dialog.ts";

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
