// The control server on HTTP: the map side (startControl) and the API (createApi) mounted on a
// node:http server that someone else owns (`corridor serve`: the page and relay's server) or on
// a server of its own (`corridor control`: API, /control, /healthz, /readyz and /metrics only).
//
// The base URL (the API's only accepted Origin, the owner link's host, the OIDC callback) and
// the relay map name the port, which is known only once the server listens (port 0). So the
// mount is made first, answers 503 on its paths while the control server starts, and is
// attached once it runs: no request to /api/... ever falls through to the page meanwhile.
//
// The mount also holds the server's readiness (health.ts): "control" is not ready until the
// map side runs, "database" pings the store; drain() (graceful shutdown) makes /readyz answer
// 503 and refuses new map streams while the API keeps answering until the server closes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { RelayInfo } from "../../worker/control/types.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { answerPlain, refuseUpgrade } from "../relay/http-plain.ts";
import { HostAllowList, parseOrigin } from "../relay/origins.ts";
import { createApiListener, isApiPath } from "./api/app.ts";
import { type OidcFlags, type OidcLogin, oidcFromFlags } from "./auth/oidc.ts";
import { createSessionUser } from "./auth/sessions.ts";
import { answerHealthz, answerReadyz, databaseCheck, ReadinessChecks } from "./health.ts";
import { CONTROL_PATH, type Control, startControl } from "./index.ts";
import { instrumentStore, StoreMetrics } from "./store/instrumented.ts";
import type { Store } from "./store/types.ts";

/** Requests and upgrades a part takes on a server it shares; false: not its path. */
export interface HttpMount {
  request(req: IncomingMessage, res: ServerResponse): boolean;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function pathOf(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0] ?? "/";
}

/** The control server's paths on a shared server: the API and its pages, and /control. */
export class ControlMount implements HttpMount {
  /** The server's /readyz: its checks, and "shutting down" once drain() is called. */
  readonly readiness = new ReadinessChecks();
  private target: { control: Control; api: Listener } | undefined;

  constructor() {
    this.readiness.addCheck("control", () =>
      this.target === undefined ? "the control server is starting" : true,
    );
  }

  /**
   * Graceful shutdown begins: /readyz answers 503 from now on and new map streams are refused
   * (503), so that a load balancer moves nodes elsewhere; open streams and the API go on.
   */
  drain(): void {
    this.readiness.shutDown();
  }

  /** Whether drain() was called. */
  get draining(): boolean {
    return this.readiness.shuttingDown;
  }

  /** From now on the paths go to `control` and `api` (until then: 503). */
  attach(control: Control, api: Listener): void {
    this.target = { control, api };
  }

  request(req: IncomingMessage, res: ServerResponse): boolean {
    if (!isApiPath(pathOf(req))) return false;
    if (this.target === undefined) {
      res.writeHead(503, { "content-type": "application/json", "cache-control": "no-store" });
      res.end('{"error":"starting","message":"the control server is starting"}\n');
    } else {
      void this.target.api(req, res);
    }
    return true;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (pathOf(req) !== CONTROL_PATH) return false;
    if (this.target === undefined) {
      refuseUpgrade(socket, 503, "Service Unavailable", "the control server is starting");
    } else if (this.draining) {
      // The client backs off and comes again, to another server once the balancer moved it.
      refuseUpgrade(socket, 503, "Service Unavailable", "the control server is shutting down");
    } else {
      this.target.control.handleUpgrade(req, socket, head);
    }
    return true;
  }
}

/** What startControlService needs. */
export interface ControlServiceOptions {
  store: Store;
  relays: RelayInfo[];
  /** The server's URL as browsers reach it ("http://127.0.0.1:8080/"). */
  baseUrl: string;
  /**
   * Other origins browsers reach the page at, accepted by the API and /control as the server's
   * own (`corridor serve` on loopback: `http://corridor.localhost:PORT`, where the page must be
   * for private URLs, DESIGN §9.4). The maps, links and OIDC callback keep baseUrl: agents in
   * Node cannot resolve `*.localhost`. Never an app origin (`<label>.corridor.localhost`).
   */
  browserOrigins?: string[];
  /** `--apps-domain` (GET /api/v1/login/methods tells the page). */
  appsDomain?: string;
  /** Sign-in through an OpenID Provider; without it, owner and invitation links only. */
  oidc?: OidcFlags;
  metrics?: MetricsRegistry;
  log: Logger;
}

/** A running control server (map side and API), mounted. */
export interface ControlService {
  control: Control;
  oidc: OidcLogin | null;
  /** The server's readiness (the mount's): add checks with addCheck. */
  readiness: ReadinessChecks;
  /** Starts a graceful shutdown: /readyz 503, new map streams refused (ControlMount.drain). */
  drain(): void;
  /**
   * Closes every map stream (1012: come back and resume) and stops the timers; the store stays
   * the caller's.
   */
  close(): Promise<void>;
}

/**
 * Starts the map side and the API on `options.store` and attaches them to `mount`. Throws
 * when the OIDC provider cannot be discovered or its secret file read (nothing is attached).
 */
export async function startControlService(
  mount: ControlMount,
  options: ControlServiceOptions,
): Promise<ControlService> {
  const { baseUrl, log } = options;
  // Every database call of the control server counted and timed (the caller's store handle
  // stays plain: closing it and its own reads are not the server's round trips).
  const store =
    options.metrics === undefined
      ? options.store
      : instrumentStore(options.store, new StoreMetrics(options.metrics));
  mount.readiness.addCheck("database", databaseCheck(store));
  const browserOrigins = (options.browserOrigins ?? []).map((o) => parseOrigin(o));
  const oidc = options.oidc === undefined ? null : await oidcFromFlags(options.oidc, baseUrl);
  const secure = new URL(baseUrl).protocol === "https:";
  const control = await startControl({
    store,
    relays: options.relays,
    baseUrl,
    origins: [new URL(baseUrl).origin, ...browserOrigins],
    sessionUser: createSessionUser(store, { secure }),
    log,
    metrics: options.metrics,
    readiness: mount.readiness,
    api: {
      browserOrigins,
      ...(options.appsDomain === undefined ? {} : { appsDomain: options.appsDomain }),
      ...(oidc === null ? {} : { oidc }),
      onInternalError: (error) =>
        log.error({ component: "control-api", error: String(error) }, "internal_error"),
    },
  });
  mount.attach(control, createApiListener(control.api));
  return {
    control,
    oidc,
    readiness: mount.readiness,
    drain: () => mount.drain(),
    close: () => control.close(),
  };
}

/** Options of startControlServer (`corridor control`). */
export interface ControlServerOptions {
  host: string;
  port: number;
  /** The URL browsers reach it at; default http://HOST:PORT/ of the listen address. */
  publicUrl?: string;
  store: Store;
  relays: RelayInfo[];
  oidc?: OidcFlags;
  metrics: MetricsRegistry;
  log: Logger;
  /** Host names /healthz, /readyz and /metrics answer to besides IP literals and loopback names. */
  allowedHosts?: string[];
}

/** A running `corridor control`. */
export interface ControlServer extends ControlService {
  baseUrl: string;
  port: number;
  http: Server;
}

/** The URL of a listen address, as a person on this machine reaches it. */
export function listenUrl(host: string, port: number): string {
  const reach = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${reach.includes(":") ? `[${reach}]` : reach}:${port}/`;
}

/**
 * The control server alone on a node:http server of its own: the API and its pages, the map
 * stream on /control, /healthz, /readyz and /metrics (Host-checked, as the relay's are).
 * Resolves once it listens and runs.
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const mount = new ControlMount();
  let hosts = new HostAllowList(options.allowedHosts ?? []);
  const http = createServer((req, res) => {
    if (mount.request(req, res)) return;
    const path = pathOf(req);
    if (path !== "/healthz" && path !== "/readyz" && path !== "/metrics") {
      return answerPlain(res, 404, "not found");
    }
    if (!hosts.allows(req.headers.host)) {
      return answerPlain(res, 421, "this server does not answer that Host name");
    }
    if (path === "/healthz") return answerHealthz(res);
    if (path === "/readyz") return answerReadyz(res, mount.readiness);
    options.metrics.text().then(
      (text) => {
        res.writeHead(200, { "content-type": options.metrics.contentType });
        res.end(text);
      },
      () => answerPlain(res, 500, "metrics unavailable"),
    );
  });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    if (!mount.upgrade(req, socket, head)) refuseUpgrade(socket, 404, "Not Found", "not found");
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  http.on("error", (error) =>
    options.log.error({ component: "control-http", error: error.message }, "http_error"),
  );
  const port = (http.address() as AddressInfo).port;
  const baseUrl = new URL(options.publicUrl ?? listenUrl(options.host, port)).href;
  hosts = new HostAllowList([
    options.host,
    new URL(baseUrl).hostname,
    ...(options.allowedHosts ?? []),
  ]);
  let service: ControlService;
  try {
    service = await startControlService(mount, { ...options, baseUrl });
  } catch (error) {
    await closeHttp(http);
    throw error;
  }
  return {
    ...service,
    baseUrl,
    port,
    http,
    async close() {
      mount.drain();
      await service.close();
      await closeHttp(http);
    },
  };
}

function closeHttp(http: Server): Promise<void> {
  return new Promise((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections();
  });
}
