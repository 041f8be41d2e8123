// `corridor serve`'s server: the page and the relay on one port. The page's engine opens its
// relay WebSocket at the page's own origin (path /relay), so serving both from one node:http
// server needs no cross-origin allowances: the relay accepts browsers from the page's own
// origins (pageOrigins) and from `relay.origins`, and refuses every other web site (any page
// the user visits could otherwise use the user's relay and its UDP bridge). The relay owns the
// server (WebSocket upgrades on /relay, /healthz, /metrics) and hands every other request to
// `mount` first (the control server: /api/v1/..., /login..., /approve/..., upgrades on
// /control), then to the static page handler. One /metrics shows every part that registers on
// `relay.metrics`. Before the mount, a request whose Host is an app origin (`<label>.<apps
// domain>`, app-origin.ts) is answered by the app-origin server (the bootstrap, or a 400 page)
// and never reaches the mount or the page; its upgrades are refused. On the Corridor origin,
// /__corridor/bridge is the bridge page those app origins frame (bridge-http.ts). The relay's own paths
// (/healthz and /metrics: 421 for such a Host; /relay: 426, and upgrades refused for their
// Origin) are answered by the relay before any fallback. /readyz is answered here, for the
// same Host names as the relay's /healthz: every check of `readiness` (the control server's:
// started, database, ...) and the relay's own ("relay": not restarting); 503 while draining.

import { answerReadyz, type Readiness, ReadinessChecks } from "../control/health.ts";
import type { HttpMount } from "../control/http.ts";
import { answerPlain } from "../relay/http-plain.ts";
import type { RelayServer } from "../relay/index.ts";
import { type RelayOptions, startRelay } from "../relay/index.ts";
import { HostAllowList, originHosts } from "../relay/origins.ts";
import { AppOrigins } from "./app-origin.ts";
import { AppOriginServer } from "./app-origin-http.ts";
import { BridgePage } from "./bridge-http.ts";
import { answerHeaderOverflow } from "./header-overflow.ts";
import { StaticSite } from "./static.ts";

/** Options of startServe(). */
export interface ServeOptions {
  /** Listen address. Default "127.0.0.1". */
  host?: string;
  /** Listen port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** The built page (a directory holding index.html, e.g. dist/). */
  webRoot: string;
  /**
   * The CSP connect-src sources of the maps' other relays (headers.ts relayConnectSources):
   * without them a page cannot open a WebSocket to a relay on another host.
   */
  relaySources?: string[];
  /** The relay's options (auth, relayId, origins, udpBridge, …); not where it listens. */
  relay: Omit<RelayOptions, "host" | "port" | "httpFallback" | "upgradeFallback">;
  /** Another part's paths on this port (the control server's ControlMount). */
  mount?: HttpMount;
  /** The readiness /readyz reports (the ControlMount's); the relay adds its check to it. */
  readiness?: Readiness;
  /**
   * Apps domains besides corridor.localhost (always one), checked with checkAppsDomain(): a
   * Host of `<label>.<domain>` is an app origin and gets the app-origin answers only.
   */
  appsDomains?: string[];
  /** Host names that are the page even when under an apps domain (the public URL's host). */
  pageHosts?: string[];
  /**
   * The page's public URL (--public-url): app origins under an operator's apps domain name its
   * origin as where the bridge lives (/__corridor/config.json). Without it, `https://` and the
   * first pageHosts name.
   */
  publicUrl?: string;
}

/** A running `corridor serve`. */
export interface ServeHandle {
  /** The page's URL, e.g. "http://127.0.0.1:8080/". */
  url: string;
  /** The relay's WebSocket URL, e.g. "ws://127.0.0.1:8080/relay". */
  relayUrl: string;
  /** The bound port. */
  port: number;
  /** The relay (its key, metrics, setHealth). */
  relay: RelayServer;
  /** The page being served. */
  site: StaticSite;
  /** The answers on app origins (the bootstrap). */
  apps: AppOriginServer;
  /** What /readyz reports (options.readiness with the relay's check, or the relay's alone). */
  readiness: Readiness;
  /** Stops serving: the relay's close (RESTARTING first when asked), then the HTTP server. */
  close(options?: Parameters<RelayServer["close"]>[0]): Promise<void>;
}

/**
 * Starts the page and the relay on one port. Loads the page first, so a missing build fails
 * before anything listens. Resolves once the server listens.
 */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const site = await StaticSite.load(options.webRoot, options.relaySources);
  const mount = options.mount;
  const pageHosts = options.pageHosts?.map((h) => h.toLowerCase()) ?? [];
  const origins = new AppOrigins(options.appsDomains, new Set(pageHosts));
  const apps = await AppOriginServer.load(site.root, origins, {
    publicUrl: options.publicUrl,
    pageHosts,
  });
  const bridge = new BridgePage(site.root, origins.appsDomains);
  const readiness = options.readiness ?? new ReadinessChecks();
  // The relay's Host names for /healthz, known once it listens: /readyz answers the same.
  let readyzHosts: HostAllowList | undefined;
  const relay = await startRelay({
    pageOrigins: true,
    ...options.relay,
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    httpFallback: (req, res) => {
      if (apps.request(req, res) || bridge.request(req, res)) return;
      if ((req.url ?? "/").split("?")[0] === "/readyz") {
        if (readyzHosts?.allows(req.headers.host) !== true) {
          return answerPlain(res, 421, "this server does not answer that Host name");
        }
        return answerReadyz(res, readiness);
      }
      if (mount?.request(req, res) !== true) site.handle(req, res);
    },
    // Not the mount's: the relay refuses it (404) and counts it, as without a mount.
    upgradeFallback: (req, socket, head) =>
      apps.upgrade(req, socket) || mount?.upgrade(req, socket, head) === true,
    clientErrorFallback: answerHeaderOverflow,
  });
  readyzHosts = new HostAllowList([
    options.host ?? "127.0.0.1",
    ...(options.relay.allowedHosts ?? []),
    ...originHosts(relay.allowedOrigins),
  ]);
  readiness.addCheck("relay", () => (relay.restarting ? "the relay is restarting" : true));
  const relayUrl = relay.url;
  return {
    url: `${relayUrl.replace(/^ws:/, "http:").slice(0, -"relay".length)}`,
    relayUrl,
    port: relay.port,
    relay,
    site,
    apps,
    readiness,
    close: (closeOptions) => relay.close(closeOptions),
  };
}
