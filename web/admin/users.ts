// Admin → Users: everyone who signed in, with role and last sign-in. Only the owner changes
// roles (the API refuses anyone else), and the owner's own role never changes: so the role is a
// choice only where the API allows it, and plain text elsewhere.

import type { UserListBody, UserRole, UserView } from "../../worker/control/api-views.ts";
import { h, replace } from "../dom.ts";
import { cell, dataTable, poll, StatusLine, timeCell } from "./common.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";

const REFRESH_MS = 30_000;

export function usersSection({ api, me }: AdminDeps): AdminSectionView {
  const status = new StatusLine();
  const list = h("div", { class: "admin-list" }, h("p", { class: "hint", text: "Loading…" }));
  const mayChange = me.user.role === "owner";

  const load = async () => {
    const { users } = await api.get<UserListBody>("/api/v1/users");
    replace(list, render(users));
  };

  const changeRole = async (user: UserView, select: HTMLSelectElement) => {
    const role = select.value;
    select.disabled = true;
    try {
      await api.send("PATCH", `/api/v1/users/${user.id}`, { role });
      status.info(`${user.email || user.name} is now ${role}.`);
      user.role = role as UserRole;
    } catch (error) {
      select.value = user.role;
      status.error(error);
    } finally {
      select.disabled = false;
    }
  };

  function roleCell(user: UserView): HTMLTableCellElement {
    if (!mayChange || user.role === "owner") return cell(user.role);
    const select = h(
      "select",
      {
        testid: "user-role",
        attrs: { "aria-label": `Role of ${user.email || user.name}` },
      },
      h("option", { text: "member", attrs: { value: "member" } }),
      h("option", { text: "admin", attrs: { value: "admin" } }),
    );
    select.value = user.role;
    select.addEventListener("change", () => void changeRole(user, select));
    return cell(select);
  }

  function render(users: UserView[]): HTMLElement {
    const rows = users.map((u) =>
      h(
        "tr",
        { data: { user: u.email || u.name } },
        cell(
          h("strong", { text: u.name || "—" }),
          u.id === me.user.id ? h("span", { class: "badge", text: "you" }) : null,
        ),
        cell(u.email || "—"),
        roleCell(u),
        timeCell(u.lastLoginAt),
        timeCell(u.createdAt),
      ),
    );
    return dataTable(
      "admin-users",
      ["Name", "Email", "Role", "Last sign-in", "Joined"],
      rows,
      "No users.",
    );
  }

  const stop = poll(load, status, REFRESH_MS);
  const element = h(
    "div",
    { class: "admin-section" },
    h(
      "p",
      { class: "lead" },
      mayChange
        ? "Everyone who signed in. Admins manage nodes, keys and the policy; the owner's role is fixed."
        : "Everyone who signed in. Only the owner changes roles.",
    ),
    status.element,
    list,
  );
  return { element, stop };
}
