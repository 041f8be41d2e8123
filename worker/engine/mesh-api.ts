// The mesh's part of the engine API (worker/api.ts, "The mesh"): meshStart … meshStop, and the
// mesh as the network MESH_NETWORK_ID in the per-network calls (hosts, ping, host keys, key
// choices, sessions). worker/engine.ts sends those calls here when networkId is "mesh".

import type {
  EngineApi,
  HostEntry,
  MeshListener,
  SessionRequest,
  SessionUi,
  SshKeySummary,
} from "../api.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { UserKey } from "../ssh/keys/user-key.ts";
import { KnownHosts } from "../ssh/known-hosts.ts";
import { chosenKeys, rememberKeys } from "./key-choice.ts";
import { MeshRecords } from "./mesh-record.ts";
import type { MeshRuntime } from "./mesh-runtime.ts";
import { openMeshSession } from "./mesh-session.ts";
import { meshHostEntries } from "./mesh-view.ts";
import type { OpenSession } from "./session.ts";
import type { EngineStore } from "./store.ts";

/** The mesh calls of EngineApi. */
export type MeshCalls = Pick<
  EngineApi,
  | "meshStart"
  | "meshStatus"
  | "meshHosts"
  | "watchMesh"
  | "unwatchMesh"
  | "meshWatching"
  | "meshStop"
>;

/** What the mesh's sessions need from the rest of the engine. */
export interface MeshEngineDeps {
  runtime: MeshRuntime;
  store: EngineStore;
  loadCore: () => Promise<CryptoCore>;
  x25519: X25519Provider;
  /** The user's SSH keys by id (a locked one asks its passphrase through `ask`). */
  keysFor: (
    ids: readonly string[],
    ask: (key: SshKeySummary, attempt: number) => Promise<string | null>,
  ) => Promise<UserKey[]>;
}

/** The engine's mesh: its API calls and its per-network calls. */
export class MeshEngine {
  private readonly records: MeshRecords;

  constructor(private readonly deps: MeshEngineDeps) {
    this.records = new MeshRecords(deps.store);
  }

  /** The mesh node (private URLs resolve and dial mesh hosts through it). */
  get runtime(): MeshRuntime {
    return this.deps.runtime;
  }

  /** meshStart … meshStop. */
  calls(): MeshCalls {
    const runtime = this.deps.runtime;
    return {
      meshStart: () => runtime.start(),
      meshStatus: async () => runtime.status(),
      meshHosts: async () => runtime.hosts(),
      watchMesh: async (listener: MeshListener) => runtime.watch(listener),
      unwatchMesh: async (id: string) => runtime.unwatch(id),
      meshWatching: async (id: string) => runtime.watching(id),
      meshStop: () => runtime.stop(),
    };
  }

  /** listHosts("mesh"): each peer by name with its first address. */
  hosts(): HostEntry[] {
    return meshHostEntries(this.deps.runtime.hosts());
  }

  /** pingHost("mesh", name or address). */
  ping(host: string, timeoutMs: number): Promise<number | null> {
    return this.deps.runtime.ping(host, timeoutMs);
  }

  /**
   * forgetHostKey("mesh", ...): forgets a key trusted on first use (hosts without map keys);
   * a key published in the map cannot be forgotten here (it changes in the map).
   */
  async forgetHostKey(host: string, port: number): Promise<number> {
    let name = host;
    try {
      name = this.deps.runtime.peer(host).name;
    } catch {
      // not in the map now: forget what was stored under the name as given
    }
    let removed = 0;
    await this.records.update((record) => {
      const known = KnownHosts.parse(record.knownHosts);
      removed = known.remove(name, port);
      record.knownHosts = known.toString();
    });
    return removed;
  }

  /** sshKeyChoice("mesh", ...). */
  async keyChoice(host: string, username: string): Promise<string[] | null> {
    return chosenKeys(await this.records.get(), this.canonical(host), username);
  }

  /**
   * Opens an SSH session to a mesh host: identity SSH (no key unless chosen), host key from
   * the map. Rejects with the reason (a refused login: the server's sentence).
   */
  async openSession(
    id: string,
    request: SessionRequest,
    ui: SessionUi,
    port: MessagePort,
    signal: AbortSignal,
  ): Promise<OpenSession> {
    const runtime = this.deps.runtime;
    let peer: ReturnType<MeshRuntime["peer"]>;
    let net: ReturnType<MeshRuntime["net"]>;
    try {
      net = runtime.net();
      peer = runtime.peer(request.host);
    } catch (error) {
      const message = (error as Error).message;
      void Promise.resolve(ui.onState("closed", message)).catch(() => undefined);
      port.close();
      throw error;
    }
    const record = await this.records.get();
    const keyIds = request.keyIds ?? chosenKeys(record, peer.name, request.username) ?? [];
    const keys = await this.deps.keysFor(keyIds, (key, attempt) =>
      Promise.resolve(ui.askKeyPassphrase?.(key, attempt) ?? null).catch(() => null),
    );
    const address = peer.addresses[0];
    if (address === undefined) throw new Error(`mesh host ${peer.name} has no address`);
    const session = await openMeshSession(request, ui, port, {
      core: await this.deps.loadCore(),
      x25519: this.deps.x25519,
      net,
      peer,
      address,
      keys,
      storedKnownHosts: record.knownHosts,
      saveKnownHosts: (text) =>
        this.records.update((r) => {
          r.knownHosts = text;
        }),
      checkUrl: runtime.checkUrl(),
      signal,
    });
    if (request.keyIds !== undefined) {
      const keyIdsChosen = request.keyIds;
      await this.records.update((r) => rememberKeys(r, peer.name, request.username, keyIdsChosen));
    }
    runtime.adopt(id, session);
    return session;
  }

  /** The mesh name of `host` when the map knows it, else `host` as given. */
  private canonical(host: string): string {
    try {
      return this.deps.runtime.peer(host).name;
    } catch {
      return host;
    }
  }
}
