// The headers `corridor serve` puts on the page's responses: content types by extension, and
// the security headers of DESIGN §8 (a strict Content-Security-Policy without inline scripts,
// nosniff, no referrer, an isolated opener). They go on every response, errors included,
// because a worker script's CSP comes from its own response, not from the page's.

import { extname } from "node:path";

/** Content types by file extension (lower case, with the dot). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
};

/** The Content-Type of a file, by its extension; application/octet-stream when unknown. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Whether a type gains from gzip or brotli. Fonts and images are compressed formats already;
 * wasm is not, and shrinks well.
 */
export function isCompressible(contentType: string): boolean {
  return (
    contentType.startsWith("text/") ||
    contentType.startsWith("application/json") ||
    contentType.startsWith("application/manifest+json") ||
    contentType === "application/wasm" ||
    contentType === "image/svg+xml"
  );
}

// A Host header as a browser sends it: a DNS name or IPv4 address, or a bracketed IPv6
// address, then an optional port. Anything else (the header is the client's to choose) is
// kept out of the policy, which then names only 'self'.
const HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;

/** The names one machine's loopback is reached by (the page may be at any of them). */
const LOOPBACK_SPELLINGS = ["127.0.0.1", "[::1]", "localhost", "corridor.localhost"];

/**
 * For a page at a loopback name, the other loopback names at the same port, as ws: sources:
 * the maps name the relay by the listen address (`ws://127.0.0.1:PORT/relay`) while the page
 * lives at corridor.localhost for private URLs, and a page must reach it there too.
 */
function loopbackSiblings(host: string): string {
  const colon = host.lastIndexOf(":");
  const name = colon > host.lastIndexOf("]") ? host.slice(0, colon) : host;
  const port = colon > host.lastIndexOf("]") ? host.slice(colon) : "";
  if (!LOOPBACK_SPELLINGS.includes(name)) return "";
  // CSP's host-source grammar has no IPv6 literals (Chromium ignores `ws://[::1]:PORT` with a
  // console error): [::1] is never named as a sibling.
  return LOOPBACK_SPELLINGS.filter((other) => other !== name && !other.startsWith("["))
    .map((other) => ` ws://${other}${port}`)
    .join("");
}

/** A relay's connect-src source: ws: or wss:, DNS labels or an IPv4 address, an optional port. */
const RELAY_SOURCE = /^wss?:\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::[0-9]{1,5})?$/;

/**
 * The connect-src sources for relays the maps list besides the page's own (`serve --relay-url`):
 * each URL's scheme and host, deduplicated, in order. Only ws: and wss: URLs whose host CSP can
 * name: an IPv6 literal cannot be (CSP's host-source grammar has none; Chromium drops such a
 * source with a console error), so a relay at one stays unreachable from pages, and the result
 * says which URLs were left out so `corridor serve` can tell the operator.
 */
export function relayConnectSources(urls: readonly string[]): {
  sources: string[];
  unusable: string[];
} {
  const sources: string[] = [];
  const unusable: string[] = [];
  for (const text of urls) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      unusable.push(text);
      continue;
    }
    const source = `${url.protocol}//${url.host.toLowerCase()}`;
    // A trailing dot (an absolute DNS name) is left out too: CSP's host grammar has none.
    if (!RELAY_SOURCE.test(source)) {
      unusable.push(text);
      continue;
    }
    if (!sources.includes(source)) sources.push(source);
  }
  return { sources, unusable };
}

/**
 * The Content-Security-Policy for a response to a request with this Host header. The page's
 * engine opens its relay WebSocket at its own origin (path /relay); CSP Level 3 lets 'self'
 * cover ws: and wss: on the same host, but older engines do not, so the same host is also
 * named explicitly with both schemes (a TLS proxy in front turns ws into wss). `relaySources`
 * are the other relays of the maps (relayConnectSources): a page reaches its peers' home relays
 * wherever they run.
 */
export function contentSecurityPolicy(
  host: string | undefined,
  relaySources: readonly string[] = [],
): string {
  const lower = host?.toLowerCase();
  const own =
    lower !== undefined && lower.length <= 261 && HOST.test(lower)
      ? ` ws://${lower} wss://${lower}${loopbackSiblings(lower)}`
      : "";
  // Checked again here: a source is a policy's syntax, and a caller may not have made it.
  const ownSources = own.split(" ");
  const others = relaySources.filter(
    (source) => RELAY_SOURCE.test(source) && !ownSources.includes(source),
  );
  const relay = `${own}${others.map((source) => ` ${source}`).join("")}`;
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    `connect-src 'self'${relay}`,
    // Strict for styles too: xterm.js 6's <style> elements and style attributes are moved
    // into constructed stylesheets and CSSOM by web/terminal/csp-shim.ts, which CSP allows.
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * The security headers of every response, for a request with this Host header; `relaySources`
 * as for contentSecurityPolicy.
 */
export function securityHeaders(
  host: string | undefined,
  relaySources: readonly string[] = [],
): Record<string, string> {
  return {
    "Content-Security-Policy": contentSecurityPolicy(host, relaySources),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  };
}
