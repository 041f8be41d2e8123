// Where a private service opens (DESIGN §9.4, docs/private-urls.md): its app origin
// `<label>.<apps domain>` at the page's own scheme and port. The apps domain must be same-site
// with the page, or the bridge iframe's storage is partitioned and the app cannot reach this
// browser's engine: on loopback that is `corridor.localhost` (the page must be there too, not at
// 127.0.0.1), elsewhere the server's `--apps-domain` (GET /api/v1/login/methods says it).

import { canonicalHost, encodeServiceLabel } from "../../worker/http/service-label.ts";

/** The apps domain on this machine (`*.corridor.localhost`, same-site with corridor.localhost). */
export const LOOPBACK_PAGE_HOST = "corridor.localhost";

/** What the page knows of its own address (window.location's fields). */
export interface PageLocation {
  protocol: string;
  hostname: string;
  port: string;
  hash: string;
}

/** Where this page can open private services. */
export type AppsPlace =
  /** App origins are `<scheme>//<label>.<domain>[:port]/`. */
  | { kind: "apps"; scheme: string; domain: string; port: string }
  /** The page runs on loopback but not at corridor.localhost: `pageUrl` is the same route there. */
  | { kind: "move"; pageUrl: string }
  /** No apps domain serves this page: `reason` says what the server needs. */
  | { kind: "none"; reason: string };

function isLoopbackName(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname.endsWith(".localhost") ||
    /^127(?:\.[0-9]{1,3}){3}$/.test(hostname) ||
    hostname === "[::1]"
  );
}

function isAddress(hostname: string): boolean {
  return /^[0-9.]+$/.test(hostname) || hostname.startsWith("[");
}

/**
 * Where private services open for a page at `location`, given the server's `--apps-domain`
 * (undefined when it has none).
 */
export function appsPlace(location: PageLocation, appsDomain: string | undefined): AppsPlace {
  const hostname = location.hostname.toLowerCase();
  const port = location.port;
  if (hostname === LOOPBACK_PAGE_HOST) {
    return { kind: "apps", scheme: location.protocol, domain: LOOPBACK_PAGE_HOST, port };
  }
  if (isLoopbackName(hostname)) {
    const pageUrl = `http://${LOOPBACK_PAGE_HOST}${port === "" ? "" : `:${port}`}/${location.hash}`;
    return { kind: "move", pageUrl };
  }
  // The server checked that its apps domain is same-site with its public URL; a page reached
  // at a bare address is same-site with nothing.
  if (appsDomain !== undefined && appsDomain !== "" && !isAddress(hostname)) {
    return { kind: "apps", scheme: location.protocol, domain: appsDomain.toLowerCase(), port };
  }
  return {
    kind: "none",
    reason:
      "This server has no apps domain for private URLs: it needs `corridor serve --apps-domain NAME` " +
      "under the page's own site, with wildcard DNS and a wildcard certificate for it (docs/private-urls.md).",
  };
}

/**
 * The app origin's URL of the HTTP service on `host`:`port` ("http://web-01--3000.corridor.
 * localhost:8080/"). Throws a ServiceLabelError saying why for a host no label can name (a
 * mesh name holding "--", or one too long).
 */
export function appUrl(
  place: Extract<AppsPlace, { kind: "apps" }>,
  host: string,
  port: number,
): string {
  const label = encodeServiceLabel({ host: canonicalHost(host), port, scheme: "http" });
  return `${place.scheme}//${label}.${place.domain}${place.port === "" ? "" : `:${place.port}`}/`;
}
