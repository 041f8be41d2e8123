// AppResponse -> Response for the app origin's service worker (docs/private-urls.md, "Service
// worker and injected script"). The Response constructor is stricter than HTTP/1.1 servers:
// statuses outside 200-599 throw (the engine never hands over 1xx or 101; 0 is no status), a
// body on 204/205/304 throws, and header names or values it finds invalid throw. Those fields are
// skipped one by one rather than losing the response. HTML navigations get the page script,
// unless the body is still content-coded (br, zstd: the engine decodes only gzip and deflate).
// A small body comes whole (AppResponse.bytes) and makes a Response from bytes: no stream.

import type { AppResponse } from "../../worker/http/app-port.ts";
import { type AlsoAllow, adaptCsp, randomNonce } from "./csp.ts";
import { findInsertion, INSPECT_LIMIT, injectIntoStream, scriptTag } from "./html-inject.ts";

/** Where the page script is served on every app origin. */
export const INJECT_PATH = "/__corridor/inject.js";

/** Statuses whose responses have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** True when the Response constructor accepts this status. */
export function usableStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** The media type's essence of a Content-Type value ("text/html"). */
export function mediaType(value: string | null): string {
  return (value ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * The content codings a response still carries, or null when none (absent or only "identity").
 * The engine decodes gzip and deflate and drops their Content-Encoding; others (br, zstd) pass
 * through encoded, and a browser does not decode the body of a Response a service worker builds.
 */
export function undecodedCoding(fields: readonly (readonly [string, string])[]): string | null {
  const codings = fields
    .filter(([name]) => name.toLowerCase() === "content-encoding")
    .flatMap(([, value]) => value.split(","))
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  return codings.length === 0 ? null : codings.join(", ");
}

/** Builds Headers from fields, skipping ones the Fetch API refuses. */
export function toHeaders(fields: readonly (readonly [string, string])[]): Headers {
  const headers = new Headers();
  for (const [name, value] of fields) {
    try {
      headers.append(name, value);
    } catch {
      // An invalid name or value for the Fetch API: dropped (the rest of the response stands).
    }
  }
  return headers;
}

/** How a response should be handled. */
export interface ResponseOptions {
  /** The request's method (HEAD responses have no body). */
  method: string;
  /** Insert the page script into HTML (navigations). */
  inject: boolean;
  /** The page's origin (for the script's URL in CSPs). */
  origin: string;
  /** Other URLs the page script needs, let through the app's CSP too (the bridge). */
  also?: readonly AlsoAllow[];
}

/**
 * `tag` inserted into a whole HTML body where injectIntoStream would put it given the body as
 * one chunk (the same findInsertion calls: "partial" first, then "complete", or "limit" for
 * INSPECT_LIMIT bytes and more).
 */
export function injectIntoBytes(bytes: Uint8Array, tag: string): Uint8Array {
  const head = bytes.subarray(0, INSPECT_LIMIT);
  let text = "";
  for (let i = 0; i < head.length; i += 8192) {
    text += String.fromCharCode(...head.subarray(i, i + 8192));
  }
  let found = findInsertion(text, bytes.length >= INSPECT_LIMIT ? "limit" : "partial");
  if (found.kind === "more") found = findInsertion(text, "complete");
  if (found.kind !== "at") return bytes;
  const tagBytes = new TextEncoder().encode(tag);
  const out = new Uint8Array(bytes.length + tagBytes.length);
  out.set(bytes.subarray(0, found.offset));
  out.set(tagBytes, found.offset);
  out.set(bytes.subarray(found.offset), found.offset + tagBytes.length);
  return out;
}

/**
 * A Response for the engine's reply; its body (if any) is the stream handed over or the bytes
 * that came whole, the page script inserted into HTML navigations.
 */
export function toResponse(reply: AppResponse, options: ResponseOptions): Response {
  let fields = reply.headers;
  let body = reply.body;
  let bytes = reply.bytes ?? null;
  if (NULL_BODY.has(reply.status) || options.method.toUpperCase() === "HEAD") {
    void body?.cancel().catch(() => undefined);
    body = null;
    bytes = null;
  }
  const type = mediaType(
    fields.find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? null,
  );
  // Bytes still encoded are no HTML to insert into: they pass as they are.
  const encoded = undecodedCoding(fields) !== null;
  if (options.inject && (body !== null || bytes !== null) && type === "text/html" && !encoded) {
    const scriptUrl = `${options.origin}${INJECT_PATH}`;
    const csp = (name: string) =>
      fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    const also = options.also ?? [];
    const enforced = adaptCsp(
      csp("content-security-policy"),
      scriptUrl,
      randomNonce,
      undefined,
      also,
    );
    const nonce = enforced.nonce;
    // Report-only policies are adapted the same way, so the app's reports do not name our script.
    const reportOnly = adaptCsp(
      csp("content-security-policy-report-only"),
      scriptUrl,
      randomNonce,
      nonce ?? undefined,
      also,
    );
    const replaced = { csp: [...enforced.headers], ro: [...reportOnly.headers] };
    fields = fields
      .filter(([name]) => name.toLowerCase() !== "content-length")
      .map(([name, value]) => {
        const lower = name.toLowerCase();
        if (lower === "content-security-policy") return [name, replaced.csp.shift() ?? value];
        if (lower === "content-security-policy-report-only") {
          return [name, replaced.ro.shift() ?? value];
        }
        return [name, value];
      });
    // When only a report-only policy wanted a nonce, the enforced ones did not care: use it.
    const scriptNonce = nonce ?? reportOnly.nonce;
    const tag = scriptTag(INJECT_PATH, reply.documentCookie, scriptNonce);
    if (bytes !== null) bytes = injectIntoBytes(bytes, tag);
    else if (body !== null) body = injectIntoStream(body, tag);
  }
  const content = (bytes as Uint8Array<ArrayBuffer> | null) ?? body;
  const init: ResponseInit = { status: reply.status, headers: toHeaders(fields) };
  try {
    return new Response(content, { ...init, statusText: reply.statusText });
  } catch {
    return new Response(content, init); // a reason phrase the Fetch API refuses
  }
}
