/// <reference types="vite/client" />
// #/admin/SECTION: H4's admin views (web/admin/admin-view.ts), loaded only when an admin opens
// one, so the first load never pays for them. Found through import.meta.glob, which resolves to
// nothing (instead of failing the build) in a build that does not ship them.

import type { ControlApi, WhoAmI } from "../control-api.ts";
import type { AdminSection } from "../router.ts";

/** What an admin view module exports (web/admin/admin-view.ts). */
interface AdminModule {
  adminView(
    section: AdminSection,
    deps: { api: ControlApi; me: WhoAmI },
  ): { element: HTMLElement; stop(): void };
}

const modules = import.meta.glob<AdminModule>("../admin/admin-view.ts");

/** Mounts the admin view of `section`; null when this build has no admin views. */
export async function loadAdminView(
  section: AdminSection,
  api: ControlApi,
  me: WhoAmI,
): Promise<{ element: HTMLElement; stop(): void } | null> {
  const load = modules["../admin/admin-view.ts"];
  if (load === undefined) return null;
  const module = await load();
  return module.adminView(section, { api, me });
}
