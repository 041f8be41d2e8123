// "SSH" on a host: asks the user name, port and which SSH keys to offer (key-chooser.ts). The
// last user per host is remembered in sessionStorage for this tab (a user name is not a
// secret; passwords are never stored); the key choice is remembered by the engine.

import { field, h, input } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { openDialog } from "./dialog.ts";
import { createKeyChooser } from "./key-chooser.ts";

export interface SshTarget {
  user: string;
  port: number;
  /** The keys the person checked ([] = none). */
  keyIds: string[];
}

function memoryKey(networkId: string, address: string): string {
  return `corridor.lastUser.${networkId}.${address}`;
}

export function rememberedUser(networkId: string, address: string): string {
  try {
    return sessionStorage.getItem(memoryKey(networkId, address)) ?? "";
  } catch {
    return "";
  }
}

export function rememberUser(networkId: string, address: string, user: string): void {
  try {
    sessionStorage.setItem(memoryKey(networkId, address), user);
  } catch {
    // no storage: nothing remembered
  }
}

/** The connect dialog for a host of a network. */
export function askSshTarget(
  engine: Engine,
  networkId: string,
  address: string,
  label: string,
): Promise<SshTarget | null> {
  const user = input({
    testid: "ssh-user",
    value: rememberedUser(networkId, address),
    placeholder: "root",
  });
  user.autocapitalize = "off";
  const keys = createKeyChooser(engine, networkId, address, user.value.trim());
  user.addEventListener("change", () => void keys.showChoiceFor(user.value.trim()));
  const port = input({ testid: "ssh-port", type: "number", value: "22" });
  port.min = "1";
  port.max = "65535";
  return openDialog<SshTarget>({
    title: `SSH to ${label}`,
    testid: "ssh-dialog",
    submitTestid: "ssh-connect",
    body: [
      h(
        "div",
        { class: "row" },
        field("User", user),
        h("div", { class: "narrow" }, field("Port", port)),
      ),
      keys.element,
    ],
    submitLabel: "Connect",
    onSubmit: () => {
      const name = user.value.trim();
      const portNumber = Number(port.value || "22");
      if (!name) throw new Error("Enter the user name to log in as.");
      if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
        throw new Error("The port is a number from 1 to 65535.");
      }
      rememberUser(networkId, address, name);
      return { user: name, port: portNumber, keyIds: keys.selected() };
    },
  });
}
