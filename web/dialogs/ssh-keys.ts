// SSH user keys held by the engine: list (with the authorized_keys line to paste on hosts),
// generate an Ed25519 key in the browser, import an OpenSSH key file, set or remove the
// passphrase that encrypts a saved key, lock opened keys again. Private keys never come back
// to the page.

import type { SshKeySummary } from "../../worker/api.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import { button, errorText, field, h, input, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { openDialog } from "./dialog.ts";

/** The inline form that sets, changes or removes a saved key's passphrase. */
function passphraseForm(
  engine: Engine,
  key: SshKeySummary,
  done: () => Promise<void>,
  showError: (err: unknown) => void,
): HTMLElement {
  const current = input({ type: "password", testid: "key-current-passphrase" });
  const next = input({
    type: "password",
    testid: "key-new-passphrase",
    placeholder: "8 characters or more",
  });
  const repeat = input({ type: "password", testid: "key-repeat-passphrase" });
  const run = (action: () => Promise<unknown>) => {
    action().then(done).catch(showError);
  };
  const save = button(
    key.encrypted ? "Change passphrase" : "Set passphrase",
    () =>
      run(async () => {
        if (next.value !== repeat.value) throw new Error("The two passphrases differ.");
        await engine.setSshKeyPassphrase(key.id, next.value, current.value || undefined);
      }),
    { class: "primary small", testid: "key-save-passphrase" },
  );
  const clear = key.encrypted
    ? button(
        "Remove passphrase",
        () => run(() => engine.setSshKeyPassphrase(key.id, null, current.value || undefined)),
        { class: "small ghost", testid: "key-clear-passphrase" },
      )
    : null;
  return h(
    "div",
    { class: "key-passphrase-form", testid: "key-passphrase-form" },
    h("p", {
      class: "hint",
      text: "With a passphrase the key is saved encrypted (PBKDF2-SHA256 and AES-GCM); sessions ask it once per tab. Without one, anyone who can read this browser profile can read the key.",
    }),
    h(
      "div",
      { class: "row" },
      key.locked ? field("Current passphrase", current) : null,
      field("New passphrase", next),
      field("Repeat", repeat),
      save,
      clear,
    ),
  );
}

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
        const protect = key.persisted
          ? button(
              "Passphrase…",
              () => {
                const open = item.querySelector('[data-testid="key-passphrase-form"]');
                if (open) open.remove();
                else item.append(passphraseForm(engine, key, refresh, showError));
              },
              { class: "small ghost", testid: "key-passphrase" },
            )
          : null;
        const remove = button(
          "Remove",
          () => {
            engine.removeSshKey(key.id).then(refresh).catch(showError);
          },
          { class: "small ghost", testid: "remove-key" },
        );
        const item = h(
          "li",
          { class: "key-item", testid: "key-item", data: { id: key.id } },
          h(
            "div",
            { class: "key-head" },
            h("strong", { text: key.comment || key.type }),
            h("span", { class: "muted", text: ` ${key.type} · ${key.fingerprint}` }),
            h("span", { class: "badge", text: key.persisted ? "saved" : "not saved" }),
            key.encrypted
              ? h("span", {
                  class: "badge",
                  testid: "key-encrypted",
                  text: key.locked ? "encrypted · locked" : "encrypted · unlocked",
                })
              : null,
          ),
          h("div", { class: "key-line" }, line, copy, protect, remove),
        );
        return item;
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
  const genPassphrase = input({
    type: "password",
    testid: "key-generate-passphrase",
    placeholder: "optional, 8+ characters",
  });
  genTabOnly.addEventListener("change", () => {
    // A key kept in memory only is never stored, so there is nothing to encrypt.
    genPassphrase.disabled = genTabOnly.checked;
  });
  const generate = button(
    "Generate Ed25519 key",
    () => {
      generate.disabled = true;
      engine
        .generateSshKey(
          comment.value.trim() || "corridor-browser",
          !genTabOnly.checked,
          genPassphrase.value === "" || genTabOnly.checked ? undefined : genPassphrase.value,
        )
        .then(() => {
          genPassphrase.value = "";
          return refresh();
        })
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
    placeholder: "if the key has one (it then also protects the saved copy)",
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

  const lockNote = h("span", { class: "muted", testid: "lock-note", attrs: { role: "status" } });
  const lock = button(
    "Lock keys",
    () => {
      engine
        .lockSshKeys()
        .then((count) => {
          lockNote.textContent =
            count === 0
              ? " No key was unlocked."
              : ` Locked ${count} key${count === 1 ? "" : "s"}.`;
          return refresh();
        })
        .catch(showError);
    },
    { class: "small ghost", testid: "lock-keys" },
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
        "Add a key's line to ",
        h("code", { text: "~/.ssh/authorized_keys" }),
        " on a host to log in without a password. A session offers only the keys you chose for its host (a server learns every key it is offered).",
      ),
      h("div", { class: "row" }, lock, lockNote),
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
          field("Passphrase", genPassphrase),
          h(
            "label",
            { class: "check" },
            genTabOnly,
            " Don't save: memory only, until the browser closes",
          ),
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
          h(
            "label",
            { class: "check" },
            importTabOnly,
            " Don't save: memory only, until the browser closes",
          ),
          importButton,
        ),
      ),
    ],
  });
}
