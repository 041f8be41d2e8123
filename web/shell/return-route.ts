// The route to come back to after a sign-in round trip (SSO, the owner or an invitation link,
// a `check` rule's fresh sign-in): kept in this tab's sessionStorage under "corridor.return",
// which the server's sign-in page script (server/control/api/assets/link.js) reads too.

import { parseRoute } from "../router.ts";

/** The sessionStorage key (shared with server/control/api/assets/link.js). */
export const RETURN_KEY = "corridor.return";

/** Remembers `hash` (a page route such as "#/ssh/root@web-01"); invalid routes are ignored. */
export function saveReturnRoute(hash: string): void {
  if (parseRoute(hash).kind === "invalid") return;
  try {
    sessionStorage.setItem(RETURN_KEY, hash);
  } catch {
    // No storage (private mode, disabled): the person lands on the home page instead.
  }
}

/** The remembered route, removed from storage; null when there is none (or it is not valid). */
export function takeReturnRoute(): string | null {
  let hash: string | null = null;
  try {
    hash = sessionStorage.getItem(RETURN_KEY);
    sessionStorage.removeItem(RETURN_KEY);
  } catch {
    return null;
  }
  if (hash === null || parseRoute(hash).kind === "invalid") return null;
  return hash;
}

/** The path a sign-in should return to: the page with `hash` ("/#/mesh"). */
export function returnPath(hash: string): string {
  return `/${parseRoute(hash).kind === "invalid" ? "" : hash}`;
}
