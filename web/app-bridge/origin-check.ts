// Which origins the bridge serves (docs/private-urls.md, "Bridge and bootstrap"): exactly
// `<one label>.<an apps domain>` with the bridge page's own scheme and port, the label naming a
// service. The apps domains come from the server, in the bridge page (never from a message), so
// a page elsewhere (another loopback name, another site, the Corridor origin itself) is refused.
// Pure, so it is tested in Node (test/server/app-origin-bridge.test.ts).

import {
  decodeServiceLabel,
  type ServiceAddress,
  ServiceLabelError,
} from "../../worker/http/service-label.ts";

/** The verdict on a requesting origin: the service it names, or why it is refused. */
export type OriginVerdict = { ok: true; service: ServiceAddress } | { ok: false; reason: string };

/** The meta element of the bridge page that carries the apps domains, space-separated. */
export const APPS_DOMAINS_META = "corridor-apps-domains";

/**
 * Whether `origin` (a MessageEvent's origin) is an app origin this bridge serves: scheme and
 * port equal to `bridgeOrigin`'s, host one label under one of `appsDomains` (lowercase), the
 * label a service label. The label must be canonical, so one service is one origin.
 */
export function checkAppOrigin(
  origin: string,
  bridgeOrigin: string,
  appsDomains: readonly string[],
): OriginVerdict {
  let url: URL;
  let own: URL;
  try {
    url = new URL(origin);
    own = new URL(bridgeOrigin);
  } catch {
    return { ok: false, reason: `${origin} is not an origin` };
  }
  if (url.origin !== origin) return { ok: false, reason: `${origin} is not an origin` };
  if (url.protocol !== own.protocol || url.port !== own.port) {
    return {
      ok: false,
      reason: `${origin} is not an app origin of ${own.origin} (scheme and port must be its own)`,
    };
  }
  for (const domain of appsDomains) {
    if (domain === "" || !url.hostname.endsWith(`.${domain}`)) continue;
    const label = url.hostname.slice(0, -domain.length - 1);
    if (!/^[a-z0-9-]{1,63}$/.test(label)) continue; // more than one label: not this domain's
    try {
      return { ok: true, service: decodeServiceLabel(label) };
    } catch (error) {
      if (!(error instanceof ServiceLabelError)) throw error;
      return { ok: false, reason: `${origin} names no service: ${error.message}` };
    }
  }
  return { ok: false, reason: `${origin} is not an app origin of ${own.origin}` };
}
