// Which requests belong to an app origin (DESIGN §9.4, docs/private-urls.md): a Host of the
// form `<label>.<apps domain>[:port]` names one private service, and such a request must never
// be answered by the Corridor page, its API, the control server or the relay, because the app's
// JavaScript would then read them as same-origin. This file decides that from the Host header
// and checks an operator's --apps-domain; app-origin-http.ts answers the requests.
//
// The apps domains: `corridor.localhost` always (Chromium resolves *.localhost to loopback and
// treats it as a secure context; it is same-site with the page at corridor.localhost), plus the
// operator's --apps-domain. That one must be under the page's own registrable site: the bridge
// iframe (the Corridor origin inside an app origin) shares the engine's storage only when the
// two are same-site; across sites the browser partitions the iframe's storage.

import { isIP } from "node:net";
import { getPublicSuffix } from "tough-cookie";
import {
  decodeServiceLabel,
  type ServiceAddress,
  ServiceLabelError,
} from "../../worker/http/service-label.ts";
import { hostOfHeader } from "../relay/origins.ts";

/** The apps domain on loopback: the page is at corridor.localhost, apps one label below. */
export const LOOPBACK_APPS_DOMAIN = "corridor.localhost";

/** What the Host of a request says about app origins. */
export type AppHost =
  /** Not under an apps domain (or the page's own host): the Corridor page and its parts. */
  | { kind: "main" }
  /** One label under an apps domain that names a service. */
  | { kind: "service"; label: string; appsDomain: string; service: ServiceAddress }
  /** Under an apps domain but naming no service; `reason` says why (for the 400 page). */
  | { kind: "invalid"; label: string; appsDomain: string; reason: string };

/** A DNS name as an operator writes it: lowercase labels of [a-z0-9-], no dash at either end. */
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** The registrable site of a host name ("example.com" for "x.apps.example.com"), or undefined. */
export function siteOf(host: string): string | undefined {
  if (isIP(host) !== 0) return undefined;
  try {
    return getPublicSuffix(host, { allowSpecialUseDomain: true }) ?? undefined;
  } catch {
    return undefined; // a bare special-use name ("example", "localhost.") has no site
  }
}

/**
 * Checks an operator's --apps-domain against the host the page is served at (the public URL's,
 * or the listen address's). Returns the apps domain lowercased, without a trailing dot; throws
 * an Error whose message says what is wrong and why it matters: not a DNS name, a wildcard
 * written in, an IP page host, or not under the page's registrable site.
 */
export function checkAppsDomain(appsDomain: string, pageHost: string): string {
  const name = appsDomain.trim().toLowerCase().replace(/\.$/, "");
  if (name.startsWith("*.")) {
    throw new Error(
      `--apps-domain ${appsDomain}: give the domain without "*." (apps are at <label>.${name.slice(2)}; the wildcard is for DNS and the certificate)`,
    );
  }
  if (!DNS_NAME.test(name)) {
    throw new Error(
      `--apps-domain ${appsDomain}: not a DNS name with at least two labels (e.g. apps.example.com)`,
    );
  }
  const page = pageHost.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const pageSite = siteOf(page);
  if (pageSite === undefined) {
    throw new Error(
      `--apps-domain ${name}: the page is served at ${page}, which has no registrable site (an IP address or a bare name); app origins must be same-site with the page, so serve it under a name (--public-url https://corridor.example.com/) and put the apps under that site`,
    );
  }
  const appsSite = siteOf(name);
  if (appsSite !== pageSite) {
    throw new Error(
      `--apps-domain ${name} is not under the page's site ${pageSite} (page at ${page}): the app origins would be cross-site with the page, so the browser would partition the bridge iframe's storage and the app could not reach the engine; use a name under ${pageSite}, such as apps.${pageSite}`,
    );
  }
  if (name === page) {
    throw new Error(
      `--apps-domain ${name} is the page's own host: use a name below the site for the apps alone, such as apps.${pageSite}`,
    );
  }
  return name;
}

/** Decides app origins by the Host header. */
export class AppOrigins {
  private readonly domains: readonly string[];

  /**
   * `appsDomains`: the domains whose one-label subdomains are app origins, already checked
   * (checkAppsDomain); corridor.localhost is always one. `pageHosts`: names that are the page
   * itself even when under an apps domain (never app origins).
   */
  constructor(
    appsDomains: readonly string[] = [],
    private readonly pageHosts: ReadonlySet<string> = new Set(),
  ) {
    const all = new Set([LOOPBACK_APPS_DOMAIN, ...appsDomains.map((d) => d.toLowerCase())]);
    // The longest first, so that apps.example.com wins over a shorter domain it is under.
    this.domains = [...all].sort((a, b) => b.length - a.length);
  }

  /** The apps domains, longest first. */
  get appsDomains(): readonly string[] {
    return this.domains;
  }

  /**
   * What a request with this Host header value is. A missing Host, or an odd one not under an
   * apps domain, is the page's; an odd one under an apps domain is invalid (see rawUnderApps).
   */
  classify(hostHeader: string | undefined): AppHost {
    const host = hostOfHeader(hostHeader);
    if (host === undefined) return this.rawUnderApps(hostHeader) ?? { kind: "main" };
    if (this.pageHosts.has(host)) return { kind: "main" };
    for (const appsDomain of this.domains) {
      if (!host.endsWith(`.${appsDomain}`)) continue;
      const label = host.slice(0, -appsDomain.length - 1);
      if (label.includes(".")) {
        return {
          kind: "invalid",
          label,
          appsDomain,
          reason: `"${label}" is more than one label: an app origin is <host>--<port>.${appsDomain}`,
        };
      }
      try {
        return { kind: "service", label, appsDomain, service: decodeServiceLabel(label) };
      } catch (error) {
        if (!(error instanceof ServiceLabelError)) throw error;
        return { kind: "invalid", label, appsDomain, reason: error.message };
      }
    }
    return { kind: "main" };
  }

  /**
   * Fails closed on a Host that hostOfHeader refuses but a browser may still send, such as
   * `a_b.corridor.localhost` (Chromium accepts "_"): if the raw name, lowercased, without a port
   * and trailing dots, ends in `.<apps domain>`, it is an app origin's host with a bad label and
   * gets the 400 page; the page, its API or the control server there would be same-origin with
   * whatever app that name's page runs.
   */
  private rawUnderApps(hostHeader: string | undefined): AppHost | undefined {
    if (hostHeader === undefined) return undefined;
    let name = hostHeader.trim().toLowerCase();
    // Whatever follows the first colon is a port, good or bad; an IPv6 literal ends before it
    // and can never end in an apps domain anyway.
    const colon = name.indexOf(":");
    if (colon >= 0) name = name.slice(0, colon);
    name = name.replace(/\.+$/, "");
    if (this.pageHosts.has(name)) return undefined; // the page's own name with an odd port
    for (const appsDomain of this.domains) {
      if (!name.endsWith(`.${appsDomain}`)) continue;
      const label = name.slice(0, -appsDomain.length - 1);
      const reason = /^[a-z0-9.-]+$/.test(label)
        ? `the Host header "${hostHeader.trim()}" is malformed (its port?)`
        : `"${label}" is not a host name label: an app origin is <host>--<port>.${appsDomain}, with letters, digits and "-" only`;
      return { kind: "invalid", label, appsDomain, reason };
    }
    return undefined;
  }
}

/** The port of a Host header (":8080"), or "" when it names none or is malformed. */
export function portOfHost(hostHeader: string | undefined): string {
  const m = /:([0-9]{1,5})$/.exec(hostHeader?.trim() ?? "");
  if (m === null || hostHeader?.trim().endsWith("]")) return "";
  const port = Number(m[1]);
  return port >= 1 && port <= 65535 ? `:${port}` : "";
}

/**
 * The Corridor page's origin for an app origin under `appsDomain` reached with `hostHeader`:
 * where its bridge iframe lives (docs/private-urls.md, "Bridge and bootstrap"). The public URL's
 * origin when there is one and it is that domain's page; on loopback
 * `http://corridor.localhost` with the request's port (the page and its apps share the server's
 * port); for an operator's apps domain without a public URL, `https://<page host>` with the
 * request's port (production is TLS). Undefined when nothing names the page.
 */
export function corridorOriginFor(
  appsDomain: string,
  hostHeader: string | undefined,
  page: { publicUrl?: string | undefined; pageHosts?: readonly string[] },
): string | undefined {
  const pub = page.publicUrl === undefined ? undefined : new URL(page.publicUrl);
  if (appsDomain === LOOPBACK_APPS_DOMAIN) {
    if (pub?.hostname === LOOPBACK_APPS_DOMAIN) return pub.origin;
    return `http://${LOOPBACK_APPS_DOMAIN}${portOfHost(hostHeader)}`;
  }
  if (pub !== undefined) return pub.origin;
  const pageHost = page.pageHosts?.[0];
  return pageHost === undefined ? undefined : `https://${pageHost}${portOfHost(hostHeader)}`;
}

/**
 * The `frame-ancestors` sources of the bridge page for a request with this Host header: every
 * apps domain's one-label wildcard on the request's port, without a scheme, so that it matches
 * the bridge's own scheme (and https when the bridge is http). Nothing else may frame it.
 */
export function bridgeFrameAncestors(
  appsDomains: readonly string[],
  hostHeader: string | undefined,
): string {
  const port = portOfHost(hostHeader);
  return appsDomains.map((domain) => `*.${domain}${port}`).join(" ");
}
