// Incremental chunked-body decoder (RFC 9112 §7.1): a byte-at-a-time state machine for the
// framing, with chunk data passed on as subarrays of the input (no copy). Refused: a size line
// without hex digits, a size beyond 2^53-1, a size line or extension longer than 4 KiB, control
// bytes in it, a missing CRLF after data, trailers beyond 64 KiB or 256 fields, obs-fold.

import { isBadValueByte, latin1 } from "./chars.ts";
import { HttpParseError } from "./errors.ts";
import { parseField } from "./response-head.ts";

/** Longest chunk-size line (size plus extensions). */
export const MAX_CHUNK_LINE = 4096;
/** Most trailer bytes and fields accepted. */
export const MAX_TRAILER_BYTES = 64 * 1024;
export const MAX_TRAILERS = 256;

enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLf,
  Done,
}

/** What one `push` produced. */
export interface ChunkedOutput {
  /** Chunk data, in order (subarrays of the pushed bytes). */
  data: Uint8Array[];
  /** The last chunk and the trailer section were read. */
  done: boolean;
  /** Bytes after the end of the body (only when done; may be empty). */
  rest: Uint8Array;
}

/** Decodes one chunked body. */
export class ChunkedDecoder {
  private state = S.Size;
  private size = 0;
  private digits = 0;
  private lineLen = 0;
  private remaining = 0;
  private offset = 0;
  private line: number[] = [];
  private lineStart = 0;
  private trailerBytes = 0;
  /** Trailer fields, once done. */
  readonly trailers: [string, string][] = [];

  /** True once the terminating chunk and trailers were read. */
  get done(): boolean {
    return this.state === S.Done;
  }

  /** Feeds bytes; throws HttpParseError with the offset in the whole body. */
  push(chunk: Uint8Array): ChunkedOutput {
    const data: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.state === S.Done) break;
      if (this.state === S.Data) {
        const n = Math.min(this.remaining, chunk.length - i);
        data.push(chunk.subarray(i, i + n));
        this.remaining -= n;
        i += n;
        this.offset += n;
        if (this.remaining === 0) this.state = S.DataCr;
        continue;
      }
      this.step(chunk[i]!);
      i++;
      this.offset++;
    }
    const done = this.state === S.Done;
    return { data, done, rest: done ? chunk.subarray(i) : chunk.subarray(chunk.length) };
  }

  private fail(what: string): never {
    throw new HttpParseError(what, this.offset);
  }

  private step(c: number): void {
    switch (this.state) {
      case S.Size: {
        const d = hexValue(c);
        if (d >= 0) {
          if (this.size > (Number.MAX_SAFE_INTEGER - d) / 16) this.fail("chunk size too large");
          this.size = this.size * 16 + d;
          this.digits++;
          this.lineLen++;
          // Leading zeros carry no value but are bytes: the line limit covers them too.
          if (this.lineLen > MAX_CHUNK_LINE) this.fail("chunk size line too long");
          return;
        }
        if (this.digits === 0) this.fail("chunk size without hex digits");
        this.state = S.Ext;
        this.ext(c);
        return;
      }
      case S.Ext:
        this.ext(c);
        return;
      case S.SizeLf:
        if (c !== 0x0a) this.fail("CR without LF after chunk size");
        this.endSizeLine();
        return;
      case S.DataCr:
        if (c === 0x0d) this.state = S.DataLf;
        else if (c === 0x0a) this.state = S.Size;
        else this.fail("chunk data longer than its size (no CRLF after it)");
        return;
      case S.DataLf:
        if (c !== 0x0a) this.fail("CR without LF after chunk data");
        this.state = S.Size;
        return;
      case S.Trailer:
        this.trailerBytes++;
        if (this.trailerBytes > MAX_TRAILER_BYTES) this.fail("trailer section too long");
        if (c === 0x0d) this.state = S.TrailerLf;
        else if (c === 0x0a) this.endTrailerLine();
        else this.line.push(c);
        return;
      case S.TrailerLf:
        if (c !== 0x0a) this.fail("CR without LF in trailer");
        this.endTrailerLine();
        return;
      default:
        return;
    }
  }

  /** After the size: extensions (";name=value"), BWS, then CRLF or LF. */
  private ext(c: number): void {
    this.lineLen++;
    if (this.lineLen > MAX_CHUNK_LINE) this.fail("chunk size line too long");
    if (c === 0x0d) {
      this.state = S.SizeLf;
      return;
    }
    if (c === 0x0a) {
      this.endSizeLine();
      return;
    }
    if (isBadValueByte(c)) this.fail("control byte in chunk size line");
    if (this.lineLen === this.digits + 1 && c !== 0x3b && c !== 0x20 && c !== 0x09) {
      this.fail("invalid byte after chunk size");
    }
  }

  private endSizeLine(): void {
    this.remaining = this.size;
    this.size = 0;
    this.digits = 0;
    this.lineLen = 0;
    if (this.remaining === 0) {
      this.state = S.Trailer;
      this.line = [];
      this.lineStart = this.offset + 1;
    } else {
      this.state = S.Data;
    }
  }

  private endTrailerLine(): void {
    if (this.line.length === 0) {
      this.state = S.Done;
      return;
    }
    const text = latin1(Uint8Array.from(this.line));
    this.trailers.push(parseField(text, this.lineStart));
    if (this.trailers.length > MAX_TRAILERS) this.fail(`more than ${MAX_TRAILERS} trailer fields`);
    this.line = [];
    this.lineStart = this.offset + 1;
    this.state = S.Trailer;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Encodes one chunk's size line (the data and its CRLF follow separately). */
export function chunkSizeLine(n: number): Uint8Array {
  const s = `${n.toString(16)}\r\n`;
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** CRLF after chunk data. */
export const CRLF: Uint8Array = Uint8Array.of(0x0d, 0x0a);
/** The last chunk and an empty trailer section. */
export const LAST_CHUNK: Uint8Array = Uint8Array.of(0x30, 0x0d, 0x0a, 0x0d, 0x0a);
