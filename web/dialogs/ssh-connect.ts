// "SSH" on a host: asks the user name, port and which SSH keys to offer (key-chooser.ts). The
// last user per host is remembered in sessionStorage for this tab (a user name is not a
// secret; passwords are never stored); the key choice is remembered by the engine. Mesh hosts
// get their own dialog (askMeshSshTarget): identity SSH, the users the policy allows.

import { MESH_NETWORK_ID, type MeshHost } from "../../worker/api.ts";
import type { ControlApi } from "../control-api.ts";
import { errorText, field, h, input } from "../dom.ts";
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

/** GET /api/v1/nodes/:id/ssh-users: the users the policy lets the caller be on a node. */
export interface SshUsersAnswer {
  users: string[];
  action: "accept" | "check" | null;
  checkPeriodMs: number | null;
  /** Users only `check` rules grant (a fresh sign-in may be asked for them). */
  checkUsers?: string[];
}

function isSshUsersAnswer(value: unknown): value is SshUsersAnswer {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return Array.isArray(v.users) && v.users.every((u) => typeof u === "string");
}

/** Which users to offer: the policy's answer, or why there is none (a free field then). */
async function allowedUsers(
  api: ControlApi,
  host: MeshHost,
): Promise<{ answer: SshUsersAnswer | null; problem: string }> {
  try {
    const answer = await api.get<unknown>(`/api/v1/nodes/${host.id}/ssh-users`);
    if (!isSshUsersAnswer(answer))
      return { answer: null, problem: "the answer was not understood" };
    return { answer, problem: "" };
  } catch (error) {
    return { answer: null, problem: errorText(error) };
  }
}

/**
 * "SSH" on a mesh host: identity SSH, so no password, no key and no port to choose; the person
 * picks one of the local users the policy allows them (GET /api/v1/nodes/:id/ssh-users). Where
 * that list is not available (or holds an unexpanded autogroup), a user field instead, with
 * the known users suggested.
 */
export async function askMeshSshTarget(
  api: ControlApi,
  host: MeshHost,
): Promise<{ user: string } | null> {
  const { answer, problem } = await allowedUsers(api, host);
  const concrete = (answer?.users ?? []).filter((u) => !u.startsWith("autogroup:"));
  const free = answer === null || concrete.length === 0 || concrete.length < answer.users.length;
  const remembered = rememberedUser(MESH_NETWORK_ID, host.name);
  const checkOnly = new Set(answer?.checkUsers ?? []);
  let user: HTMLInputElement | HTMLSelectElement;
  let suggestions: HTMLElement | null = null;
  if (free) {
    const typed = input({ testid: "ssh-user", value: remembered, placeholder: "user" });
    typed.autocapitalize = "off";
    if (concrete.length > 0) {
      const listId = `ssh-users-${host.id}`;
      typed.setAttribute("list", listId);
      suggestions = h(
        "datalist",
        { attrs: { id: listId } },
        ...concrete.map((name) => h("option", { attrs: { value: name } })),
      );
    }
    user = typed;
  } else {
    user = h(
      "select",
      { testid: "ssh-user" },
      ...concrete.map((name) =>
        h("option", {
          text: checkOnly.has(name) ? `${name} (asks for a recent sign-in)` : name,
          attrs: { value: name },
        }),
      ),
    );
    if (concrete.includes(remembered)) user.value = remembered;
  }
  let note: HTMLElement | null = null;
  if (answer === null) {
    note = h("p", {
      class: "hint",
      testid: "ssh-users-problem",
      text: `Which users the policy allows is not known (${problem}): type the user.`,
    });
  } else if (answer.users.length === 0) {
    note = h("p", {
      class: "form-error",
      testid: "ssh-users-none",
      text: `The policy lets you log in to ${host.name} as no user: an admin can allow you in its ssh rules.`,
    });
  } else if (answer.action === "check") {
    note = h("p", {
      class: "hint",
      testid: "ssh-users-check",
      text: "Some users need a recent sign-in (a check rule): if the host asks, you sign in again and come back to this session.",
    });
  }
  return openDialog<{ user: string }>({
    title: `SSH to ${host.name}`,
    testid: "ssh-dialog",
    submitTestid: "ssh-connect",
    body: [
      h("p", {
        class: "dialog-text",
        text: "Your mesh identity is the login: no password, no key, and the host key comes from the map.",
      }),
      note,
      field("Log in as", user),
      suggestions,
    ],
    submitLabel: "Connect",
    onSubmit: () => {
      const name = user.value.trim();
      if (!name) throw new Error("Choose or enter the user to log in as.");
      rememberUser(MESH_NETWORK_ID, host.name, name);
      return { user: name };
    },
  });
}
