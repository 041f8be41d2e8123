// Response body framing, RFC 9112 §6.3, and whether the connection stays open after it.

import { headerList, headerValues } from "./chars.ts";
import { HttpParseError } from "./errors.ts";
import type { ResponseHead } from "./response-head.ts";

/** How a response body ends. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** The framing, and whether the connection may carry another request after the body. */
export interface FramingDecision {
  framing: BodyFraming;
  keepAlive: boolean;
}

/**
 * Applies RFC 9112 §6.3 to a final (non-1xx) response to `method`. Throws HttpParseError for
 * an unsupported Transfer-Encoding or an invalid or conflicting Content-Length.
 */
export function responseFraming(method: string, head: ResponseHead): FramingDecision {
  const connection = headerList(head.headers, "connection").map((t) => t.toLowerCase());
  let keepAlive =
    head.minor === 1 ? !connection.includes("close") : connection.includes("keep-alive");
  const m = method.toUpperCase();
  const s = head.status;
  if (m === "HEAD" || s === 204 || s === 304 || (s >= 100 && s < 200)) {
    return { framing: { kind: "none" }, keepAlive };
  }
  if (m === "CONNECT" && s >= 200 && s < 300) {
    return { framing: { kind: "none" }, keepAlive: false };
  }
  const te = headerList(head.headers, "transfer-encoding").map((t) => t.toLowerCase());
  if (te.length > 0) {
    if (te.length !== 1 || te[0] !== "chunked") {
      throw new HttpParseError(`unsupported Transfer-Encoding "${te.join(", ")}"`, 0);
    }
    // Content-Length beside Transfer-Encoding is a smuggling sign: read chunked, then close.
    if (headerValues(head.headers, "content-length").length > 0 || head.minor === 0)
      keepAlive = false;
    return { framing: { kind: "chunked" }, keepAlive };
  }
  const length = contentLength(head);
  if (length !== null) return { framing: { kind: "length", length }, keepAlive };
  return { framing: { kind: "close" }, keepAlive: false };
}

/** The Content-Length, or null when absent; identical duplicates ("5, 5") are accepted. */
export function contentLength(head: ResponseHead): number | null {
  const values = headerValues(head.headers, "content-length");
  if (values.length === 0) return null;
  let seen: string | null = null;
  for (const v of values) {
    for (const part of v.split(",")) {
      const t = part.trim();
      if (!/^\d{1,15}$/.test(t)) {
        throw new HttpParseError(`invalid Content-Length ${JSON.stringify(v.slice(0, 40))}`, 0);
      }
      const norm = t.replace(/^0+(?=\d)/, "");
      if (seen !== null && seen !== norm) {
        throw new HttpParseError(`conflicting Content-Length values ${seen} and ${norm}`, 0);
      }
      seen = norm;
    }
  }
  return Number(seen);
}
