// Incremental response-head parser (RFC 9112 §4, §5). Bytes arrive in any split; the parser
// holds at most `maxHeadBytes` until it sees the blank line, then parses the whole head once.
// Refused: obs-fold (a line starting with SP/HTAB), whitespace before a colon, bare CR, control
// bytes in values, versions other than HTTP/1.0 and 1.1, more than `maxHeaders` fields.

import { isBadValueByte, latin1, TCHAR } from "./chars.ts";
import { HttpParseError } from "./errors.ts";

/** A parsed status line and header section. */
export interface ResponseHead {
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  status: number;
  statusText: string;
  /** Names as sent (case kept), values trimmed, in order; duplicates kept. */
  headers: [string, string][];
}

/** Limits of a head (status line plus fields plus the blank line). */
export interface HeadLimits {
  maxHeadBytes: number;
  maxHeaders: number;
}

/** 64 KiB and 256 fields, as the engine's client uses. */
export const DEFAULT_HEAD_LIMITS: HeadLimits = { maxHeadBytes: 64 * 1024, maxHeaders: 256 };

/** Feeds on bytes until a full head is seen. One parser per head. */
export class ResponseHeadParser {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  /** 0: inside a line, 1: just after LF, 2: after LF then CR. */
  private scan = 0;

  constructor(private readonly limits: HeadLimits = DEFAULT_HEAD_LIMITS) {}

  /** Bytes held while waiting for the end of the head. */
  get buffered(): number {
    return this.size;
  }

  /**
   * Feeds `chunk`. Returns null when more bytes are needed, else the head and the bytes after
   * it (a subarray of `chunk`). Throws HttpParseError on a malformed or oversized head.
   */
  push(chunk: Uint8Array): { head: ResponseHead; rest: Uint8Array } | null {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === 0x0a) {
        if (this.scan !== 0) {
          this.chunks.push(chunk.subarray(0, i + 1));
          this.size += i + 1;
          return { head: this.finish(), rest: chunk.subarray(i + 1) };
        }
        this.scan = 1;
      } else if (c === 0x0d) {
        this.scan = this.scan === 1 ? 2 : 0;
      } else {
        this.scan = 0;
      }
      if (this.size + i + 1 > this.limits.maxHeadBytes) {
        throw new HttpParseError(
          `response head longer than ${this.limits.maxHeadBytes} bytes`,
          this.limits.maxHeadBytes,
        );
      }
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    return null;
  }

  private finish(): ResponseHead {
    const bytes = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    return parseHead(bytes, this.limits.maxHeaders);
  }
}

/** Splits complete head bytes (ending in a blank line) into lines with their offsets. */
function lines(bytes: Uint8Array): { text: string; offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x0d && bytes[i + 1] !== 0x0a) throw new HttpParseError("bare CR", i);
    if (c === 0x0a) {
      const end = i > start && bytes[i - 1] === 0x0d ? i - 1 : i;
      out.push({ text: latin1(bytes, start, end), offset: start });
      start = i + 1;
    }
  }
  return out;
}

const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/;

/** Parses a whole head: status line, fields, blank line. */
export function parseHead(bytes: Uint8Array, maxHeaders: number): ResponseHead {
  const all = lines(bytes);
  const first = all[0];
  if (first === undefined || first.text === "") throw new HttpParseError("empty status line", 0);
  const m = STATUS_LINE.exec(first.text);
  if (m === null) {
    throw new HttpParseError(`malformed status line ${JSON.stringify(first.text.slice(0, 64))}`, 0);
  }
  if (m[1] !== "1" || (m[2] !== "0" && m[2] !== "1")) {
    throw new HttpParseError(`unsupported version HTTP/${m[1]}.${m[2]}`, 5);
  }
  const status = Number(m[3]);
  if (status < 100) throw new HttpParseError(`status code ${m[3]} below 100`, 9);
  const statusText = m[4] ?? "";
  for (let i = 0; i < statusText.length; i++) {
    if (isBadValueByte(statusText.charCodeAt(i))) {
      throw new HttpParseError("control byte in reason phrase", 13 + i);
    }
  }
  const headers: [string, string][] = [];
  for (let l = 1; l < all.length - 1; l++) {
    const { text, offset } = all[l]!;
    headers.push(parseField(text, offset));
    if (headers.length > maxHeaders) {
      throw new HttpParseError(`more than ${maxHeaders} header fields`, offset);
    }
  }
  return { minor: m[2] === "0" ? 0 : 1, status, statusText, headers };
}

/** One `name: value` line at `offset`; shared with chunked trailers. */
export function parseField(text: string, offset: number): [string, string] {
  const c0 = text.charCodeAt(0);
  if (c0 === 0x20 || c0 === 0x09)
    throw new HttpParseError("obs-fold (line folding) refused", offset);
  const colon = text.indexOf(":");
  if (colon <= 0) throw new HttpParseError("header line without a name and colon", offset);
  for (let i = 0; i < colon; i++) {
    const c = text.charCodeAt(i);
    if (TCHAR[c] !== 1) {
      throw new HttpParseError(
        c === 0x20 || c === 0x09 ? "whitespace before colon" : "invalid byte in header name",
        offset + i,
      );
    }
  }
  for (let i = colon + 1; i < text.length; i++) {
    if (isBadValueByte(text.charCodeAt(i))) {
      throw new HttpParseError("control byte in header value", offset + i);
    }
  }
  return [text.slice(0, colon), text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")];
}
