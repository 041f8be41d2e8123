// App origins in the engine (docs/private-urls.md, "The engine side"): which private service an
// app port serves, how the app's URLs map to the service's, and the header rewrites between
// the two (Host, Origin, Referer on requests; Location on responses). Pure functions: no I/O.

import {
  canonicalHost,
  decodeServiceLabel,
  encodeServiceLabel,
  type ServiceAddress,
  serviceOrigin,
} from "../http/service-label.ts";

/** An app origin the engine serves, and the service it names. */
export interface AppOrigin {
  /** The origin as the browser writes it: "http://web-01--3000.corridor.localhost:8080". */
  origin: string;
  /** "http:" or "https:" (the app origin's, not the service's). */
  protocol: string;
  /** The host after the label: "corridor.localhost" (the apps domain). */
  appsDomain: string;
  /** The app origin's port ("" for the scheme's default). */
  port: string;
  /** The private service. */
  service: ServiceAddress;
  /** The service's origin on the private network: "http://web-01:3000". */
  serviceOrigin: string;
  /** The Host header the private server expects: "web-01:3000" ("[fd00::1]:80"). */
  hostHeader: string;
}

/** The app origin is not one the engine can serve; the message says why. */
export class AppOriginError extends Error {
  override readonly name = "AppOriginError";
}

/**
 * Parses an app origin ("http://web-01--3000.corridor.localhost:8080"): http or https, no
 * credentials, path, query or fragment, a first label that decodes to a service and at least
 * one label after it. Throws AppOriginError saying what is wrong.
 */
export function parseAppOrigin(appOrigin: string): AppOrigin {
  if (typeof appOrigin !== "string" || appOrigin.length > 1024) {
    throw new AppOriginError("app origin: expected a string of at most 1024 characters");
  }
  let url: URL;
  try {
    url = new URL(appOrigin);
  } catch {
    throw new AppOriginError(`app origin ${JSON.stringify(appOrigin)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new AppOriginError(`app origin ${url.origin}: expected http: or https:`);
  }
  if (url.origin !== appOrigin.replace(/\/$/, "")) {
    throw new AppOriginError(
      `app origin ${JSON.stringify(appOrigin)} is not an origin (no path, query, user or password)`,
    );
  }
  const dot = url.hostname.indexOf(".");
  if (dot <= 0 || dot === url.hostname.length - 1) {
    throw new AppOriginError(
      `app origin ${url.origin}: expected <service label>.<apps domain>, e.g. http://web-01--3000.corridor.localhost:8080`,
    );
  }
  let service: ServiceAddress;
  try {
    service = decodeServiceLabel(url.hostname.slice(0, dot));
  } catch (error) {
    throw new AppOriginError(`app origin ${url.origin}: ${(error as Error).message}`);
  }
  return {
    origin: url.origin,
    protocol: url.protocol,
    appsDomain: url.hostname.slice(dot + 1),
    port: url.port,
    service,
    serviceOrigin: serviceOrigin(service),
    hostHeader: new URL(serviceOrigin(service)).host,
  };
}

/** The app origin of `service` beside `app` (same apps domain, scheme and port). */
export function appOriginOf(app: AppOrigin, service: ServiceAddress): string {
  const port = app.port === "" ? "" : `:${app.port}`;
  return `${app.protocol}//${encodeServiceLabel(service)}.${app.appsDomain}${port}`;
}

/**
 * The private URL of `url` when it is on the app origin ("http://web-01:3000/a?b"; ws: or wss:
 * stay WebSocket schemes, the fragment is dropped), else undefined.
 */
export function privateUrlOf(app: AppOrigin, url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const web =
    parsed.protocol === "ws:" ? "http:" : parsed.protocol === "wss:" ? "https:" : parsed.protocol;
  if (web !== app.protocol || parsed.username !== "" || parsed.password !== "") return undefined;
  if (`${web}//${parsed.host}` !== app.origin) return undefined;
  const base = parsed.protocol === web ? app.serviceOrigin : toWs(app.serviceOrigin);
  return `${base}${parsed.pathname}${parsed.search}`;
}

function toWs(origin: string): string {
  return origin.replace(/^http/, "ws");
}

/** The same URL with a web scheme (ws: as http:), for the cookie jar. */
export function httpFormOf(url: string): string {
  return url.replace(/^ws(s?):/, "http$1:");
}

/**
 * The service a URL on the private network names, when it names one an app origin can stand
 * for (http or https, a mesh name or an address in canonical form); else undefined.
 */
export function serviceOfUrl(url: URL): ServiceAddress | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  const scheme = url.protocol === "https:" ? "https" : "http";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let canonical: string;
  try {
    canonical = canonicalHost(host);
  } catch {
    return undefined;
  }
  const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
  const service: ServiceAddress = { host: canonical, port, scheme };
  try {
    encodeServiceLabel(service);
  } catch {
    return undefined;
  }
  return service;
}

/** Same service (host, port, scheme). */
export function sameService(a: ServiceAddress, b: ServiceAddress): boolean {
  return a.host === b.host && a.port === b.port && a.scheme === b.scheme;
}

/**
 * Rewrites a response's Location for the app: an absolute URL on this service's origin becomes
 * the same path on the app origin; one on another private service the engine can name
 * (`canName(host)`: a mesh name or address it routes) becomes that service's app origin beside
 * this one. Relative locations (they resolve against the app origin already) and every other
 * URL are left as they are.
 */
export function rewriteLocation(
  app: AppOrigin,
  location: string,
  canName: (host: string) => boolean,
): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith("//")) return location;
  let url: URL;
  try {
    url = new URL(location, app.serviceOrigin);
  } catch {
    return location;
  }
  const service = serviceOfUrl(url);
  if (service === undefined) return location;
  const tail = `${url.pathname}${url.search}${url.hash}`;
  if (sameService(service, app.service)) return `${app.origin}${tail}`;
  if (service.host !== app.service.host && !canName(service.host)) return location;
  return `${appOriginOf(app, service)}${tail}`;
}

/** A header name compared case-insensitively. */
function is(name: string, wanted: string): boolean {
  return name.toLowerCase() === wanted;
}

/** What a request's headers become on the way to the service. */
export interface RequestRewrite {
  headers: [string, string][];
  /** The request is cross-site for SameSite (a foreign Origin or Referer). */
  crossSite: boolean;
  /**
   * The referrer is a page of this app origin. A navigation counts as same-site only then:
   * any site can navigate here with no referrer at all (rel=noreferrer, referrerpolicy).
   */
  ownReferrer: boolean;
}

/**
 * The request headers for the private server: Host as it expects (`web-01:3000`); Origin and
 * Referer on the app origin rewritten to the service's origin; a Referer of another origin
 * dropped (it would tell the private server the URLs of Corridor or of other apps, and means
 * nothing to it); another Origin kept as sent (the server's CSRF check should see a foreign
 * request as foreign); Upgrade and Connection dropped; the app's own Cookie dropped (the jar writes it) and `cookie`, when not
 * "", added; `authorization` added when the request carries none.
 */
export function rewriteRequestHeaders(
  app: AppOrigin,
  given: readonly (readonly [string, string])[],
  referrer: string,
  extra: { cookie?: string; authorization?: string } = {},
): RequestRewrite {
  const headers: [string, string][] = [["Host", app.hostHeader]];
  let crossSite = false;
  let ownReferrer = false;
  let hasAuthorization = false;
  let referer = referrer;
  for (const [name, value] of given) {
    const lower = name.toLowerCase();
    // Upgrade and Connection are forbidden in a page's fetch; a WebSocket comes as its own
    // message, so a fetch never asks the server to switch protocols.
    if (lower === "host" || lower === "cookie" || lower === "upgrade" || lower === "connection")
      continue;
    if (lower === "referer") {
      referer ||= value;
      continue;
    }
    if (lower === "origin") {
      if (value === app.origin) headers.push([name, app.serviceOrigin]);
      else {
        if (value !== "null") crossSite = true;
        headers.push([name, value]);
      }
      continue;
    }
    if (lower === "authorization") hasAuthorization = true;
    headers.push([name, value]);
  }
  if (referer !== "" && referer !== "about:client" && referer !== "no-referrer") {
    const mapped = privateUrlOf(app, referer);
    if (mapped !== undefined) {
      headers.push(["Referer", mapped]);
      ownReferrer = true;
    } else crossSite = true;
  }
  if (extra.cookie !== undefined && extra.cookie !== "") headers.push(["Cookie", extra.cookie]);
  if (extra.authorization !== undefined && !hasAuthorization) {
    headers.push(["Authorization", extra.authorization]);
  }
  return { headers, crossSite, ownReferrer };
}

/** Response fields that describe the engine's connection, not the response: never passed on. */
const CONNECTION_FIELDS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "trailer",
  "upgrade",
]);

/**
 * A response's headers for the app: Set-Cookie taken out (returned apart, for the jar), the
 * connection's own fields dropped, Location rewritten (rewriteLocation). Content-Length stays
 * when the client left it (a body it did not decode).
 */
export function rewriteResponseHeaders(
  app: AppOrigin,
  headers: readonly (readonly [string, string])[],
  canName: (host: string) => boolean,
): { headers: [string, string][]; setCookies: string[] } {
  const out: [string, string][] = [];
  const setCookies: string[] = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "set-cookie") setCookies.push(value);
    else if (CONNECTION_FIELDS.has(lower)) continue;
    else if (is(name, "location") || is(name, "content-location")) {
      out.push([name, rewriteLocation(app, value, canName)]);
    } else out.push([name, value]);
  }
  return { headers: out, setCookies };
}
