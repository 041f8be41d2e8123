// Where the engine keeps what must survive a reload: networks (with their WireGuard private
// keys and known hosts), SSH user keys, and the upload part files it has to clean up. The browser's implementation is IndexedDB
// (idb-store.ts); tests and "keep only for this tab" use the in-memory one. Nothing secret
// ever goes to localStorage (DESIGN §8).

/**
 * The kinds of record. "uploadParts": the hidden part files of uploads the engine is writing
 * or could not remove (upload-leftovers.ts).
 */
export type StoreKind = "networks" | "sshKeys" | "mesh" | "uploadParts";

/** A small record store. Values are plain JSON-like objects with an `id`. */
export interface EngineStore {
  /** True when records survive a reload. */
  readonly persistent: boolean;
  list<T extends { id: string }>(kind: StoreKind): Promise<T[]>;
  put<T extends { id: string }>(kind: StoreKind, value: T): Promise<void>;
  delete(kind: StoreKind, id: string): Promise<void>;
}

/** Records in memory: gone with the tab (or the test). */
export class MemoryStore implements EngineStore {
  readonly persistent = false;
  private readonly kinds = new Map<StoreKind, Map<string, unknown>>();

  private map(kind: StoreKind): Map<string, unknown> {
    let m = this.kinds.get(kind);
    if (m === undefined) {
      m = new Map();
      this.kinds.set(kind, m);
    }
    return m;
  }

  async list<T extends { id: string }>(kind: StoreKind): Promise<T[]> {
    return [...this.map(kind).values()].map((v) => structuredClone(v) as T);
  }

  async put<T extends { id: string }>(kind: StoreKind, value: T): Promise<void> {
    this.map(kind).set(value.id, structuredClone(value));
  }

  async delete(kind: StoreKind, id: string): Promise<void> {
    this.map(kind).delete(id);
  }
}
