// Private URLs as one lazily loaded piece of the engine (worker/engine/lazy.ts): the app port
// server, the dial through the mesh and the wg-quick networks, the HTTP client, the WebSocket
// client and the cookie jar (tough-cookie) load on the first app port, not with "Engine ready".

import type { AppsApi } from "../api.ts";
import { type AppDialDeps, AppDialer, type DialMesh, type DialNetwork } from "./app-dial.ts";
import { parseAppOrigin } from "./app-origin.ts";
import { AppPortServer } from "./app-port-server.ts";
import { AppServices } from "./app-services.ts";
import type { EngineStore } from "./store.ts";

/** What the engine gives private URLs. */
export interface AppsDeps {
  /** Where the cookie jars are kept. */
  store: EngineStore;
  /** The wg-quick network records (NetworkRegistry). */
  networks: { list(): Promise<readonly DialNetwork[]> };
  /** Starts a wg-quick network (or returns the running one). */
  runtime: AppDialDeps["runtime"];
  /** The mesh (MeshEngine), loaded on first use. */
  mesh: () => Promise<{ runtime: DialMesh }>;
  /** The accepted shares' nodes (ShareEngines.runtimes), when the engine holds any. */
  shares?: () => Promise<readonly DialMesh[]>;
}

/** The engine's app ports: AppsApi and the servers it runs. */
export interface Apps extends AppsApi {
  /** The ports served now. */
  readonly servers: ReadonlySet<AppPortServer>;
  /** Shared pool, jars and credentials. */
  readonly services: AppServices;
}

/** Private URLs on the engine's networks and mesh. */
/** App ports one app origin may hold open at once (tabs, their workers, reconnects). */
export const MAX_PORTS_PER_ORIGIN = 32;

export function createApps(deps: AppsDeps): Apps {
  const dialer = new AppDialer({
    networks: () => deps.networks.list(),
    runtime: deps.runtime,
    mesh: async () => (await deps.mesh()).runtime,
    shares: deps.shares,
  });
  const services = new AppServices({
    dial: dialer.dial,
    knows: (host) => dialer.knows(host),
    store: deps.store,
  });
  const servers = new Set<AppPortServer>();
  return {
    servers,
    services,
    async openAppPort(appOrigin: string, port: MessagePort): Promise<void> {
      let app: ReturnType<typeof parseAppOrigin>;
      try {
        app = parseAppOrigin(appOrigin);
      } catch (error) {
        port.close();
        throw new Error((error as Error).message);
      }
      const server = new AppPortServer(port, app, services);
      // One engine serves every tab: an app page asking for port after port must not multiply
      // the per-port limits. Past MAX_PORTS_PER_ORIGIN the origin's oldest port is closed (a
      // live service worker or page asks for a new one when it needs it).
      const same = [...servers].filter((s) => s.app.origin === app.origin);
      if (same.length >= MAX_PORTS_PER_ORIGIN) same[0]?.close();
      servers.add(server);
      void server.ended.then(() => servers.delete(server));
    },
  };
}
