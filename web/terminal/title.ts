// The window title a remote program sets (OSC 0 and OSC 2). It is shown as plain text beside
// the session's own label, never as the page's document.title and never in place of
// user@host (a server must not be able to make its tab look like another host's). Pure.

import { isBidiControl } from "./osc52.ts";

/** The most characters of a remote title shown. */
export const TITLE_MAX_CHARS = 80;

/**
 * A remote title made safe to show: control characters (C0, DEL, C1) and bidirectional
 * controls removed, runs of whitespace collapsed to one space, trimmed, capped at
 * TITLE_MAX_CHARS (with "…").
 */
export function sanitizeTitle(raw: string): string {
  let cleaned = "";
  for (const ch of raw) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0) || isBidiControl(code)) {
      cleaned += " ";
    } else {
      cleaned += ch;
    }
  }
  const chars = Array.from(cleaned.replace(/\s+/gu, " ").trim());
  return chars.length > TITLE_MAX_CHARS
    ? `${chars.slice(0, TITLE_MAX_CHARS - 1).join("")}…`
    : chars.join("");
}
