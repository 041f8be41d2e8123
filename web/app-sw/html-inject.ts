// Where the app origin's service worker puts its page script into an HTML document
// (docs/private-urls.md, "Service worker and injected script"): right after the `<head…>` start
// tag, or, when the document has no head start tag before its first content, right after the
// doctype and `<html…>` start tag. Never before a doctype: a script there would put the page in
// quirks mode. Only the first INSPECT_LIMIT bytes are looked at; the rest passes through as it
// streams. The body's bytes are read as Latin-1 (every byte one char), which keeps the ASCII
// structure of any ASCII-compatible encoding; UTF-16 documents (a UTF-16 BOM) are not touched.
// Pure (no DOM), so Node tests and fuzzers run it.

/** How far into a document the insertion point is looked for, in bytes. */
export const INSPECT_LIMIT = 64 * 1024;

/** What findInsertion says about a document prefix. */
export type Insertion =
  /** Insert at this offset (into the Latin-1 text, equal to the byte offset). */
  | { kind: "at"; offset: number }
  /** The prefix ends before the answer is known: read more (unless the limit is reached). */
  | { kind: "more" }
  /** No safe point (a UTF-16 document, or a tag or comment unfinished at the limit): pass through. */
  | { kind: "none" };

const WS = new Set(["\t", "\n", "\f", "\r", " "]);

/** The HTML tokenizer's states inside a start tag (WHATWG HTML §13.2.5.8 onwards). */
type TagState =
  | "name"
  | "beforeName"
  | "attrName"
  | "afterName"
  | "beforeValue"
  | "double"
  | "single"
  | "unquoted"
  | "afterQuoted"
  | "selfClosing";

/**
 * The end offset of a start tag `<name …>` starting at `i` (text[i] === "<"), as the HTML
 * tokenizer reads it: a quote opens a value only in the "before attribute value" state (after
 * an attribute name and "="); elsewhere quotes are name or value characters, and "=" as an
 * attribute name's first character is part of the name. -1 when the tag does not end in `text`.
 */
function tagEnd(text: string, i: number): number {
  let state: TagState = "name";
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j] as string;
    const ws = WS.has(c);
    switch (state) {
      case "name":
        if (ws) state = "beforeName";
        else if (c === "/") state = "selfClosing";
        else if (c === ">") return j + 1;
        break;
      case "beforeName":
        if (ws) break;
        if (c === "/" || c === ">") {
          state = "afterName";
          j--; // reconsume
        } else state = "attrName"; // "=" here starts a name
        break;
      case "attrName":
        if (ws || c === "/" || c === ">") {
          state = "afterName";
          j--;
        } else if (c === "=") state = "beforeValue";
        break;
      case "afterName":
        if (ws) break;
        if (c === "/") state = "selfClosing";
        else if (c === "=") state = "beforeValue";
        else if (c === ">") return j + 1;
        else state = "attrName";
        break;
      case "beforeValue":
        if (ws) break;
        if (c === '"') state = "double";
        else if (c === "'") state = "single";
        else if (c === ">") return j + 1;
        else state = "unquoted";
        break;
      case "double":
        if (c === '"') state = "afterQuoted";
        break;
      case "single":
        if (c === "'") state = "afterQuoted";
        break;
      case "unquoted":
        if (ws) state = "beforeName";
        else if (c === ">") return j + 1;
        break;
      case "afterQuoted":
        if (ws) state = "beforeName";
        else if (c === "/") state = "selfClosing";
        else if (c === ">") return j + 1;
        else {
          state = "beforeName";
          j--;
        }
        break;
      case "selfClosing":
        if (c === ">") return j + 1;
        state = "beforeName";
        j--;
        break;
    }
  }
  return -1;
}

/** True when text at `i` is `<name` followed by whitespace, "/" or ">" (case-insensitive). */
function isStartTag(text: string, i: number, name: string): "yes" | "no" | "more" {
  const want = `<${name}`;
  const got = text.slice(i, i + want.length).toLowerCase();
  if (got.length < want.length) return want.startsWith(got) ? "more" : "no";
  if (got !== want) return "no";
  const next = text[i + want.length];
  if (next === undefined) return "more";
  return WS.has(next) || next === "/" || next === ">" ? "yes" : "no";
}

/** Where skipping stopped: at something else, or at a construct unfinished within the text. */
interface Stop {
  at: number;
  /** The construct at `at` does not end within the text (a comment, doctype, tag start). */
  open: "no" | "doctype" | "other";
  /** A doctype was skipped. */
  doctype: boolean;
  /** Where the last doctype skipped ended (-1 for none). */
  doctypeEnd: number;
}

/**
 * Skips whitespace, comments, doctypes, processing instructions and bogus comments from `i`;
 * says where the next thing starts.
 */
function skipTrivia(text: string, i: number): Stop {
  let at = i;
  let doctype = false;
  let doctypeEnd = -1;
  for (;;) {
    while (at < text.length && WS.has(text[at] as string)) at++;
    if (at >= text.length || text[at] !== "<") return { at, open: "no", doctype, doctypeEnd };
    const rest = text.slice(at, at + 9);
    const lower = rest.toLowerCase();
    if (rest.startsWith("<!--")) {
      // Comments end at "-->", "--!>", or abruptly at "<!-->" / "<!--->".
      if (text.startsWith("<!-->", at)) {
        at += 5;
        continue;
      }
      if (text.startsWith("<!--->", at)) {
        at += 6;
        continue;
      }
      const m = /--!?>/g;
      m.lastIndex = at + 4;
      const found = m.exec(text);
      if (found === null) return { at, open: "other", doctype, doctypeEnd };
      at = found.index + found[0].length;
      continue;
    }
    if (
      lower === "<!doctype" ||
      (rest.length < 9 && rest.length >= 2 && "<!doctype".startsWith(lower))
    ) {
      if (rest.length < 9 && text.length - at < 9) {
        // "<!DOC" at the end: a doctype or a bogus comment, not known yet.
        return { at, open: "doctype", doctype, doctypeEnd };
      }
      const end = text.indexOf(">", at);
      if (end < 0) return { at, open: "doctype", doctype, doctypeEnd };
      at = end + 1;
      doctype = true;
      doctypeEnd = at;
      continue;
    }
    if (rest.length < 4 && "<!--".startsWith(rest))
      return { at, open: "other", doctype, doctypeEnd };
    if (rest.startsWith("<?") || rest.startsWith("<!")) {
      // A processing instruction or bogus comment: ends at the first ">".
      const end = text.indexOf(">", at);
      if (end < 0) return { at, open: "other", doctype, doctypeEnd };
      at = end + 1;
      continue;
    }
    if (rest === "<") return { at, open: "other", doctype, doctypeEnd };
    return { at, open: "no", doctype, doctypeEnd };
  }
}

/** How much of the document findInsertion sees. */
export type Extent =
  /** The first bytes of a longer document that is still arriving. */
  | "partial"
  /** The first INSPECT_LIMIT bytes: decide now. */
  | "limit"
  /** The whole document. */
  | "complete";

/**
 * Finds where the page script goes in `text` (a document's first bytes as Latin-1). Skips a
 * UTF-8 BOM, whitespace, comments and a doctype, then an `<html…>` start tag and more trivia,
 * then stops after `<head…>` when it comes next, else before whatever comes next. Never before
 * a doctype: when one might still follow (a comment unfinished at the limit before any doctype
 * or html tag) the answer is "none".
 */
export function findInsertion(text: string, extent: Extent): Insertion {
  if (text.startsWith("\xfe\xff") || text.startsWith("\xff\xfe")) return { kind: "none" };
  if (extent === "partial" && text.length < 3 && "\xef\xbb\xbf".startsWith(text)) {
    return { kind: "more" };
  }
  let at = text.startsWith("\xef\xbb\xbf") ? 3 : 0;
  let structure = false; // a doctype or <html> was passed: no doctype can follow that counts
  // An unfinished construct at `stop.at`: whether to insert before it depends on the extent.
  const unfinished = (stop: Stop): Insertion => {
    if (extent === "partial") return { kind: "more" };
    if (stop.open === "doctype") return { kind: "none" };
    if (extent === "limit" && !structure && !stop.doctype) return { kind: "none" };
    return { kind: "at", offset: stop.at };
  };
  for (const name of ["html", "head"]) {
    const stop = skipTrivia(text, at);
    structure ||= stop.doctype;
    if (stop.open !== "no") return unfinished(stop);
    if (stop.at >= text.length) {
      // Only trivia to the end: right after the last structure (the doctype or a start tag).
      return extent === "partial"
        ? { kind: "more" }
        : { kind: "at", offset: Math.max(at, stop.doctypeEnd) };
    }
    const tag = isStartTag(text, stop.at, name);
    if (tag === "more") return unfinished({ ...stop, open: "other" });
    if (tag === "no") {
      if (name === "head") return { kind: "at", offset: stop.at };
      at = stop.at; // no <html> start tag: a <head> may still come first
      continue;
    }
    const end = tagEnd(text, stop.at);
    if (end < 0) return unfinished({ ...stop, open: "other" });
    at = end;
    structure = true;
  }
  return { kind: "at", offset: at };
}

/** Escapes text for a double-quoted HTML attribute, as ASCII (any document encoding reads it). */
export function escapeAttribute(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === "&") out += "&amp;";
    else if (ch === '"') out += "&quot;";
    else if (ch === "<") out += "&lt;";
    else if (ch === ">") out += "&gt;";
    else if (code < 0x20 || code >= 0x7f) out += `&#x${code.toString(16)};`;
    else out += ch;
  }
  return out;
}

/** The page script's tag: its URL, the initial document.cookie, and a CSP nonce when needed. */
export function scriptTag(src: string, cookie: string, nonce: string | null): string {
  const nonceAttr = nonce === null ? "" : ` nonce="${escapeAttribute(nonce)}"`;
  return `<script src="${escapeAttribute(src)}"${nonceAttr} data-cookie="${escapeAttribute(cookie)}"></script>`;
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Inserts `tag` (ASCII) into a streamed HTML body at findInsertion's point: buffers up to
 * INSPECT_LIMIT bytes until the point is known, then passes everything through as it comes.
 * `onDecision` hears whether the tag went in (for logs and tests).
 */
export function injectIntoStream(
  body: ReadableStream<Uint8Array>,
  tag: string,
  onDecision?: (inserted: boolean) => void,
): ReadableStream<Uint8Array> {
  const tagBytes = new TextEncoder().encode(tag);
  const held: Uint8Array[] = [];
  let heldBytes = 0;
  // The held bytes' first INSPECT_LIMIT as Latin-1, grown chunk by chunk (Latin-1 decodes each
  // byte alone, so no re-joining or re-decoding of what came before).
  let text = "";
  let decided = false;
  const decide = (controller: TransformStreamDefaultController<Uint8Array>, done: boolean) => {
    const extent = heldBytes >= INSPECT_LIMIT ? "limit" : done ? "complete" : "partial";
    const found = findInsertion(text, extent);
    if (found.kind === "more") return;
    decided = true;
    const all = concat(held, heldBytes);
    held.length = 0;
    heldBytes = 0;
    text = "";
    if (found.kind === "at") {
      controller.enqueue(all.subarray(0, found.offset));
      controller.enqueue(tagBytes);
      if (found.offset < all.length) controller.enqueue(all.subarray(found.offset));
    } else if (all.length > 0) {
      controller.enqueue(all);
    }
    onDecision?.(found.kind === "at");
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (decided) {
          controller.enqueue(chunk);
          return;
        }
        held.push(chunk);
        if (heldBytes < INSPECT_LIMIT) {
          text += latin1(chunk.subarray(0, INSPECT_LIMIT - heldBytes));
        }
        heldBytes += chunk.length;
        decide(controller, false);
      },
      flush(controller) {
        if (!decided) decide(controller, true);
      },
    }),
  );
}
