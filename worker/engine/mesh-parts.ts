// The mesh as one lazily loaded piece of the engine (worker/engine/lazy.ts): the engine's
// MeshEngine on a MeshRuntime with the browser's control socket and host name, built on the
// first mesh call, so the control client and mesh node stay out of the first load.

import { browserControlSocket, type ControlConnect } from "../control/socket.ts";
import { browserHostname } from "../mesh/hostname.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { MeshEngine, type MeshEngineDeps } from "./mesh-api.ts";
import { MeshRuntime } from "./mesh-runtime.ts";
import type { PageRtcFactory } from "./rtc-port.ts";
import { ShareEngines } from "./share-engine.ts";
import { MemoryStore } from "./store.ts";

/** What createMeshEngine needs: MeshEngineDeps without its runtime, and the runtime's own. */
export interface MeshParts extends Omit<MeshEngineDeps, "runtime"> {
  controlUrl: string;
  /** Default: the browser's WebSocket. */
  controlConnect?: ControlConnect;
  relayConnect: RelayConnect;
  /** Default: from the User-Agent, e.g. "chrome-linux". */
  hostname?: string;
  /** WebRTC run by the engine's pages (direct paths); absent: relay only. */
  rtc?: PageRtcFactory;
}

/** The engine's mesh on a fresh runtime (with `privateKey`: a node registered beforehand). */
export function createMeshEngine(parts: MeshParts, privateKey?: Uint8Array): MeshEngine {
  return new MeshEngine({
    runtime: new MeshRuntime({
      loadCore: parts.loadCore,
      x25519: parts.x25519,
      controlUrl: parts.controlUrl,
      controlConnect: parts.controlConnect ?? browserControlSocket,
      relayConnect: parts.relayConnect,
      hostname: hostnameOf(parts),
      privateKey,
      rtc: parts.rtc,
    }),
    store: parts.store,
    loadCore: parts.loadCore,
    x25519: parts.x25519,
    keysFor: parts.keysFor,
  });
}

function hostnameOf(parts: MeshParts): string {
  return parts.hostname ?? browserHostname(globalThis.navigator?.userAgent);
}

/**
 * The engine's shares: each share's node a MeshEngine of its own key, its records (known
 * hosts, key choices) in memory, apart from the mesh's.
 */
export function createShareEngines(parts: MeshParts, fetchApi?: typeof fetch): ShareEngines {
  return new ShareEngines({
    x25519: parts.x25519,
    controlUrl: parts.controlUrl,
    hostname: hostnameOf(parts),
    fetch: fetchApi,
    createEngine: (privateKey) =>
      createMeshEngine({ ...parts, store: new MemoryStore() }, privateKey),
  });
}
