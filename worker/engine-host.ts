// The engine as the browser hosts it: built once with the browser's pieces (IndexedDB,
// WebSocket, the fastest X25519 available, Web Locks) and served over comlink, either to the
// one page of a dedicated Worker or to every page of the browser that connects to the
// SharedWorker (docs/page.md, "One engine per browser"). The EngineDeps are built here only.

import { expose } from "comlink";
import { type EngineApi, PAGE_LOCK_PREFIX } from "./api.ts";
import { selectX25519Provider } from "./crypto/x25519.ts";
import { openIdbStore } from "./engine/idb-store.ts";
import { type EngineStore, MemoryStore } from "./engine/store.ts";
import { createEngine, type EngineDeps, webLocks } from "./engine.ts";
import { browserSocket } from "./relay/socket.ts";

/** How the engine is hosted: one page (a dedicated Worker) or every page (a SharedWorker). */
export type EngineHosting = "worker" | "shared";

/** The EngineDeps of a browser Worker at `origin` ("http://127.0.0.1:8080"). */
export async function browserEngineDeps(
  origin: string,
  hosting: EngineHosting,
): Promise<EngineDeps> {
  let store: EngineStore;
  try {
    store = await openIdbStore();
  } catch {
    // Private windows may refuse IndexedDB: keep everything for this engine's life only.
    store = new MemoryStore();
  }
  const relayOrigin = origin.replace(/^http/, "ws");
  return {
    store,
    connect: browserSocket,
    x25519: await selectX25519Provider(),
    defaultRelayUrl: `${relayOrigin}/relay`,
    lockNetwork: "locks" in navigator ? webLocks(navigator.locks) : undefined,
    shared: hosting === "shared",
    livePages: "locks" in navigator ? () => livePages(navigator.locks) : undefined,
  };
}

/** The ids of the pages holding their page lock now (a crashed page's lock is released). */
async function livePages(locks: LockManager): Promise<ReadonlySet<string>> {
  const state = await locks.query();
  const ids = new Set<string>();
  for (const lock of state.held ?? []) {
    if (lock.name?.startsWith(PAGE_LOCK_PREFIX)) ids.add(lock.name.slice(PAGE_LOCK_PREFIX.length));
  }
  return ids;
}

/**
 * An EngineApi whose calls wait for `engine` (the store and X25519 provider are chosen
 * asynchronously), so the page may call at once.
 */
export function deferredEngine(engine: Promise<EngineApi>): EngineApi {
  return new Proxy({} as EngineApi, {
    get:
      (_target, name: string) =>
      async (...args: unknown[]) => {
        const target = (await engine) as unknown as Record<string, (...a: unknown[]) => unknown>;
        const method = target[name];
        if (typeof method !== "function") throw new Error(`no engine method ${name}`);
        return await method(...args);
      },
  });
}

/** The global scope of a Worker as far as hosting needs it (the DOM lib lacks the types). */
interface WorkerScope {
  location: { origin: string };
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
}

/**
 * Starts the engine in this Worker and serves it: in a SharedWorker, to every page that
 * connects (one comlink endpoint per page's port); in a dedicated Worker, to its page.
 */
export function hostEngine(scope: WorkerScope, hosting: EngineHosting): void {
  const api = deferredEngine(
    browserEngineDeps(scope.location.origin, hosting).then((deps) => createEngine(deps)),
  );
  if (hosting === "shared") {
    scope.addEventListener("connect", (event) => {
      const port = event.ports[0];
      if (port !== undefined) expose(api, port);
    });
  } else {
    expose(api);
  }
}
