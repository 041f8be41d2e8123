// The recipient's refusal pages: one title and sentence per reason the server gives (its codes,
// server/control/shares/errors.ts). An unknown id and a changed (tampered) secret are one page:
// the server cannot tell them apart and the page must not either. Also the page's other plain
// pages: waiting, left, and the words for a share that ended while the page was open.

import type { MeshStatus } from "../../worker/api.ts";
import { h } from "../dom.ts";

/** A refusal page's content. */
export interface RefusalText {
  /** Which refusal (the page's data-reason, for tests and styles). */
  reason: string;
  title: string;
  text: string;
}

/** The page for a refusal `code` (the server's `message` is shown for codes not known here). */
export function refusalText(code: string, message = "", sharedBy = ""): RefusalText {
  const ask = sharedBy === "" ? "Ask whoever sent it" : `Ask ${sharedBy}`;
  switch (code) {
    case "share_used_up":
      return {
        reason: "used-up",
        title: "This link was already used",
        text: `It could be accepted a limited number of times, and it has been. ${ask} for a new link.`,
      };
    case "share_busy":
      return {
        reason: "busy",
        title: "This share has too many people on it",
        text: `It allows at most 100 recipients at once. Try again when someone has left. ${ask} for a link of your own.`,
      };
    case "share_expired":
      return {
        reason: "expired",
        title: "This share expired",
        text: `The time it was given for is over. ${ask} for a new link if you still need access.`,
      };
    case "share_revoked":
      return {
        reason: "revoked",
        title: "This share was revoked",
        text: `The person who shared the device ended it. ${ask} if you still need access.`,
      };
    case "share_not_found":
    case "bad_link":
      return {
        reason: "not-found",
        title: "This link does not work",
        text: "It is not known here, or it was changed or cut short on the way. Check that the whole link was copied, or ask for it again.",
      };
    case "share_sign_in_required":
      return {
        reason: "sign-in-required",
        title: "Sign in to accept this share",
        text: "This share is for people who sign in to this Corridor.",
      };
    case "share_email_not_allowed":
      return {
        reason: "email-not-allowed",
        title: "This share is for other people",
        text: `It may be accepted only by the email addresses it names, and yours is not one of them. ${ask} to share it with your address.`,
      };
    case "no_secret":
      return {
        reason: "no-secret",
        title: "Open the share link again",
        text: "This address is a share without its secret part (the text after #): open the link you were sent, whole.",
      };
    default:
      return {
        reason: "error",
        title: "The share could not be opened",
        text: message === "" ? `The server refused it (${code}).` : message,
      };
  }
}

/** A refusal's page. */
export function refusalPage(refusal: RefusalText): HTMLElement {
  return h(
    "section",
    { class: "page home", testid: "share-refused", data: { reason: refusal.reason } },
    h(
      "div",
      { class: "welcome notice", attrs: { role: "alert" } },
      h("h1", { text: refusal.title }),
      h("p", { class: "lead", text: refusal.text }),
    ),
  );
}

/** A line while something loads. */
export function waiting(text: string): HTMLElement {
  return h(
    "section",
    { class: "page home", testid: "share-waiting" },
    h("div", { class: "welcome" }, h("p", { class: "lead", text })),
  );
}

/** After Leave. */
export function leftPage(): HTMLElement {
  return h(
    "section",
    { class: "page home", testid: "share-left" },
    h(
      "div",
      { class: "welcome" },
      h("h1", { text: "You left the share" }),
      h("p", {
        class: "lead",
        text: "This browser no longer reaches the device. To come back, open the link again (if it has uses left).",
      }),
    ),
  );
}

/** Why the share node was refused while the page was open: revoked, expired, or else ended. */
export function endedText(status: MeshStatus): {
  reason: "expired" | "revoked" | "ended";
  title: string;
  text: string;
} {
  if (status.code === "share_expired") {
    return {
      reason: "expired",
      title: "This share expired",
      text: "The time this share was given for is over: this browser no longer reaches the device.",
    };
  }
  if (status.code === "share_revoked") {
    return {
      reason: "revoked",
      title: "Access was revoked",
      text: "The person who shared the device ended your access: this browser no longer reaches it.",
    };
  }
  return {
    reason: "ended",
    title: "Access ended",
    text: `The server ended this browser's access: ${status.detail ?? status.code ?? "refused"}.`,
  };
}
