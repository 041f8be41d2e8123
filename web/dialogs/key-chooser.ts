// Which SSH keys a connection may offer, chosen per host in the connect and deep-link dialogs.
// An SSH server learns every public key it is offered (and can link them across hosts), so
// nothing is checked until the person picks a key for this host and user; the engine
// remembers the choice once a login with it succeeds (worker/engine/key-choice.ts).

import type { SshKeySummary } from "../../worker/api.ts";
import { h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";

/** The chooser's element and what is checked. */
export interface KeyChooser {
  /** Carries data-ready="true" once the keys and the remembered choice are shown. */
  readonly element: HTMLElement;
  /** Ids of the checked keys ([] = no key: password or the server's prompts only). */
  selected(): string[];
  /** Checks the keys remembered for `user` at the host (none when never chosen). */
  showChoiceFor(user: string): Promise<void>;
}

/** A one-line description of a key: comment, type, fingerprint and whether it is locked. */
export function keyLabel(key: SshKeySummary): string {
  const lock = key.encrypted
    ? key.locked
      ? " · locked (asks its passphrase)"
      : " · passphrase"
    : "";
  return `${key.comment || key.type} · ${key.fingerprint}${lock}`;
}

/**
 * Builds the chooser for `host` on a network. Loads the keys and the remembered choice for
 * `user` itself; errors from the engine show in the chooser, never as an unchecked default.
 */
export function createKeyChooser(
  engine: Engine,
  networkId: string,
  host: string,
  user: string,
): KeyChooser {
  const list = h("div", { class: "key-choices", testid: "key-choices" });
  const note = h("p", { class: "hint", testid: "key-choice-note" });
  const element = h(
    "fieldset",
    { class: "key-chooser", testid: "key-chooser" },
    h("legend", { text: "SSH keys to offer" }),
    list,
    note,
  );
  let boxes: { id: string; box: HTMLInputElement }[] = [];
  let keys: SshKeySummary[] = [];
  const loaded = engine.listSshKeys().then(
    (all) => {
      keys = all;
    },
    () => {
      keys = [];
    },
  );

  // Once the person ticks a box, a later answer (the user name changed) never undoes it.
  let touched = false;
  const render = (chosen: readonly string[] | null) => {
    const checked = touched ? boxes.filter((b) => b.box.checked).map((b) => b.id) : chosen;
    if (keys.length === 0) {
      boxes = [];
      replace(list);
      note.textContent = "No SSH keys in this browser: the host will ask for a password.";
      return;
    }
    boxes = keys.map((key) => {
      const box = h("input", {
        testid: "key-choice",
        data: { id: key.id },
        attrs: { type: "checkbox" },
      });
      box.checked = checked?.includes(key.id) ?? false;
      box.addEventListener("change", () => {
        touched = true;
      });
      return { id: key.id, box };
    });
    replace(
      list,
      ...keys.map((key, i) =>
        h(
          "label",
          { class: "check key-choice" },
          boxes[i]!.box,
          h("span", { text: keyLabel(key) }),
        ),
      ),
    );
    note.textContent =
      chosen === null
        ? "You have not chosen a key for this host yet. A server learns every key it is offered, so only the keys you check here are tried; none checked: password only."
        : "Your last choice for this host. Only the checked keys are tried; none checked: password only.";
  };

  // A request per user name typed; only the latest one's answer is shown.
  let asked = 0;
  const showChoiceFor = async (name: string) => {
    const mine = ++asked;
    delete element.dataset.ready;
    await loaded;
    const chosen =
      name === "" ? null : await engine.sshKeyChoice(networkId, host, name).catch(() => null);
    if (mine !== asked) return;
    render(chosen);
    element.dataset.ready = "true";
  };
  note.textContent = "Loading this browser's keys…";
  void showChoiceFor(user);

  return {
    element,
    selected: () => boxes.filter((b) => b.box.checked).map((b) => b.id),
    showChoiceFor,
  };
}
