// A mesh node's platform-independent core: the map stream's client, and what each map brings
// the node to — the WireGuard device on the map's relay (pinned to the relay key the map gives,
// presenting the map's relay token), the inbound packet filter between the device and the IP
// interface, the device's peers kept equal to the map's (DeviceSync), and the interface on the
// node's mesh addresses. Sockets and X25519 come in from the platform: the browser engine runs
// it on the Worker's WebSocket (worker/engine/mesh-runtime.ts), with the relay as its only path
// (a page cannot send UDP).

import { ControlClient, type ControlClientState, type ControlRefusal } from "../control/client.ts";
import { DeviceSync } from "../control/device-sync.ts";
import type { MapState } from "../control/map-state.ts";
import type { Hostinfo } from "../control/messages.ts";
import { PacketFilter } from "../control/packet-filter.ts";
import type { ControlConnect } from "../control/socket.ts";
import { SwitchBind } from "../control/switch-bind.ts";
import type { NetworkMap, PeerView, RelayInfo } from "../control/types.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { NetInterface } from "../net/interface.ts";
import { RelayBind } from "../relay/client.ts";
import type { RelayConnect } from "../relay/socket.ts";
import { type Clock, systemClock } from "../wireguard/clock.ts";
import { Device } from "../wireguard/device.ts";
import { keyFromBase64 } from "../wireguard/keys.ts";

/** What a mesh core is made of. */
export interface MeshCoreOptions {
  /** The node's WireGuard private key (made by the caller; never sent anywhere). */
  privateKey: Uint8Array;
  core: CryptoCore;
  x25519: X25519Provider;
  /** The map stream ("wss://host/control") and how its socket is opened. */
  controlUrl: string;
  controlConnect: ControlConnect;
  /** How relay sockets are opened. */
  relayConnect: RelayConnect;
  /** What the node reports at login. */
  hostinfo: Hostinfo;
  /** Removed by the server when its map stream ends (browser tabs). */
  ephemeral?: boolean;
  /** Map stream reconnect backoff (the client's defaults when absent). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The tunnel MTU (default 1420). */
  mtu?: number;
  clock?: Clock;
  /** Each map or delta applied to the device (or failed to apply: see `lastError`). */
  onChange?: () => void;
  /** The map stream's state changed. */
  onControlState?: (state: ControlClientState) => void;
  /** The server refused the node for good. */
  onRefused?: (refusal: ControlRefusal) => void;
}

/** What runs once the first map came. */
interface Running {
  device: Device;
  bind: SwitchBind;
  relayBind: RelayBind;
  relay: RelayInfo;
  net: NetInterface;
  addresses: string;
}

/** The relay the node uses: its home relay when the map names one it lists, else the first. */
export function homeRelayOf(map: Pick<NetworkMap, "self" | "relays">): RelayInfo | undefined {
  return map.relays.find((relay) => relay.id === map.self.homeRelay) ?? map.relays[0];
}

/** One mesh node following the control server's map. */
export class MeshCore {
  /** The map stream's client (its `map` is the node's map). */
  readonly control: ControlClient;
  /** The inbound packet filter. */
  readonly filter: PacketFilter;
  /** The last map that could not be applied, and why. */
  lastError: Error | undefined;
  private running: Running | undefined;
  private sync: DeviceSync | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private starting: SwitchBind | undefined;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly options: MeshCoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.filter = new PacketFilter({ clock: this.clock });
    this.control = new ControlClient({
      url: options.controlUrl,
      privateKey: options.privateKey,
      core: options.core,
      x25519: options.x25519,
      connect: options.controlConnect,
      hostinfo: options.hostinfo,
      ephemeral: options.ephemeral,
      clock: this.clock,
      backoffBaseMs: options.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs,
      onMap: (_diff, state) => this.follow(state),
      onState: options.onControlState,
      onRefused: options.onRefused,
    });
  }

  /**
   * Joins: resolves once the first map is applied (device up on the map's relay, filter and
   * peers in place); rejects when the server refuses the node or that map cannot be applied.
   */
  async start(): Promise<void> {
    await this.control.start();
    await this.queue;
    if (this.running === undefined) throw this.lastError ?? new Error("mesh: no map applied");
    this.control.update({ homeRelay: this.running.relay.id });
  }

  /** The node's map. */
  get map(): MapState {
    return this.control.map;
  }

  /** The IP interface, once the first map came. */
  get net(): NetInterface | undefined {
    return this.running?.net;
  }

  /** The WireGuard device, once the first map came. */
  get device(): Device | undefined {
    return this.running?.device;
  }

  /** The relay in use and its connection, once the first map came. */
  get relay(): { info: RelayInfo; bind: RelayBind } | undefined {
    const running = this.running;
    return running === undefined ? undefined : { info: running.relay, bind: running.relayBind };
  }

  /**
   * Leaves: with `logout`, asks the server to remove the node now (false when it could not
   * confirm), then closes the stream, the relay connection and the device.
   */
  async close(logout: boolean): Promise<boolean> {
    if (this.closed) return false;
    this.closed = true;
    const confirmed = logout ? await this.control.logout() : false;
    this.control.close();
    await this.starting?.close();
    await this.queue;
    await this.running?.device.close();
    return confirmed;
  }

  private follow(state: MapState): void {
    const run = this.queue.then(() => this.apply(state.snapshot()));
    this.queue = run.then(
      () => {
        this.lastError = undefined;
        this.options.onChange?.();
      },
      (error: unknown) => {
        this.lastError = error instanceof Error ? error : new Error(String(error));
        this.options.onChange?.();
      },
    );
  }

  private async apply(map: NetworkMap): Promise<void> {
    if (this.closed) throw new Error("mesh: closed");
    const relay = homeRelayOf(map);
    if (relay === undefined) throw new Error("mesh: the map lists no relay");
    // The filter first: a peer the map no longer allows is refused from this packet on.
    this.filter.setMap(map);
    let running = this.running;
    if (running === undefined) {
      running = await this.startDevice(map, relay);
      this.running = running;
    } else {
      await this.followRelay(running, relay, map.token.token);
      if (map.self.addresses.join() !== running.addresses) {
        // Addresses are stable across key rotation; if they change, a new interface.
        running.net = this.interfaceFor(map.self, running.device);
        running.addresses = map.self.addresses.join();
      }
    }
    this.sync ??= new DeviceSync(running.device);
    await this.sync.apply(map);
  }

  private relayBind(relay: RelayInfo, token: string): RelayBind {
    return new RelayBind({
      url: relay.url,
      relayKey: keyFromBase64(relay.key, `relay ${relay.id} key`),
      privateKey: this.options.privateKey,
      core: this.options.core,
      x25519: this.options.x25519,
      token,
      connect: this.options.relayConnect,
      clock: this.clock,
    });
  }

  private async startDevice(map: NetworkMap, relay: RelayInfo): Promise<Running> {
    const relayBind = this.relayBind(relay, map.token.token);
    const bind = new SwitchBind(relayBind);
    this.starting = bind;
    const device = await Device.create({
      privateKey: this.options.privateKey,
      bind,
      core: this.options.core,
      x25519: this.options.x25519,
      clock: this.clock,
      mtu: this.options.mtu ?? 1420,
      // Packets reach whichever interface is current (a change of addresses replaces it).
      onPacket: (packet, peer) => {
        if (this.filter.inbound(packet, peer)) this.running?.net.receive(packet);
      },
    });
    this.starting = undefined;
    if (this.closed) {
      await device.close();
      throw new Error("mesh: closed");
    }
    const net = this.interfaceFor(map.self, device);
    return { device, bind, relayBind, relay, net, addresses: map.self.addresses.join() };
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
    });
  }

  /** A new token goes to the next relay hello; a new relay (id, URL or key) is switched to. */
  private async followRelay(running: Running, relay: RelayInfo, token: string): Promise<void> {
    const same =
      running.relay.id === relay.id &&
      running.relay.url === relay.url &&
      running.relay.key === relay.key;
    if (same) {
      running.relayBind.setToken(token);
      return;
    }
    const next = this.relayBind(relay, token);
    await running.bind.use(next);
    running.relayBind = next;
    running.relay = relay;
    this.control.update({ homeRelay: relay.id });
  }
}
