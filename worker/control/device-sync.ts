// Applies network maps to a WireGuard device: each peer of the map becomes a device peer whose
// allowed IPs are its mesh addresses (/32, /128) and whose endpoint is where the node reaches
// it (by default its key on the relay, "peer:<key>"). The changes are computed here from the
// previous and the next map, by peer id, so that a peer that did not change is not touched at
// all: its handshake, keypairs and timers go on as if no map had come. A peer whose key changed
// (rotation) is removed and added again under its new key; a peer that left is removed.

import type { PeerConfig } from "../wireguard/device.ts";
import { parseIp } from "../wireguard/ip-address.ts";
import { keyFromBase64 } from "../wireguard/keys.ts";
import type { NetworkMap, PeerView } from "./types.ts";

/** The device operations the sync uses (worker/wireguard/device.ts's Device has them). */
export interface SyncDevice {
  addPeer(config: PeerConfig): Promise<void>;
  removePeer(publicKey: Uint8Array): boolean;
}

/** Options of a DeviceSync. */
export interface DeviceSyncOptions {
  /**
   * Where the device sends to a peer: an endpoint its Bind parses, or undefined for none yet.
   * Default: the peer's key on the relay, "peer:<base64 key>" (worker/relay/endpoint.ts).
   */
  endpointFor?: (peer: PeerView) => string | undefined;
}

/** What one application changed, by peer id. */
export interface SyncResult {
  /** Peers added to the device. */
  added: number[];
  /** Peers removed from it (gone from the map). */
  removed: number[];
  /** Peers whose key changed: the old device peer removed, the new one added. */
  replaced: number[];
  /** Peers whose allowed IPs or endpoint were updated in place (sessions kept). */
  updated: number[];
  /** Peers left untouched. */
  unchanged: number;
  /** Peers not applied, and why: a malformed key or address, this node's own key, a key twice. */
  skipped: { id: number; reason: string }[];
}

/** What the device was last given for one peer. */
interface Applied {
  key: string;
  publicKey: Uint8Array;
  allowedIps: string[];
  endpoint: string | undefined;
}

/** The default endpoint: the peer's key on the relay. */
export function relayEndpointFor(peer: PeerView): string {
  return `peer:${peer.key}`;
}

/** Keeps a device's peers equal to the peers of the latest map applied. */
export class DeviceSync {
  private readonly applied = new Map<number, Applied>();
  private readonly endpointFor: (peer: PeerView) => string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly device: SyncDevice,
    options: DeviceSyncOptions = {},
  ) {
    this.endpointFor = options.endpointFor ?? relayEndpointFor;
  }

  /** How many peers the device holds from the maps. */
  get size(): number {
    return this.applied.size;
  }

  /**
   * Brings the device to `map`'s peers. Applications run one after another in call order (a
   * map that arrives while the previous one is still being applied waits for it). Rejects
   * only when the device itself fails; the peers applied so far stay recorded.
   */
  apply(map: Pick<NetworkMap, "self" | "peers">): Promise<SyncResult> {
    const run = this.queue.then(() => this.applyNow(map));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(map: Pick<NetworkMap, "self" | "peers">): Promise<SyncResult> {
    const result: SyncResult = {
      added: [],
      removed: [],
      replaced: [],
      updated: [],
      unchanged: 0,
      skipped: [],
    };
    const wanted = this.desired(map, result);
    const rotated = new Set<number>();
    // Removals first, so that a key that moves between ids is free before it is added again.
    for (const [id, before] of this.applied) {
      const next = wanted.get(id);
      if (next !== undefined && next.key === before.key) continue;
      this.device.removePeer(before.publicKey);
      this.applied.delete(id);
      if (next === undefined) result.removed.push(id);
      else rotated.add(id);
    }
    for (const [id, next] of wanted) {
      const before = this.applied.get(id);
      if (before === undefined) {
        await this.device.addPeer({
          publicKey: next.publicKey,
          allowedIps: next.allowedIps,
          endpoint: next.endpoint,
        });
        this.applied.set(id, next);
        (rotated.has(id) ? result.replaced : result.added).push(id);
        continue;
      }
      const sameIps = before.allowedIps.join() === next.allowedIps.join();
      if (sameIps && before.endpoint === next.endpoint) {
        result.unchanged++;
        continue;
      }
      // Same key: addPeer updates only what is given, the sessions stay.
      await this.device.addPeer({
        publicKey: next.publicKey,
        allowedIps: sameIps ? undefined : next.allowedIps,
        endpoint: before.endpoint === next.endpoint ? undefined : next.endpoint,
      });
      this.applied.set(id, next);
      result.updated.push(id);
    }
    return result;
  }

  /** The device peers `map` asks for, by id; what cannot be applied goes to `skipped`. */
  private desired(
    map: Pick<NetworkMap, "self" | "peers">,
    result: SyncResult,
  ): Map<number, Applied> {
    const wanted = new Map<number, Applied>();
    const keys = new Set<string>([map.self.key]);
    for (const peer of map.peers) {
      const skip = (reason: string) => result.skipped.push({ id: peer.id, reason });
      if (keys.has(peer.key)) {
        skip(peer.key === map.self.key ? "this node's own key" : "a key another peer has");
        continue;
      }
      let publicKey: Uint8Array;
      let allowedIps: string[];
      try {
        publicKey = keyFromBase64(peer.key, `peer ${peer.id} key`);
        allowedIps = peer.addresses.map(hostRoute);
      } catch (error) {
        skip((error as Error).message);
        continue;
      }
      keys.add(peer.key);
      wanted.set(peer.id, {
        key: peer.key,
        publicKey,
        allowedIps,
        endpoint: this.endpointFor(peer),
      });
    }
    return wanted;
  }
}

/** "100.64.0.2" → "100.64.0.2/32", "fd00::2" → "fd00::2/128" (a prefix given is ignored). */
function hostRoute(address: string): string {
  const slash = address.indexOf("/");
  const host = slash < 0 ? address : address.slice(0, slash);
  const bytes = parseIp(host, `mesh address '${address.slice(0, 64)}'`);
  return `${host}/${bytes.length * 8}`;
}
