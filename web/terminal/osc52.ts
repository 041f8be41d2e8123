// OSC 52 ("manipulate selection data", ESC ] 52 ; Pc ; Pd BEL) as xterm hands it to us: the
// text after "52;". A server may ask to read a clipboard (Pd "?") or to set one (Pd base64).
// This file only parses and bounds the request; clipboard-guard.ts decides what happens
// (reads are always refused, writes need the person's consent). Pure: no DOM, unit-tested in
// Node and fuzzed with hostile payloads.

/**
 * The most base64 an OSC 52 write may carry (96 KiB of text). xterm buffers an OSC string up
 * to 10 MB before handing it over; anything a person would want to copy from a shell is far
 * below this, and a larger payload is refused before it is decoded.
 */
export const OSC52_MAX_BASE64 = 131_072;

/** What a server asked for with one OSC 52 sequence. */
export type Osc52Request =
  | { kind: "read" }
  | { kind: "write"; text: string }
  | { kind: "invalid"; reason: string };

// Pc: which selections ("c" clipboard, "p" primary, "q" secondary, "s" select, "0"-"7" cut
// buffers); empty means the default ("s 0" in xterm's terms). A browser page has one clipboard,
// so every target means that one.
const SELECTIONS = /^[cpqs0-7]*$/;
const BASE64 =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses the data of an OSC 52 sequence (everything after "52;"); never throws. */
export function parseOsc52(data: string): Osc52Request {
  const separator = data.indexOf(";");
  if (separator < 0) return { kind: "invalid", reason: "no selection parameter" };
  const selection = data.slice(0, separator);
  const payload = data.slice(separator + 1);
  if (selection.length > 16 || !SELECTIONS.test(selection)) {
    return { kind: "invalid", reason: "unknown selection" };
  }
  if (payload === "?") return { kind: "read" };
  if (payload.length > OSC52_MAX_BASE64) {
    return { kind: "invalid", reason: `longer than ${OSC52_MAX_BASE64} base64 characters` };
  }
  if (!BASE64.test(payload)) return { kind: "invalid", reason: "not base64" };
  let binary: string;
  try {
    binary = atob(payload);
  } catch {
    return { kind: "invalid", reason: "not base64" };
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return { kind: "write", text: utf8.decode(bytes) };
  } catch {
    return { kind: "invalid", reason: "not UTF-8 text" };
  }
}

/** The most characters of a write shown in a notice. */
export const PREVIEW_CHARS = 60;

/**
 * A one-line preview of clipboard text for a notice: control characters made visible (a
 * newline as ↵, ESC as ␛, others as their Control Pictures), capped at PREVIEW_CHARS.
 */
export function clipboardPreview(text: string): string {
  let out = "";
  let count = 0;
  for (const ch of text) {
    if (count === PREVIEW_CHARS) return `${out}…`;
    const code = ch.codePointAt(0)!;
    if (ch === "\n") out += "↵";
    else if (ch === "\r") out += "␍";
    else if (ch === "\t") out += "⇥";
    else if (code < 0x20) out += String.fromCodePoint(0x2400 + code);
    else if (code === 0x7f) out += "␡";
    else if ((code >= 0x80 && code < 0xa0) || isBidiControl(code)) out += "�";
    else out += ch;
    count++;
  }
  return out;
}

/** Characters that reorder the text around them: a preview must show text as it is. */
export function isBidiControl(code: number): boolean {
  return (
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** The number of characters (code points) of `text`, as a notice counts them. */
export function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
