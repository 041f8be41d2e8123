// What a share link offers, as the recipient sees it before accepting (and, shorter, in the bar
// above the terminal after): the device, SSH as which users, which ports, who shared it, until
// when, how many acceptances are left, the note. Plain DOM; text only ever as text.

import type { ShareOffer } from "../../worker/control/api-views.ts";
import { ControlApiError } from "../control-api.ts";
import { type Child, errorText, h } from "../dom.ts";

/** "in 10 minutes", "in 3 hours", "in 2 days" (an expiry ahead), or "now". */
export function untilText(expiresAt: number, now = Date.now()): string {
  const s = Math.round((expiresAt - now) / 1000);
  if (s <= 0) return "now";
  if (s < 90) return `in ${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 90) return `in ${m} minute${m === 1 ? "" : "s"}`;
  const hours = Math.round(m / 60);
  if (hours < 36) return `in ${hours} hour${hours === 1 ? "" : "s"}`;
  const d = Math.round(hours / 24);
  return `in ${d} day${d === 1 ? "" : "s"}`;
}

/** The expiry as a date and time in the person's locale, then how far away. */
export function expiryText(expiresAt: number, now = Date.now()): string {
  const when = new Date(expiresAt).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
  return `${when} (${untilText(expiresAt, now)})`;
}

/** "one more acceptance", "3 acceptances left", "any number until it expires". */
export function usesText(usesLeft: number | null): string {
  if (usesLeft === null) return "any number of people until it expires";
  if (usesLeft === 1) return "one acceptance left: this link works once";
  return `${usesLeft} acceptances left`;
}

/** Who may accept, in words. */
export function audienceText(audience: ShareOffer["audience"]): string {
  if (audience === "anyone") return "anyone with this link, no account needed";
  if (audience === "signed-in") return "people who sign in to this Corridor";
  return "the email addresses the sharer named (sign in first)";
}

function row(label: string, value: Child, testid: string): HTMLElement[] {
  return [h("dt", { text: label }), h("dd", { testid }, value)];
}

/** The offer's facts as a definition list. */
export function offerFacts(offer: ShareOffer): HTMLElement {
  const ssh =
    offer.sshUsers.length === 0
      ? "no SSH"
      : `a terminal as ${offer.sshUsers.join(", ")} (SSH in this tab, no keys or passwords)`;
  const ports =
    offer.ports.length === 0
      ? "none"
      : `${offer.ports.map((p) => `port ${p}`).join(", ")} (opens in a tab of its own)`;
  return h(
    "dl",
    { class: "facts share-facts", testid: "share-facts" },
    ...row(
      "Device",
      `${offer.device.name}${offer.device.os ? ` (${offer.device.os})` : ""}`,
      "share-device",
    ),
    ...row("Shared by", offer.sharedBy, "share-by"),
    ...row("SSH", ssh, "share-ssh"),
    ...row("Web services", ports, "share-ports"),
    ...row("Until", expiryText(offer.expiresAt), "share-until"),
    ...row("Who may accept", audienceText(offer.audience), "share-audience"),
    ...row("Uses", usesText(offer.usesLeft), "share-uses"),
    ...(offer.note === "" ? [] : row("Note", h("q", { text: offer.note }), "share-note")),
  );
}

/** What the recipient cannot do through the share, said once so nobody worries or expects more. */
export function quarantineText(deviceName: string): string {
  return (
    `Accepting gives this browser a temporary address that reaches ${deviceName} only, and only ` +
    `for what is listed. ${deviceName} cannot connect back to this browser. Nothing is installed.`
  );
}

/**
 * POST /api/v1/shares/:id/offer: a public route (no session, no CSRF token), so not through
 * ControlApi.send, which would ask whoami first (a failing request for every guest).
 */
export async function fetchOffer(id: string, secret: string): Promise<ShareOffer> {
  let res: Response;
  try {
    res = await fetch(`/api/v1/shares/${encodeURIComponent(id)}/offer`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      body: JSON.stringify({ secret }),
    });
  } catch (error) {
    throw new ControlApiError(0, "unreachable", `the server did not answer (${errorText(error)})`);
  }
  const text = await res.text().catch(() => "");
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: said below
  }
  const b = (typeof body === "object" && body !== null ? body : {}) as {
    offer?: ShareOffer;
    error?: unknown;
    message?: unknown;
  };
  if (res.ok && typeof b.offer === "object" && b.offer !== null) return b.offer;
  throw new ControlApiError(
    res.status,
    typeof b.error === "string" ? b.error : `http_${res.status}`,
    typeof b.message === "string" ? b.message : `the server answered ${res.status}`,
  );
}
