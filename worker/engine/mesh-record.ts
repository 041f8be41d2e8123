// What the engine keeps about the mesh across reloads: only the known hosts of mesh hosts that
// publish no SSH host key in the map (not agents: a first-use prompt, as on wg-quick networks)
// and the SSH keys the user chose per host. Never the node's key: the node is ephemeral and a
// new key is made at every start.

import type { KeyChoices } from "./key-choice.ts";
import type { EngineStore } from "./store.ts";

/** The mesh's record (one per browser). */
export interface MeshRecord extends KeyChoices {
  id: "mesh";
  /** known_hosts text for mesh hosts without map host keys. */
  knownHosts: string;
}

/** Reads and writes the mesh record in the engine's store. */
export class MeshRecords {
  constructor(private readonly store: EngineStore) {}

  /** The record (an empty one before anything was saved). */
  async get(): Promise<MeshRecord> {
    const found = (await this.store.list<MeshRecord>("mesh")).find((r) => r.id === "mesh");
    return {
      id: "mesh",
      knownHosts: typeof found?.knownHosts === "string" ? found.knownHosts : "",
      ...(found?.keyChoices === undefined ? {} : { keyChoices: found.keyChoices }),
    };
  }

  /** Changes the record with `edit` (read, edit, write). */
  async update(edit: (record: MeshRecord) => void): Promise<void> {
    const record = await this.get();
    edit(record);
    await this.store.put("mesh", record);
  }
}
