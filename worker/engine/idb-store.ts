// EngineStore on IndexedDB, which Web Workers have (a Web platform API like WebSocket, not
// DOM). One database, one object store per kind, keyed by `id`.

import type { EngineStore, StoreKind } from "./store.ts";

const DB_NAME = "corridor";
// 2: the "mesh" store (known hosts and key choices of mesh hosts without published keys).
// 3: the "uploadParts" store (upload part files to remove, upload-leftovers.ts).
const DB_VERSION = 3;
const KINDS: readonly StoreKind[] = ["networks", "sshKeys", "mesh", "uploadParts"];

function promised<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

/** Opens (creating or upgrading) the engine's database; rejects where IndexedDB is missing. */
export async function openIdbStore(): Promise<EngineStore> {
  if (typeof indexedDB === "undefined") throw new Error("IndexedDB is not available here");
  const request = indexedDB.open(DB_NAME, DB_VERSION);
  request.onupgradeneeded = () => {
    for (const kind of KINDS) {
      if (!request.result.objectStoreNames.contains(kind)) {
        request.result.createObjectStore(kind, { keyPath: "id" });
      }
    }
  };
  const db = await promised(request);
  // A newer engine (after an update) upgrading the database waits for this connection to close.
  db.onversionchange = () => db.close();
  const store = (kind: StoreKind, mode: IDBTransactionMode) =>
    db.transaction(kind, mode).objectStore(kind);
  return {
    persistent: true,
    list: async <T extends { id: string }>(kind: StoreKind) =>
      (await promised(store(kind, "readonly").getAll())) as T[],
    put: async (kind, value) => {
      await promised(store(kind, "readwrite").put(value));
    },
    delete: async (kind, id) => {
      await promised(store(kind, "readwrite").delete(id));
    },
  };
}
