// The engine's Worker entry. The same script runs as the browser's SharedWorker (one engine
// for every tab, docs/page.md "One engine per browser") and, where a browser has no
// SharedWorker or the page asks for it (?engine=worker), as the page's own dedicated Worker:
// one bundle, so the page preloads and caches one engine script whichever way it starts.

import { hostEngine } from "./engine-host.ts";

/** A SharedWorker's global scope receives "connect" events; a dedicated Worker's does not. */
const shared =
  typeof (globalThis as { SharedWorkerGlobalScope?: unknown }).SharedWorkerGlobalScope ===
    "function" &&
  self instanceof
    (globalThis as unknown as { SharedWorkerGlobalScope: abstract new () => object })
      .SharedWorkerGlobalScope;

hostEngine(self, shared ? "shared" : "worker");
