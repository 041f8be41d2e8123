// What a network map brings a mesh node to, whoever runs it (the browser engine's MeshCore,
// the agent's MeshNode in server/mesh-node.ts): the WireGuard device on the map's relays
// (RelaySet: connected to the node's home relay, chosen by latency with failover, and sending
// to each peer's home relay; every connection pinned to the relay key the map gives and
// presenting the map's relay token), the inbound packet filter between the device and the IP interface (outbound
// packets noted so their answers come in), the device's peers kept equal to the map's
// (DeviceSync), and the IP interface on the node's mesh addresses. Maps apply one after another.
// Platform pieces (sockets, X25519) come in as options; direct UDP paths plug in through
// `wrapBind` (the agent's PathBind), so this file needs no Node built-in.

import { DeviceSync, type SyncResult } from "../control/device-sync.ts";
import { PacketFilter, type PacketFilterOptions } from "../control/packet-filter.ts";
import type { NetworkMap, PeerView, RelayInfo } from "../control/types.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { NetInterface } from "../net/interface.ts";
import type { RelayBind } from "../relay/client.ts";
import { RelaySet, type RelaySetOptions } from "../relay/relay-set.ts";
import type { RelayConnect } from "../relay/socket.ts";
import type { Bind } from "../wireguard/bind.ts";
import { type Clock, systemClock } from "../wireguard/clock.ts";
import { Device } from "../wireguard/device.ts";

/** What a mesh plane is made of. */
export interface MeshPlaneOptions {
  /** The node's WireGuard private key (never sent anywhere). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  /** Opens relay sockets. */
  relayConnect: RelayConnect;
  /** Relay reconnect backoff (RelayBind's defaults when absent). */
  relayBackoffBaseMs?: number;
  relayBackoffMaxMs?: number;
  /** How the home relay is measured and left (RelaySet's defaults when absent). */
  relays?: Pick<
    RelaySetOptions,
    "probe" | "probeTimeoutMs" | "probeIntervalMs" | "failoverMs" | "idleMs"
  >;
  /** The tunnel MTU (default 1420). */
  mtu?: number;
  clock?: Clock;
  /** Flow table size and idle times of the packet filter. */
  filter?: Omit<PacketFilterOptions, "clock">;
  /**
   * What the device sends through, made once at the first map from the relays' Bind (the
   * agent's path chooser, relay and direct UDP); default: the relays alone.
   */
  wrapBind?: (relays: RelaySet) => Bind;
  /** After each map reached the device (the agent tells its path chooser the peers). */
  onSynced?: (map: NetworkMap) => void;
  /**
   * Another home relay is in use (latency, failover, or the map dropped the old one); not
   * called for the first. The node reports it to control (`homeRelay`).
   */
  onRelay?: (relay: RelayInfo) => void;
  /** A new IP interface is up: at the first map, and when the node's addresses change. */
  onInterface?: (net: NetInterface) => void;
}

/** What runs once the first map came. */
interface Running {
  device: Device;
  relays: RelaySet;
  net: NetInterface;
  addresses: string;
}

/**
 * The relay the map names as the node's home when it lists it, else the first (the first
 * choice before any measurement; RelaySet moves from there by latency).
 */
export function homeRelayOf(map: Pick<NetworkMap, "self" | "relays">): RelayInfo | undefined {
  return map.relays.find((relay) => relay.id === map.self.homeRelay) ?? map.relays[0];
}

/** Same id, URL and key: only the token may have changed, so the connection is kept. */
export function sameRelay(a: RelayInfo, b: RelayInfo): boolean {
  return a.id === b.id && a.url === b.url && a.key === b.key;
}

/** A node's device, relay, filter and interface, brought to each map in turn. */
export class MeshPlane {
  /** The inbound packet filter (its counters are the node's drops per reason). */
  readonly filter: PacketFilter;
  private running: Running | undefined;
  private sync: DeviceSync | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** The Bind of a start in progress: close() ends it so a start waiting for its relay stops. */
  private starting: RelaySet | undefined;
  private closed = false;
  private readonly clock: Clock;

  constructor(
    private readonly options: MeshPlaneOptions,
    /** Prefix of this plane's errors ("mesh node", "mesh"). */
    private readonly label = "mesh node",
  ) {
    this.clock = options.clock ?? systemClock;
    this.filter = new PacketFilter({ ...options.filter, clock: this.clock });
  }

  /** Brings device, filter, relay and token to `map`, after the maps before it. */
  apply(map: NetworkMap): Promise<SyncResult> {
    const run = this.queue.then(() => this.applyNow(map));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Settles once every map given so far is applied (or failed). */
  settled(): Promise<unknown> {
    return this.queue;
  }

  /** The IP interface, once the first map came. */
  get net(): NetInterface | undefined {
    return this.running?.net;
  }

  /** The WireGuard device, once the first map came. */
  get device(): Device | undefined {
    return this.running?.device;
  }

  /** The home relay, once the first map came. */
  get relay(): RelayInfo | undefined {
    return this.running?.relays.home;
  }

  /** The home relay's connection (its state and counters), once the first map came. */
  get relayBind(): RelayBind | undefined {
    return this.running?.relays.homeBind;
  }

  /** Every relay connection (home and peers' homes), once the first map came. */
  get relays(): RelaySet | undefined {
    return this.running?.relays;
  }

  /** Stops a start in progress and the relays, waits for the maps in flight, closes the device. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.close();
    // Closing the relays also ends a map waiting for a new home to connect.
    await this.running?.relays.close();
    await this.queue;
    await this.running?.device.close();
  }

  private async applyNow(map: NetworkMap): Promise<SyncResult> {
    if (this.closed) throw new Error(`${this.label}: closed`);
    if (map.relays.length === 0) throw new Error(`${this.label}: the map lists no relay`);
    // The filter first: a peer the map no longer allows is refused from this packet on.
    this.filter.setMap(map);
    let running = this.running;
    if (running === undefined) {
      running = await this.startDevice(map);
      this.running = running;
      this.options.onInterface?.(running.net);
    } else {
      await this.followRelays(running.relays, map);
      this.followAddresses(running, map.self);
    }
    this.sync ??= new DeviceSync(running.device);
    const result = await this.sync.apply(map);
    this.options.onSynced?.(map);
    return result;
  }

  private relaySetFor(map: NetworkMap): RelaySet {
    const relays = new RelaySet({
      ...this.options.relays,
      privateKey: this.options.privateKey,
      core: this.options.core,
      x25519: this.options.x25519,
      connect: this.options.relayConnect,
      clock: this.clock,
      backoffBaseMs: this.options.relayBackoffBaseMs,
      backoffMaxMs: this.options.relayBackoffMaxMs,
      onHome: (relay) => this.options.onRelay?.(relay),
    });
    relays.update(map.relays, map.token.token, map.peers, map.self.homeRelay);
    return relays;
  }

  private async startDevice(map: NetworkMap): Promise<Running> {
    const relays = this.relaySetFor(map);
    this.starting = relays;
    const bind = this.options.wrapBind?.(relays) ?? relays;
    let device: Device;
    try {
      device = await Device.create({
        privateKey: this.options.privateKey,
        bind,
        core: this.options.core,
        x25519: this.options.x25519,
        clock: this.clock,
        mtu: this.options.mtu ?? 1420,
        // Packets reach whichever interface is current (an address change replaces it).
        onPacket: (packet, peer) => {
          if (this.filter.inbound(packet, peer)) this.running?.net.receive(packet);
        },
      });
    } catch (error) {
      // Every relay refused (or the device failed): the next map starts over with a new set,
      // so this one's connections, sockets and timer go now.
      await bind.close().catch(() => {});
      await relays.close();
      throw error;
    } finally {
      this.starting = undefined;
    }
    if (this.closed) {
      await device.close();
      throw new Error(`${this.label}: closed`);
    }
    const net = this.interfaceFor(map.self, device);
    return { device, relays, net, addresses: map.self.addresses.join() };
  }

  private interfaceFor(self: PeerView, device: Device): NetInterface {
    return new NetInterface({
      addresses: self.addresses,
      output: (packet) => {
        this.filter.outbound(packet);
        device.send(packet);
      },
      clock: this.clock,
      randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
      mtu: this.options.mtu ?? 1420,
      // Over the relay a BATCH brings ~20 segments per task: one ACK for them (docs/net.md).
      tcp: { ackPerTask: true },
    });
  }

  /**
   * The map's relays, token and peers' homes go to the relay set. When the map moved the home
   * (it dropped the home relay, or changed its URL or key), the map is applied once the new
   * home is connected, as the device's first relay was.
   */
  private async followRelays(relays: RelaySet, map: NetworkMap): Promise<void> {
    const before = relays.home;
    const bind = relays.homeBind;
    relays.update(map.relays, map.token.token, map.peers);
    if (relays.home !== before || relays.homeBind !== bind) await relays.whenReady();
  }

  /** Addresses are stable (kept across key rotation); if they do change, a new interface. */
  private followAddresses(running: Running, self: PeerView): void {
    const addresses = self.addresses.join();
    if (addresses === running.addresses) return;
    running.net = this.interfaceFor(self, running.device);
    running.addresses = addresses;
    this.options.onInterface?.(running.net);
  }
}
