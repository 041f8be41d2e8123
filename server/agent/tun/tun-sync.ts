// Keeps a WireGuard interface's peers equal to the map (docs/agent-tun.md): desired = the
// map's peers (key; allowed IPs = their mesh addresses as /32 and /128; endpoint = their relay
// bridge socket; persistent keepalive 25), current = `wg show IFACE dump`; the difference is
// applied with `wg set` (peers added, updated in place, removed), never a full replace, so
// unchanged peers keep their sessions. A peer whose key changed (rotation) is the old key
// removed and the new one added.
//
// Paths are not chosen here: the bridge sends through the PathBind (tun-paths.ts), direct or
// relayed. WireGuard's own roaming may still move a peer to wherever its packets come from;
// status() says which endpoint the interface actually uses.

import type { NetworkMap, PeerView } from "../../../worker/control/types.ts";
import type { PeerStatus } from "../../../worker/path/types.ts";
import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";
import type { Logger } from "../../log.ts";
import type { WgDump, WgDumpPeer } from "./wg-dump.ts";

/** Persistent keepalive on every peer (seconds): keeps relay and NAT state, starts handshakes. */
export const KEEPALIVE_SECONDS = 25;
/** Peers per `wg set` command (keeps argv short). */
export const PEERS_PER_COMMAND = 64;

/** What TunSync needs of the interface (WgInterface has it). */
export interface SyncInterface {
  dump(): Promise<WgDump>;
  wgSet(args: readonly string[]): Promise<void>;
}

/** What TunSync needs of the relay bridge (RelayBridge has it). */
export interface SyncBridge {
  addPeer(key: string): Promise<string>;
  removePeer(key: string): void;
  keyAt(address: string): string | undefined;
}

/** One peer as the interface should have it. */
export interface DesiredPeer {
  key: string;
  /** Sorted CIDRs. */
  allowedIps: string[];
  endpoint: string;
}

/** What one sync changes. */
export interface SyncPlan {
  /** Keys to remove from the interface. */
  remove: string[];
  /** Peers to add or update, with only the fields that change (all of them for a new peer). */
  set: { key: string; allowedIps?: string[]; endpoint?: string; keepalive?: number }[];
}

const KEY = /^[A-Za-z0-9+/]{43}=$/;

/** A CIDR in one spelling ("fd7a:0::7/128" -> "fd7a::7/128"), or undefined when malformed. */
export function canonicalCidr(cidr: string): string | undefined {
  const slash = cidr.indexOf("/");
  if (slash < 0) return undefined;
  try {
    const bytes = parseIp(cidr.slice(0, slash));
    const bits = cidr.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > bytes.length * 8) return undefined;
    return `${formatIp(bytes)}/${Number(bits)}`;
  } catch {
    return undefined;
  }
}

/** A peer's allowed IPs: its mesh addresses as host routes, sorted; malformed ones skipped. */
export function allowedIpsOf(peer: Pick<PeerView, "addresses">): string[] {
  const out = new Set<string>();
  for (const address of peer.addresses) {
    try {
      const bytes = parseIp(address);
      out.add(`${formatIp(bytes)}/${bytes.length * 8}`);
    } catch {}
  }
  return [...out].sort();
}

/**
 * The `wg set` changes that take `current` (the dump's peers) to `desired`. An endpoint is set
 * when the peer is new or when `lastSet` (what we set before) differs from the desired one, not
 * whenever the dump shows another: that is WireGuard roaming, which we leave alone.
 */
export function planSync(
  current: readonly WgDumpPeer[],
  desired: readonly DesiredPeer[],
  lastSet: ReadonlyMap<string, string>,
): SyncPlan {
  const want = new Map(desired.map((peer) => [peer.key, peer]));
  const plan: SyncPlan = { remove: [], set: [] };
  const have = new Map<string, WgDumpPeer>();
  for (const peer of current) {
    if (want.has(peer.publicKey)) have.set(peer.publicKey, peer);
    else plan.remove.push(peer.publicKey);
  }
  for (const peer of desired) {
    const now = have.get(peer.key);
    if (now === undefined) {
      plan.set.push({ ...peer, keepalive: KEEPALIVE_SECONDS });
      continue;
    }
    const change: SyncPlan["set"][number] = { key: peer.key };
    const allowed = now.allowedIps.map((c) => canonicalCidr(c) ?? c).sort();
    if (allowed.join() !== peer.allowedIps.join()) change.allowedIps = peer.allowedIps;
    if (lastSet.get(peer.key) !== peer.endpoint || now.endpoint === null)
      change.endpoint = peer.endpoint;
    if (now.persistentKeepalive !== KEEPALIVE_SECONDS) change.keepalive = KEEPALIVE_SECONDS;
    if (Object.keys(change).length > 1) plan.set.push(change);
  }
  return plan;
}

/** The plan as `wg set IFACE ...` argument lists, at most PEERS_PER_COMMAND peers each. */
export function planArgs(plan: SyncPlan): string[][] {
  const groups: string[][] = plan.remove.map((key) => ["peer", key, "remove"]);
  for (const peer of plan.set) {
    const args = ["peer", peer.key];
    if (peer.allowedIps !== undefined) args.push("allowed-ips", peer.allowedIps.join(","));
    if (peer.endpoint !== undefined) args.push("endpoint", peer.endpoint);
    if (peer.keepalive !== undefined) args.push("persistent-keepalive", `${peer.keepalive}`);
    groups.push(args);
  }
  const commands: string[][] = [];
  for (let i = 0; i < groups.length; i += PEERS_PER_COMMAND) {
    commands.push(groups.slice(i, i + PEERS_PER_COMMAND).flat());
  }
  return commands;
}

/** Options of a TunSync. */
export interface TunSyncOptions {
  iface: SyncInterface;
  bridge: SyncBridge;
  /** This node's key (never a peer of itself). */
  selfKey: string;
  log: Logger;
  /** The id of the relay the packets to a peer go through (its home, else ours), for status(). */
  relayId?: (peerKey: string) => string | null;
}

/** Keeps the interface's peers equal to the latest map; serializes its work. */
export class TunSync {
  private map: Pick<NetworkMap, "self" | "peers"> | undefined;
  private peers = new Map<string, PeerView>();
  private readonly lastSet = new Map<string, string>();
  private lastDump: WgDump | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: TunSyncOptions) {}

  /** Brings the interface to `map` (after any application still running). */
  apply(map: Pick<NetworkMap, "self" | "peers">): Promise<SyncPlan> {
    return this.enqueue(() => {
      this.map = map;
      return this.sync();
    });
  }

  /** Reads the interface again (counters for status()); applies what changed. */
  tick(): Promise<SyncPlan> {
    return this.enqueue(() => this.sync());
  }

  /** The map's peers with the interface's view of them (as of the last apply or tick). */
  status(): PeerStatus[] {
    const dumped = new Map((this.lastDump?.peers ?? []).map((p) => [p.publicKey, p]));
    return [...this.peers.values()].map((peer) => {
      const wg = dumped.get(peer.key);
      const endpoint = wg?.endpoint ?? null;
      const bridged = endpoint !== null && this.options.bridge.keyAt(endpoint) !== undefined;
      const path = endpoint === null ? "none" : bridged ? "relay" : "direct";
      return {
        key: peer.key,
        name: peer.name,
        addresses: [...peer.addresses],
        online: peer.online,
        path,
        endpoint: path === "direct" ? endpoint : null,
        relay: path === "relay" ? (this.options.relayId?.(peer.key) ?? null) : null,
        rttMs: null,
        lastHandshake:
          wg !== undefined && wg.latestHandshake > 0 ? wg.latestHandshake * 1000 : null,
        rxBytes: wg?.rxBytes ?? 0,
        txBytes: wg?.txBytes ?? 0,
      };
    });
  }

  private enqueue(work: () => Promise<SyncPlan>): Promise<SyncPlan> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The map's usable peers by key: not ourselves, a well-formed key, some address; once each. */
  private mapPeers(): Map<string, PeerView> {
    const out = new Map<string, PeerView>();
    for (const peer of this.map?.peers ?? []) {
      if (peer.key === this.options.selfKey || !KEY.test(peer.key) || out.has(peer.key)) continue;
      if (allowedIpsOf(peer).length === 0) continue;
      out.set(peer.key, peer);
    }
    return out;
  }

  private async sync(): Promise<SyncPlan> {
    const peers = this.mapPeers();
    const dump = await this.options.iface.dump();
    // Peers that left first: their bridge sockets make room for newcomers (a rotation at the
    // limit is one key out, one in).
    for (const key of this.peers.keys()) {
      if (peers.has(key)) continue;
      this.options.bridge.removePeer(key);
      this.lastSet.delete(key);
    }
    const desired: DesiredPeer[] = [];
    for (const peer of [...peers.values()]) {
      let bridge: string;
      try {
        bridge = await this.options.bridge.addPeer(peer.key);
      } catch (error) {
        // Beyond the bridge's bound: this peer is left out (and said so), the rest applied.
        this.options.log.warn(
          { peer: peer.name, error: (error as Error).message },
          "tun_peer_skipped",
        );
        peers.delete(peer.key);
        continue;
      }
      desired.push({ key: peer.key, allowedIps: allowedIpsOf(peer), endpoint: bridge });
    }
    const plan = planSync(dump.peers, desired, this.lastSet);
    for (const args of planArgs(plan)) await this.options.iface.wgSet(args);
    for (const key of plan.remove) this.lastSet.delete(key);
    for (const peer of desired) this.lastSet.set(peer.key, peer.endpoint);
    this.peers = peers;
    if (plan.remove.length > 0 || plan.set.length > 0) {
      this.lastDump = await this.options.iface.dump();
      this.options.log.info(
        { removed: plan.remove, set: plan.set.map((p) => ({ ...p })) },
        "tun_peers_synced",
      );
    } else this.lastDump = dump;
    return plan;
  }
}
