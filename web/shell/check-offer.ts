// Whether a mesh host's refusal may send the person to a fresh sign-in: only when the control
// server says a `check` rule grants that user there (GET /api/v1/nodes/:id/ssh-users lists them
// in checkUsers). The refusal's banner is the host's text: any host can write "/login/check"
// into it, so the banner alone never offers a sign-in; without the server's word it stays a
// plain refusal.

import type { ControlApi } from "../control-api.ts";

/** Whether `answer` (an ssh-users reply, unchecked) names `user` among its checkUsers. */
export function checkRuleGrants(answer: unknown, user: string): boolean {
  if (typeof answer !== "object" || answer === null) return false;
  const checkUsers = (answer as Record<string, unknown>).checkUsers;
  return Array.isArray(checkUsers) && checkUsers.some((u) => typeof u === "string" && u === user);
}

/** Asks the control server whether a check rule grants `user` on node `nodeId`; false on error. */
export async function checkRuleApplies(
  api: ControlApi,
  nodeId: number | string,
  user: string,
): Promise<boolean> {
  try {
    const answer = await api.get<unknown>(
      `/api/v1/nodes/${encodeURIComponent(String(nodeId))}/ssh-users`,
    );
    return checkRuleGrants(answer, user);
  } catch {
    return false;
  }
}

/** What leaving for the sign-in does to the other sessions, by how the engine lives. */
export function leavingText(shared: boolean): string {
  return shared
    ? "Signing in leaves this page for a moment. The browser's shared engine keeps your SSH " +
        "sessions while another tab of this site stays open, and this page shows them again " +
        "when you come back; with no other tab open, they close."
    : "Signing in leaves this page for a moment: the SSH sessions open in this tab close.";
}
