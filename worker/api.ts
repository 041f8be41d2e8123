// The engine's API as the page sees it, exposed over comlink by worker/index.ts (DESIGN §2:
// the page talks to the engine only through this). Calls are request/response; terminal
// bytes of a session move over a MessagePort (see TerminalMessage), not one call per chunk.
// Callbacks from the engine to the page (host key decisions, passwords, state changes) are
// comlink proxies of SessionUi.
//
// Secrets stay here: the page never receives a WireGuard or SSH private key back (it may
// hand one in when the user pastes a config or imports a key file).
//
// The calls and types live in worker/api/ by concern (networks, ssh-keys, sessions, mesh, files,
// live-sessions, apps); this module re-exports them all, so importers name only worker/api.ts.

import type { AppsApi } from "./api/apps.ts";
import type { FilesApi } from "./api/files.ts";
import type { LiveSessionsApi } from "./api/live-sessions.ts";
import type { MeshApi } from "./api/mesh.ts";
import type { NetworksApi } from "./api/networks.ts";
import type { SessionsApi } from "./api/sessions.ts";
import type { SharesApi } from "./api/shares.ts";
import type { SshKeysApi } from "./api/ssh-keys.ts";
import type { WasmBuild } from "./crypto/index.ts";

export * from "./api/apps.ts";
export * from "./api/files.ts";
export * from "./api/live-sessions.ts";
export * from "./api/mesh.ts";
export * from "./api/networks.ts";
export * from "./api/sessions.ts";
export * from "./api/shares.ts";
export * from "./api/ssh-keys.ts";

/** What the engine reports about itself. */
export interface EngineStatus {
  /** The crypto core build the engine runs. */
  cryptoBuild: WasmBuild;
  /** Whether this WebAssembly engine validates SIMD. */
  simdSupported: boolean;
  /** Whether secrets can be kept across reloads (IndexedDB works here). */
  persistentStorage: boolean;
  /** The engine runs in a SharedWorker, one for every tab of this browser (else per tab). */
  shared: boolean;
  /** Made when this engine started: a page compares it to tell whether the engine survived. */
  instanceId: string;
}

/** The API object the Worker exposes: every concern's calls, and status. */
export interface EngineApi
  extends NetworksApi,
    SshKeysApi,
    SessionsApi,
    MeshApi,
    SharesApi,
    FilesApi,
    LiveSessionsApi,
    AppsApi {
  /** Loads the crypto core (once) and reports the engine's state. */
  status(): Promise<EngineStatus>;
}
