// The wg-quick networks this engine runs: started on first use (the WireGuard device, the relay
// client and the IP stack load then), one start at a time per network, a failed start kept as
// the network's status until it starts, and each network's tab lock held while it runs.

import type { NetworkStatus } from "../api.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { loadNetworkRuntime } from "./lazy.ts";
import type { NetworkRuntime } from "./network-runtime.ts";
import type { NetworkRecord, NetworkRegistry } from "./networks.ts";

/** What running networks need from the engine. */
export interface RunningNetworksDeps {
  networks: NetworkRegistry;
  loadCore: () => Promise<CryptoCore>;
  x25519: X25519Provider;
  connect: RelayConnect;
  /** Takes this browser's exclusive hold on a network (engine.ts EngineDeps.lockNetwork). */
  lockNetwork?: (id: string, name: string) => Promise<() => void>;
}

const noLock = async () => () => undefined;

/** The status of a network whose start failed. */
export function errorStatus(id: string, record: NetworkRecord, error: unknown): NetworkStatus {
  return {
    id,
    state: "error",
    error: error instanceof Error ? error.message : String(error),
    relay: { state: "failed", rttMs: null, url: record.relayUrl },
    peers: [],
  };
}

/** The running networks of one engine. */
export class RunningNetworks {
  private readonly running = new Map<string, Promise<NetworkRuntime>>();
  /** Why a network's last start failed, for its status until it starts. */
  private readonly failures = new Map<string, unknown>();
  private readonly releases = new Map<string, () => void>();

  constructor(private readonly deps: RunningNetworksDeps) {}

  /** The network `id` running: started now when it is not. */
  runtime(id: string): Promise<NetworkRuntime> {
    let started = this.running.get(id);
    if (started === undefined) {
      started = this.start(id);
      this.running.set(id, started);
      started.then(
        () => this.failures.delete(id),
        (error: unknown) => {
          this.running.delete(id);
          this.failures.set(id, error);
        },
      );
    }
    return started;
  }

  private async start(id: string): Promise<NetworkRuntime> {
    const record = await this.deps.networks.get(id);
    // One engine per network key: a second tab would fight the first for the relay (newest
    // wins) and the host's endpoint. The lock is held while the network runs.
    const release = await (this.deps.lockNetwork ?? noLock)(id, record.name);
    try {
      const core = await this.deps.loadCore();
      const { NetworkRuntime } = await loadNetworkRuntime();
      const net = await NetworkRuntime.start(record, {
        core,
        x25519: this.deps.x25519,
        connect: this.deps.connect,
      });
      this.releases.set(id, release);
      return net;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Stops the network `id` if it runs, and lets go of its lock. */
  async stop(id: string): Promise<void> {
    const started = this.running.get(id);
    this.running.delete(id);
    if (started !== undefined) await (await started.catch(() => null))?.close();
    this.releases.get(id)?.();
    this.releases.delete(id);
  }

  /** The network's status: running, stopped, or the error of its last start. */
  async status(id: string): Promise<NetworkStatus> {
    const started = this.running.get(id);
    const record = await this.deps.networks.get(id);
    if (started === undefined) {
      if (this.failures.has(id)) return errorStatus(id, record, this.failures.get(id));
      return {
        id,
        state: "stopped",
        relay: { state: "closed", rttMs: null, url: record.relayUrl },
        peers: [],
      };
    }
    try {
      return (await started).status();
    } catch (error) {
      return errorStatus(id, record, error);
    }
  }
}
