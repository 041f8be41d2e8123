// SSH user keys held by the engine: list (with the authorized_keys line to paste on hosts),
// generate an Ed25519 key in the browser, import an OpenSSH key file. Private keys never come
// back to the page.

import type { SshKeySummary } from "../../worker/api.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import { button, errorText, field, h, input, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { openDialog } from "./dialog.ts";

export function openSshKeys(engine: Engine): Promise<unknown> {
  const list = h("ul", { class: "key-list", testid: "key-list" });
  const error = h("p", { class: "form-error", attrs: { role: "alert" } });
  error.hidden = true;

  const showError = (err: unknown) => {
    error.textContent = err === null ? "" : errorText(err);
    error.hidden = err === null;
  };

  const render = (keys: SshKeySummary[]) => {
    if (keys.length === 0) {
      replace(
        list,
        h("li", { class: "empty", text: "No SSH keys yet. Generate one or import a key file." }),
      );
      return;
    }
    replace(
      list,
      ...keys.map((key) => {
        const line = h("code", {
          class: "authorized-key",
          testid: "authorized-key",
          text: key.authorizedKey,
        });
        const copy: HTMLButtonElement = button(
          "Copy",
          () => void copyText(key.authorizedKey).then((ok) => flashCopied(copy, ok)),
          { class: "small", testid: "copy-key" },
        );
        const remove = button(
          "Remove",
          () => {
            engine.removeSshKey(key.id).then(refresh).catch(showError);
          },
          { class: "small ghost", testid: "remove-key" },
        );
        return h(
          "li",
          { class: "key-item", testid: "key-item", data: { id: key.id } },
          h(
            "div",
            { class: "key-head" },
            h("strong", { text: key.comment || key.type }),
            h("span", { class: "muted", text: ` ${key.type} · ${key.fingerprint}` }),
            h("span", { class: "badge", text: key.persisted ? "saved" : "this tab" }),
          ),
          h("div", { class: "key-line" }, line, copy, remove),
        );
      }),
    );
  };

  const refresh = async () => {
    try {
      render(await engine.listSshKeys());
      showError(null);
    } catch (err) {
      showError(err);
    }
  };

  const comment = input({
    testid: "key-comment",
    value: "corridor-browser",
    placeholder: "comment",
  });
  const genTabOnly = h("input", { testid: "key-tab-only", attrs: { type: "checkbox" } });
  const generate = button(
    "Generate Ed25519 key",
    () => {
      generate.disabled = true;
      engine
        .generateSshKey(comment.value.trim() || "corridor-browser", !genTabOnly.checked)
        .then(refresh)
        .catch(showError)
        .finally(() => {
          generate.disabled = false;
        });
    },
    { class: "primary", testid: "generate-key" },
  );

  const file = h("input", { testid: "key-file", attrs: { type: "file" } });
  const passphrase = input({
    type: "password",
    testid: "key-passphrase",
    placeholder: "if the key has one",
  });
  const importTabOnly = h("input", { attrs: { type: "checkbox" } });
  const importButton = button(
    "Import key file",
    () => {
      const chosen = file.files?.[0];
      if (!chosen) {
        showError(new Error("Choose a private key file (OpenSSH format) first."));
        return;
      }
      importButton.disabled = true;
      chosen
        .text()
        .then((text) =>
          engine.importSshKey(text, passphrase.value || undefined, !importTabOnly.checked),
        )
        .then(() => {
          passphrase.value = "";
          file.value = "";
          return refresh();
        })
        .catch(showError)
        .finally(() => {
          importButton.disabled = false;
        });
    },
    { testid: "import-key" },
  );

  void refresh();
  return openDialog({
    title: "SSH keys",
    testid: "keys-dialog",
    wide: true,
    initialFocus: generate,
    body: [
      h(
        "p",
        { class: "dialog-text" },
        "Sessions offer these keys first. Add a key's line to ",
        h("code", { text: "~/.ssh/authorized_keys" }),
        " on a host to log in without a password.",
      ),
      list,
      error,
      h(
        "section",
        { class: "subsection" },
        h("h3", { text: "Generate in this browser" }),
        h(
          "div",
          { class: "row" },
          field("Comment", comment),
          h("label", { class: "check" }, genTabOnly, " Keep only for this tab"),
          generate,
        ),
      ),
      h(
        "section",
        { class: "subsection" },
        h("h3", { text: "Import an OpenSSH private key" }),
        h(
          "div",
          { class: "row" },
          field("Key file", file),
          field("Passphrase", passphrase),
          h("label", { class: "check" }, importTabOnly, " Keep only for this tab"),
          importButton,
        ),
      ),
    ],
  });
}
