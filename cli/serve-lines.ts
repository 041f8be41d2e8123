// What `corridor serve` says about where the page and private URLs are (docs/private-urls.md):
// the page's address on loopback (corridor.localhost), its owner link there, where app origins
// live, the control server's extra browser origin, and the UDP bridge's warning.

import { isLoopbackHost } from "../server/relay/origins.ts";
import { LOOPBACK_APPS_DOMAIN } from "../server/web/app-origin.ts";

/** Where `corridor serve` listens and what public URL it was given. */
export interface PageAt {
  host: string;
  publicUrl: string | undefined;
}

/** Whether this machine's browsers reach the page through loopback (names under localhost). */
export function reachedOnLoopback(host: string): boolean {
  return isLoopbackHost(host) || host === "0.0.0.0" || host === "::";
}

/**
 * The page's address for a person on this machine when no --public-url names one:
 * http://corridor.localhost:PORT/. Private URLs' origins are <label>.corridor.localhost, which
 * are same-site with a page at corridor.localhost and not with 127.0.0.1 (DESIGN §9.4), so the
 * page lives there; the control server accepts that origin besides the listen address's.
 * 127.0.0.1 keeps working for everything but private URLs, and stays the address of the maps,
 * links for Node and agents (Node's resolver does not know `*.localhost`). Null elsewhere.
 */
export function loopbackPageUrl(parsed: PageAt, port: number): string | null {
  if (parsed.publicUrl !== undefined || !reachedOnLoopback(parsed.host)) return null;
  return `http://${LOOPBACK_APPS_DOMAIN}:${port}/`;
}

/** The line naming the page's address when it is not baseUrl (loopbackPageUrl), else "". */
export function pageLine(parsed: PageAt, port: number, baseUrl: string): string {
  const page = loopbackPageUrl(parsed, port);
  if (page === null) return "";
  return (
    `Open Corridor at ${page} (the page; private URLs need it at this name: ` +
    `Chromium and Firefox resolve *.localhost to this machine; ${baseUrl} works for everything else)\n`
  );
}

/** The owner link at the page's address (loopbackPageUrl), said before the baseUrl one. */
export function pageOwnerLink(parsed: PageAt, port: number, ownerLine: string): string {
  const page = loopbackPageUrl(parsed, port);
  const link = /^Sign in as owner: (\S+)\n/.exec(ownerLine)?.[1];
  if (page === null || link === undefined) return ownerLine;
  const there = new URL(link);
  const at = new URL(`${there.pathname}${there.hash}`, page).href;
  return (
    `Sign in as owner in the browser: ${at}\n` +
    "  (the same single-use link at the listen address, for a browser without *.localhost; it signs in that origin only:)\n" +
    ownerLine
  );
}

/** Says where private URLs live (loopback: <label>.corridor.localhost; --apps-domain). */
export function privateUrlLine(
  parsed: PageAt & { appsDomain: string | undefined },
  port: number,
): string {
  const lines: string[] = [];
  if (reachedOnLoopback(parsed.host)) {
    const apps = `${LOOPBACK_APPS_DOMAIN}:${port}`;
    lines.push(
      "private URLs (open them from the page at corridor.localhost; docs/private-urls.md) " +
        `at http://<host>--<port>.${apps}/, e.g. http://web-01--3000.${apps}/ ` +
        "(a host's Open action in the page)",
    );
  }
  if (parsed.appsDomain !== undefined) {
    const scheme =
      parsed.publicUrl === undefined ? "http" : new URL(parsed.publicUrl).protocol.slice(0, -1);
    lines.push(
      `private URLs also at ${scheme}://<host>--<port>.${parsed.appsDomain}/ ` +
        `(wildcard DNS *.${parsed.appsDomain} to this server, and a certificate for *.${parsed.appsDomain})`,
    );
  }
  return lines.map((line) => `${line}\n`).join("");
}

/** The origins the control server accepts besides baseUrl's: the loopback page's. */
export function browserOrigins(parsed: PageAt, port: number): string[] {
  const page = loopbackPageUrl(parsed, port);
  return page === null ? [] : [new URL(page).origin];
}

/** The URL a person opens: an unspecified listen address is reached through loopback. */
export function pageUrl(host: string, port: number): string {
  const reach = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host;
  return `http://${reach.includes(":") && !reach.startsWith("[") ? `[${reach}]` : reach}:${port}/`;
}

/**
 * Said at start when the UDP bridge has no --allow-udp: a wg-quick network in the page then
 * shows its hosts offline ("the relay does not allow this endpoint"), so say it up front.
 */
export function noUdpLine(allowUdp: readonly string[]): string {
  if (allowUdp.length > 0) return "";
  return (
    "no --allow-udp: the relay reaches no WireGuard host (the page's wg-quick networks stay offline); " +
    "start with --allow-udp IP/32:PORT for each host's Endpoint (mesh agents need none)\n"
  );
}
