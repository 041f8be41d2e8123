// The engine: composes networks (WireGuard through the relay, the IP stack), SSH keys and
// terminal sessions behind the EngineApi the page uses (worker/api.ts). Platform pieces come
// in through EngineDeps: the store (IndexedDB in the browser), the relay socket, X25519.

import type {
  CreateNetworkInput,
  EngineApi,
  EngineStatus,
  FilesApi,
  HostEntry,
  NetworkOptions,
  NetworkStatus,
  SessionRequest,
  SessionUi,
  SshKeySummary,
} from "./api.ts";
import { MESH_NETWORK_ID, type SharesApi, shareIdOf } from "./api.ts";
import type { ControlConnect } from "./control/socket.ts";
import { type CryptoCore, initCrypto, simdSupported } from "./crypto/index.ts";
import type { X25519Provider } from "./crypto/x25519.ts";
import { chosenKeys, rememberKeys } from "./engine/key-choice.ts";
import {
  type AllNamed,
  lazyCalls,
  loadApps,
  loadFiles,
  loadKeyRing,
  loadKnownHosts,
  loadMesh,
  loadSession,
  once,
} from "./engine/lazy.ts";
import { LiveSessionRegistry, networkSessionNames } from "./engine/live-sessions.ts";
import type { MeshCalls, MeshEngine } from "./engine/mesh-api.ts";
import { hostsOf, NetworkRegistry, summarize } from "./engine/networks.ts";
import type { PageRtcFactory } from "./engine/rtc-port.ts";
import { errorStatus, RunningNetworks } from "./engine/running-networks.ts";
import type { OpenSession } from "./engine/session.ts";
import type { AskKeyPassphrase } from "./engine/ssh-keys.ts";
import type { EngineStore } from "./engine/store.ts";
import type { RelayConnect } from "./relay/socket.ts";
import { formatIp, parseIp } from "./wireguard/ip-address.ts";

export { webLocks } from "./engine/web-locks.ts";

/** What the platform supplies. */
export interface EngineDeps {
  store: EngineStore;
  connect: RelayConnect;
  x25519: X25519Provider;
  /** The relay URL networks use unless they name one (the page's origin + /relay). */
  defaultRelayUrl: string;
  /**
   * Takes this browser's exclusive hold on a network (Web Locks in the Worker); rejects when
   * another tab runs it. Resolves with the function that lets go.
   */
  lockNetwork?: (id: string, name: string) => Promise<() => void>;
  /** The engine serves every tab of the browser (a SharedWorker); reported in status(). */
  shared?: boolean;
  /**
   * The ids of the pages alive now (the Web Locks they hold, PAGE_LOCK_PREFIX): sessions of a
   * page gone without detaching are detached in listSessions. Absent: pages say it themselves.
   */
  livePages?: () => Promise<ReadonlySet<string>>;
  /** The mesh's map stream (default: /control at the default relay's origin, ws or wss). */
  controlUrl?: string;
  /** Opens the map stream's socket (default: the browser's WebSocket). */
  controlConnect?: ControlConnect;
  /** The host name the mesh node reports (default: from the User-Agent, e.g. "chrome-linux"). */
  meshHostname?: string;
  /** The shares' accept call (default: the global fetch, with this origin's cookies). */
  fetch?: typeof fetch;
}

/** The mesh calls, forwarded to the mesh once loaded (worker/engine/lazy.ts). */
const MESH_CALLS = [
  "meshStart",
  "meshStatus",
  "meshHosts",
  "watchMesh",
  "unwatchMesh",
  "meshWatching",
  "meshStop",
] as const;
const meshCallsComplete: AllNamed<MeshCalls, (typeof MESH_CALLS)[number]> = true;

/** The share calls, forwarded to the share engines once loaded. */
const SHARE_CALLS = [
  "shareAccept",
  "shareState",
  "listShareStates",
  "watchShare",
  "unwatchShare",
  "shareLeave",
] as const;
const shareCallsComplete: AllNamed<SharesApi, (typeof SHARE_CALLS)[number]> = true;

/** The files calls, forwarded to files.ts once loaded. */
const FILES_CALLS = [
  "listFiles",
  "statFile",
  "renameFile",
  "removeFile",
  "makeDir",
  "download",
  "upload",
  "cancelTransfer",
] as const;
const filesCallsComplete: AllNamed<FilesApi, (typeof FILES_CALLS)[number]> = true;
void meshCallsComplete;
void shareCallsComplete;
void filesCallsComplete;

/** Creates the engine API. */
export function createEngine(deps: EngineDeps): EngineApi {
  const networks = new NetworkRegistry(deps.store, deps.x25519, deps.defaultRelayUrl);
  // The SSH key ring, the SSH client, files, the mesh and running networks load on first use
  // (worker/engine/lazy.ts): "Engine ready" needs none of them.
  const loadRing = once(async () => new (await loadKeyRing()).SshKeyRing(deps.store));
  let ringWanted = false;
  const keyRing = () => {
    ringWanted = true;
    return loadRing();
  };
  // Until the ring is asked for there are no tab-only keys (they live in the ring): with no
  // saved key either, the list is empty and a session has no key to take, without loading it.
  const noKeysYet = async () =>
    !ringWanted && (await deps.store.list<{ id: string }>("sshKeys")).length === 0;
  const keysFor = async (ids: readonly string[], ask: AskKeyPassphrase) =>
    ids.length === 0 ? [] : (await keyRing()).keysFor(ids, ask);
  /** Connected sessions, whichever page holds them (worker/engine/live-sessions.ts). */
  const sessions = new LiveSessionRegistry<OpenSession>();
  const instanceId = crypto.randomUUID();
  /** Sessions still connecting, by id: closeSession cancels them. */
  const connecting = new Map<string, AbortController>();
  let core: Promise<CryptoCore> | null = null;
  const loadCore = () => {
    core ??= initCrypto();
    return core;
  };

  const running = new RunningNetworks({
    networks,
    loadCore,
    x25519: deps.x25519,
    connect: deps.connect,
    lockNetwork: deps.lockNetwork,
  });
  const runtime = (id: string) => running.runtime(id);

  // The mesh (worker/engine/mesh-*.ts): this browser's ephemeral node, network "mesh"; and
  // a node per accepted share (share-engine.ts), network "share:<id>".
  // WebRTC for direct paths runs in the pages (a Worker has none): one factory for every node,
  // loaded with the mesh (out of the first load); the pages that offer before wait here.
  const directHosts = new Map<string, MessagePort>();
  let directSetting = false;
  let rtcFactory: PageRtcFactory | undefined;
  const rtc = once(async () => {
    const { PageRtcFactory } = await import("./engine/rtc-port.ts");
    const factory = new PageRtcFactory(deps.livePages);
    factory.setEnabled(directSetting);
    for (const [pageId, port] of directHosts) factory.addHost(pageId, port);
    directHosts.clear();
    rtcFactory = factory;
    return factory;
  });
  const meshParts = {
    loadCore,
    x25519: deps.x25519,
    controlUrl: deps.controlUrl ?? new URL("/control", deps.defaultRelayUrl).href,
    controlConnect: deps.controlConnect,
    relayConnect: deps.connect,
    hostname: deps.meshHostname,
    store: deps.store,
    keysFor,
  };
  const mesh = once(async () =>
    (await loadMesh()).createMeshEngine({ ...meshParts, rtc: await rtc() }),
  );
  const meshCalls = lazyCalls<MeshCalls, (typeof MESH_CALLS)[number]>(MESH_CALLS, async () =>
    (await mesh()).calls(),
  );
  const shares = once(async () =>
    (await loadMesh()).createShareEngines({ ...meshParts, rtc: await rtc() }, deps.fetch),
  );
  const shareCalls = lazyCalls<SharesApi, (typeof SHARE_CALLS)[number]>(SHARE_CALLS, async () =>
    (await shares()).calls(),
  );
  /** The mesh or a share's node when `networkId` names one; null for a wg-quick network. */
  const meshOf = async (networkId: string): Promise<MeshEngine | null> => {
    if (networkId === MESH_NETWORK_ID) return mesh();
    const shareId = shareIdOf(networkId);
    return shareId === null ? null : (await shares()).engineOf(shareId);
  };

  // Files (SFTP) on the sessions' own connections: worker/engine/files.ts.
  const files = lazyCalls<FilesApi, (typeof FILES_CALLS)[number]>(
    FILES_CALLS,
    once(async () =>
      (await loadFiles()).createFilesApi((id) => sessions.get(id), {
        store: deps.store,
        login: (id) => sessions.list().find((s) => s.id === id),
      }),
    ),
  );

  // Private URLs (worker/engine/app-*.ts): loaded on the first app port.
  const apps = once(async () =>
    (await loadApps()).createApps({
      store: deps.store,
      networks,
      runtime,
      mesh,
      shares: async () => (await shares()).runtimes(),
    }),
  );

  return {
    ...files,
    ...meshCalls,
    ...shareCalls,
    meshHostDirect: async (pageId: string, port: MessagePort, directPaths: boolean) => {
      directSetting = directPaths === true;
      if (rtcFactory === undefined) {
        directHosts.get(pageId)?.close();
        directHosts.set(pageId, port);
        return;
      }
      rtcFactory.setEnabled(directSetting);
      rtcFactory.addHost(pageId, port);
    },
    meshSetDirect: async (enabled: boolean) => {
      directSetting = enabled === true;
      rtcFactory?.setEnabled(directSetting);
    },
    openAppPort: async (appOrigin: string, port: MessagePort) =>
      (await apps()).openAppPort(appOrigin, port),
    async status(): Promise<EngineStatus> {
      const c = await loadCore();
      return {
        cryptoBuild: c.build,
        simdSupported: simdSupported(),
        persistentStorage: deps.store.persistent,
        shared: deps.shared ?? false,
        instanceId,
      };
    },

    async listNetworks() {
      return (await networks.list()).map(summarize);
    },

    async importNetwork(configText: string, options: NetworkOptions) {
      return summarize(await networks.importConfig(configText, options));
    },

    generateNetworkKey: () => networks.generateKey(),

    async createNetwork(input: CreateNetworkInput) {
      return summarize(await networks.create(input));
    },

    async removeNetwork(id: string) {
      await running.stop(id);
      await networks.remove(id);
    },

    async startNetwork(id: string): Promise<NetworkStatus> {
      try {
        return (await runtime(id)).status();
      } catch (error) {
        return errorStatus(id, await networks.get(id), error);
      }
    },

    networkStatus: (id: string) => running.status(id),

    async listHosts(networkId: string) {
      const meshLike = await meshOf(networkId);
      if (meshLike !== null) return meshLike.hosts();
      return hostsOf(await networks.get(networkId));
    },

    async addHost(networkId: string, address: string, name: string): Promise<HostEntry> {
      const record = await networks.get(networkId);
      const canonical = formatIp(parseIp(address.trim(), "host address"));
      if (name.length > 64) throw new Error("host names are at most 64 characters");
      record.hosts = record.hosts.filter((h) => h.address !== canonical);
      record.hosts.push({ address: canonical, name: name.trim() });
      await networks.save(record);
      return { networkId, address: canonical, name: name.trim(), source: "user" };
    },

    async removeHost(networkId: string, address: string) {
      const record = await networks.get(networkId);
      record.hosts = record.hosts.filter((h) => h.address !== address);
      await networks.save(record);
    },

    async pingHost(networkId: string, address: string, timeoutMs = 2000) {
      const meshLike = await meshOf(networkId);
      if (meshLike !== null) return meshLike.ping(address, timeoutMs);
      const net = (await runtime(networkId)).net;
      try {
        return await net.ping(address, { timeoutMs });
      } catch {
        return null;
      }
    },

    async forgetHostKey(networkId: string, host: string, port: number) {
      const meshLike = await meshOf(networkId);
      if (meshLike !== null) return meshLike.forgetHostKey(host, port);
      const record = await networks.get(networkId);
      const { KnownHosts } = await loadKnownHosts();
      const knownHosts = KnownHosts.parse(record.knownHosts);
      const removed = knownHosts.remove(host, port);
      record.knownHosts = knownHosts.toString();
      await networks.save(record);
      return removed;
    },

    listSshKeys: async () => ((await noKeysYet()) ? [] : (await keyRing()).list()),
    generateSshKey: async (
      comment: string,
      persist: boolean,
      passphrase?: string,
    ): Promise<SshKeySummary> => (await keyRing()).generate(comment, persist, passphrase),
    importSshKey: async (text: string, passphrase: string | undefined, persist: boolean) =>
      (await keyRing()).import(text, passphrase, persist),
    removeSshKey: async (id: string) => (await keyRing()).remove(id),
    setSshKeyPassphrase: async (id: string, passphrase: string | null, current?: string) =>
      (await keyRing()).setPassphrase(id, passphrase, current),
    unlockSshKey: async (id: string, passphrase: string) =>
      (await keyRing()).unlock(id, passphrase),
    lockSshKeys: async () => (await keyRing()).lock(),
    async sshKeyChoice(networkId: string, host: string, username: string) {
      const meshLike = await meshOf(networkId);
      if (meshLike !== null) return meshLike.keyChoice(host, username);
      return chosenKeys(await networks.get(networkId), host, username);
    },

    async openSession(request: SessionRequest, ui: SessionUi, port: MessagePort): Promise<string> {
      const id = request.sessionId ?? crypto.randomUUID();
      if (sessions.has(id) || connecting.has(id)) throw new Error(`session id ${id} is in use`);
      const cancel = new AbortController();
      connecting.set(id, cancel);
      try {
        const meshLike = await meshOf(request.networkId);
        if (meshLike !== null) {
          const session = await meshLike.openSession(id, request, ui, port, cancel.signal);
          // "Mesh" or "Share", as the page names them: a reloaded page's tab label reads the same.
          const networkName = request.networkId === MESH_NETWORK_ID ? "Mesh" : "Share";
          sessions.add(id, session, request, { networkName, hostName: request.host });
          return id;
        }
        const record = await networks.get(request.networkId);
        const started = await runtime(request.networkId);
        const [{ KnownHosts }, { openTerminalSession }] = await Promise.all([
          loadKnownHosts(),
          loadSession(),
        ]);
        const knownHosts = KnownHosts.parse(record.knownHosts);
        // Only the keys chosen for this host (key-choice.ts); a locked one asks its passphrase.
        const keyIds = request.keyIds ?? chosenKeys(record, request.host, request.username) ?? [];
        const userKeys = await keysFor(keyIds, (key, attempt) =>
          Promise.resolve(ui.askKeyPassphrase?.(key, attempt) ?? null).catch(() => null),
        );
        const session = await openTerminalSession(request, ui, port, {
          core: await loadCore(),
          x25519: deps.x25519,
          net: started.net,
          keys: userKeys,
          knownHosts,
          onLearned: async () => {
            const fresh = await networks.get(record.id);
            fresh.knownHosts = knownHosts.toString();
            await networks.save(fresh);
          },
          signal: cancel.signal,
        });
        sessions.add(id, session, request, networkSessionNames(record, request.host));
        if (request.keyIds !== undefined) {
          const fresh = await networks.get(record.id);
          rememberKeys(fresh, request.host, request.username, request.keyIds);
          await networks.save(fresh);
        }
        return id;
      } finally {
        connecting.delete(id);
      }
    },

    async closeSession(id: string) {
      connecting.get(id)?.abort();
      await sessions.get(id)?.close();
      sessions.delete(id);
    },

    // Live sessions (issue 15): a reloaded page re-attaches (worker/engine/live-sessions.ts).
    listSessions: async () => {
      if (deps.livePages) sessions.detachGone(await deps.livePages());
      return sessions.list();
    },
    attachSession: async (id: string, ui: SessionUi, port: MessagePort) =>
      sessions.attach(id, ui, port),
  };
}
