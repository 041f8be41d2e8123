// The admin views (issue 15 item 6), mounted by the page for #/admin/SECTION: nodes, users,
// auth keys, the policy editor and the audit list, each in its own file, under one heading with
// a section bar. Loaded with a dynamic import (`await import("./admin/admin-view.ts")`), so the
// page's first load carries none of it. Admins and the owner only: the server refuses everyone
// else anyway, this only says so plainly instead of showing a row of 403s.

import { isAdminRole } from "../control-api.ts";
import { h } from "../dom.ts";
import { auditSection } from "./audit.ts";
import { keysSection } from "./keys.ts";
import { nodesSection } from "./nodes.ts";
import { policySection } from "./policy.ts";
import type { AdminDeps, AdminSectionView } from "./types.ts";
import { usersSection } from "./users.ts";

/** The sections, in the order of the bar (the same names as web/router.ts ADMIN_SECTIONS). */
export type AdminSectionName = "nodes" | "users" | "keys" | "policy" | "audit";

const SECTIONS: Record<
  AdminSectionName,
  { label: string; make: (deps: AdminDeps) => AdminSectionView }
> = {
  nodes: { label: "Nodes", make: nodesSection },
  users: { label: "Users", make: usersSection },
  keys: { label: "Auth keys", make: keysSection },
  policy: { label: "Policy", make: policySection },
  audit: { label: "Audit", make: auditSection },
};

export type { AdminDeps, AdminSectionView } from "./types.ts";

/** The admin page showing `section`; stop() ends its refresh timers (call it on leaving). */
export function adminView(section: AdminSectionName, deps: AdminDeps): AdminSectionView {
  const bar = h(
    "nav",
    { class: "admin-bar", attrs: { "aria-label": "Admin sections" } },
    ...(Object.keys(SECTIONS) as AdminSectionName[]).map((name) =>
      h("a", {
        class: name === section ? "admin-tab selected" : "admin-tab",
        testid: `admin-tab-${name}`,
        text: SECTIONS[name].label,
        attrs: { href: `#/admin/${name}`, ...(name === section ? { "aria-current": "page" } : {}) },
      }),
    ),
  );
  const heading = h(
    "div",
    { class: "page-head" },
    h("h1", { text: `Admin · ${SECTIONS[section].label}` }),
  );
  if (!isAdminRole(deps.me.user.role)) {
    const element = h(
      "section",
      { class: "page admin", testid: "admin-refused" },
      heading,
      h("p", {
        class: "lead",
        text: "The admin pages are for admins and the owner. Ask the owner for the admin role.",
      }),
    );
    return { element, stop: () => {} };
  }
  const shown = SECTIONS[section].make(deps);
  const element = h(
    "section",
    { class: "page admin", testid: `admin-view-${section}` },
    heading,
    bar,
    shown.element,
  );
  return { element, stop: () => shown.stop() };
}
