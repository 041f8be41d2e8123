// #/admin/SECTION: the admin views (web/admin/admin-view.ts), loaded only when an admin opens
// one, so the first load never pays for them (a chunk of their own).

import type { ControlApi, WhoAmI } from "../control-api.ts";
import type { AdminSection } from "../router.ts";

/** Mounts the admin view of `section`. */
export async function loadAdminView(
  section: AdminSection,
  api: ControlApi,
  me: WhoAmI,
): Promise<{ element: HTMLElement; stop(): void }> {
  const { adminView } = await import("../admin/admin-view.ts");
  return adminView(section, { api, me });
}
