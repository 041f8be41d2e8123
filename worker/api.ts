// The engine's API as the page sees it, exposed over comlink by worker/index.ts. It grows with
// the engine (WireGuard, the IP stack, SSH); today it reports the crypto core it runs.

import { initCrypto, simdSupported, type WasmBuild } from "./crypto/index.ts";

/** What the engine reports about itself. */
export interface EngineStatus {
  /** The crypto core build the engine runs. */
  cryptoBuild: WasmBuild;
  /** Whether this WebAssembly engine validates SIMD. */
  simdSupported: boolean;
}

/** The API object a Worker exposes. */
export interface EngineApi {
  /** Loads the crypto core (once) and reports the engine's state. */
  status(): Promise<EngineStatus>;
}

/** Creates the engine API. */
export function createEngineApi(): EngineApi {
  return {
    async status() {
      const core = await initCrypto();
      return { cryptoBuild: core.build, simdSupported: simdSupported() };
    },
  };
}
