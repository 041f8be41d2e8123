// What the network details say about the relay connection beyond its state: the engine's
// `NetworkStatus.relay.warning` (a non-loopback relay reached over unencrypted ws://) and
// `relay.error` (why it stopped for good: refused, or a key other than the pinned one). Kept
// apart from the DOM so the wording is tested in Node (test/web/relay-notices.test.ts).

import type { NetworkStatus } from "../../worker/api.ts";

/** One line to show under the relay's state. */
export interface RelayNotice {
  kind: "warning" | "error";
  /** Short heading, shown before the engine's own text. */
  title: string;
  /** The engine's text, unchanged: it names the URL and, for a pin, both keys. */
  text: string;
}

/** Longest engine text shown; a hostile relay's close reason must not fill the page. */
export const MAX_NOTICE_CHARS = 600;

/** Control characters (C0 and DEL) become spaces: the text is one line on the page. */
function withoutControls(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? " " : char;
  }
  return out;
}

function bounded(text: string): string {
  const oneLine = withoutControls(text).replace(/ {2,}/g, " ").trim();
  return oneLine.length > MAX_NOTICE_CHARS ? `${oneLine.slice(0, MAX_NOTICE_CHARS - 1)}…` : oneLine;
}

/** The notices for a relay status, the error first (it is why nothing works). */
export function relayNotices(relay: NetworkStatus["relay"]): RelayNotice[] {
  const notices: RelayNotice[] = [];
  const error = bounded(relay.error ?? "");
  if (error !== "") notices.push({ kind: "error", title: "Relay stopped", text: error });
  const warning = bounded(relay.warning ?? "");
  if (warning !== "") notices.push({ kind: "warning", title: "Unencrypted relay", text: warning });
  return notices;
}
