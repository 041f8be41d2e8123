// Request head encoder (RFC 9112 §3): method, request-target and header fields are validated
// before a byte is written, so a caller's string can never inject a second header or request
// (CR, LF, NUL) or break the request line (SP in the target).

import { isBadValueByte, isToken } from "./chars.ts";
import { HttpEncodeError } from "./errors.ts";

/** The longest request-target accepted: servers commonly refuse beyond 8 KiB. */
export const MAX_TARGET_BYTES = 8192;

/** What is written before a request's body. Values are byte strings (code points <= 0xff). */
export interface RequestHead {
  method: string;
  /** origin-form ("/path?q"), "*" for OPTIONS, or absolute-form ("http://h/p"). */
  target: string;
  headers: readonly (readonly [string, string])[];
}

/** Throws HttpEncodeError unless `method` is a token. */
export function validateMethod(method: string): void {
  if (!isToken(method)) throw new HttpEncodeError(`invalid method ${JSON.stringify(method)}`);
}

/** Throws HttpEncodeError unless `target` is visible ASCII, non-empty, and not too long. */
export function validateTarget(target: string): void {
  if (target.length === 0) throw new HttpEncodeError("empty request target");
  if (target.length > MAX_TARGET_BYTES) {
    throw new HttpEncodeError(`request target longer than ${MAX_TARGET_BYTES} bytes`);
  }
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      throw new HttpEncodeError(
        `request target has byte 0x${c.toString(16).padStart(2, "0")} at index ${i} (percent-encode it)`,
      );
    }
  }
  if (target[0] !== "/" && target !== "*" && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) {
    throw new HttpEncodeError(
      `request target ${JSON.stringify(target)} is not "/...", "*" or absolute`,
    );
  }
}

/** Validates one header field; returns the value with surrounding SP/HTAB trimmed. */
export function validateHeader(name: string, value: string): string {
  if (!isToken(name)) throw new HttpEncodeError(`invalid header name ${JSON.stringify(name)}`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) {
      throw new HttpEncodeError(`header ${name}: character U+${c.toString(16)} is not a byte`);
    }
    if (isBadValueByte(c)) {
      throw new HttpEncodeError(
        `header ${name}: control byte 0x${c.toString(16).padStart(2, "0")} at index ${i} (CR, LF and NUL are never sent)`,
      );
    }
  }
  return value.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** Encodes `METHOD target HTTP/1.1\r\n` + fields + `\r\n`, throwing HttpEncodeError first. */
export function encodeRequestHead(head: RequestHead): Uint8Array {
  validateMethod(head.method);
  validateTarget(head.target);
  let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
  for (const [name, value] of head.headers) {
    text += `${name}: ${validateHeader(name, value)}\r\n`;
  }
  text += "\r\n";
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
