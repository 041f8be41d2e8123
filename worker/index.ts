// Web Worker entry: builds the engine with the browser's pieces (IndexedDB, WebSocket, the
// fastest X25519 available) and exposes it to the page over comlink.

import { expose } from "comlink";
import type { EngineApi } from "./api.ts";
import { selectX25519Provider } from "./crypto/x25519.ts";
import { openIdbStore } from "./engine/idb-store.ts";
import { type EngineStore, MemoryStore } from "./engine/store.ts";
import { createEngine, webLocks } from "./engine.ts";
import { browserSocket } from "./relay/socket.ts";

/** The engine once its store and X25519 provider are chosen; calls wait for it. */
const engine: Promise<EngineApi> = (async () => {
  let store: EngineStore;
  try {
    store = await openIdbStore();
  } catch {
    // Private windows may refuse IndexedDB: keep everything for this tab only.
    store = new MemoryStore();
  }
  const relayOrigin = self.location.origin.replace(/^http/, "ws");
  return createEngine({
    store,
    connect: browserSocket,
    x25519: await selectX25519Provider(),
    defaultRelayUrl: `${relayOrigin}/relay`,
    lockNetwork: "locks" in navigator ? webLocks(navigator.locks) : undefined,
  });
})();

/** Forwards every API call to the engine once it exists. */
const api = new Proxy({} as EngineApi, {
  get:
    (_target, name: string) =>
    async (...args: unknown[]) => {
      const target = (await engine) as unknown as Record<string, (...a: unknown[]) => unknown>;
      const method = target[name];
      if (typeof method !== "function") throw new Error(`no engine method ${name}`);
      return await method(...args);
    },
});

expose(api);
