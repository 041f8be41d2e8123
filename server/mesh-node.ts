// A mesh node in Node: what the tests and, next, the agent run. Its WireGuard key is made here
// and never leaves; the device reaches its peers through the relay of the map (pinned to the
// relay key the map gives, with the map's relay token); the packet filter sits between the
// device and the IP interface (inbound packets judged, outbound ones noted for their answers);
// DeviceSync keeps the device's peers equal to the map's. Maps come from the control server's
// map stream (ControlClient, with `controlUrl`) or, in tests, by hand through applyMap().

import type {
  ControlClient,
  ControlClientState,
  ControlRefusal,
} from "../worker/control/client.ts";
import { DeviceSync, type SyncResult } from "../worker/control/device-sync.ts";
import { MapState } from "../worker/control/map-state.ts";
import type { Hostinfo } from "../worker/control/messages.ts";
import { PacketFilter, type PacketFilterOptions } from "../worker/control/packet-filter.ts";
import type { ControlConnect } from "../worker/control/socket.ts";
import { SwitchBind } from "../worker/control/switch-bind.ts";
import type { NetworkMap, PeerView, RelayInfo } from "../worker/control/types.ts";
import { type CryptoCore, initCrypto } from "../worker/crypto/index.ts";
import { NetInterface } from "../worker/net/interface.ts";
import type { PathBind } from "../worker/path/path-bind.ts";
import type { PeerStatus } from "../worker/path/types.ts";
import type { RelayBind } from "../worker/relay/client.ts";
import type { RelayConnect } from "../worker/relay/socket.ts";
import { type Clock, systemClock } from "../worker/wireguard/clock.ts";
import { Device } from "../worker/wireguard/device.ts";
import { generatePrivateKey, keyToBase64 } from "../worker/wireguard/keys.ts";
import type { EndpointReporter } from "./agent/endpoints.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import { type DirectOptions, openDirectPaths, reportEndpoints } from "./mesh-direct.ts";
import { chooseRelay, nodeControlClient, nodeRelayBind, sameRelay } from "./mesh-links.ts";
import type { UdpBind } from "./udp-bind.ts";

// Where callers have always imported them from.
export type { DirectOptions } from "./mesh-direct.ts";
export { chooseRelay } from "./mesh-links.ts";

/** Options of a mesh node. */
export interface MeshNodeOptions {
  /** The node's WireGuard private key; a fresh one is made when absent (it never leaves). */
  privateKey?: Uint8Array;
  /** Opens relay sockets (default: the `ws` package). */
  relayConnect?: RelayConnect;
  /** Relay reconnect backoff (RelayBind's defaults when absent). */
  relayBackoffBaseMs?: number;
  relayBackoffMaxMs?: number;
  /** The tunnel MTU (default 1420). */
  mtu?: number;
  clock?: Clock;
  /** Flow table size and idle times of the packet filter. */
  filter?: Omit<PacketFilterOptions, "clock">;
  /**
   * The control server's map stream ("wss://host/control"): start() joins through it. Without
   * it, maps come by hand through applyMap().
   */
  controlUrl?: string;
  /** Register with this auth key (else the server answers with an approval URL). */
  authKey?: string;
  /** The host name reported at login (default: this machine's). */
  hostname?: string;
  /** The OS reported at login (default: process.platform). */
  os?: string;
  /** More host facts reported at login: the agent's SSH host keys and SSH users. */
  hostinfoExtras?: Omit<Hostinfo, "hostname" | "os">;
  /** The map stream's state changed (connecting, waiting, ready, backoff, ...). */
  onControlState?: (state: ControlClientState) => void;
  /** Ask to be removed when the map stream ends. */
  ephemeral?: boolean;
  /** Tags requested at registration. */
  tags?: string[];
  /** Opens the map stream's socket (default: the `ws` package). */
  controlConnect?: ControlConnect;
  /** The server waits for a person to approve this node at `approvalUrl`. */
  onWaiting?: (approvalUrl: string) => void;
  /** The control server refused this node for good. */
  onRefused?: (refusal: ControlRefusal) => void;
  /** A map could not be applied (the node keeps the previous one). */
  onError?: (error: Error) => void;
  /**
   * A new IP interface is up: at the first map, and again when the node's addresses change
   * (the previous interface's listeners and connections are gone then). The agent attaches its
   * listeners (SSH, forwarding) here.
   */
  onInterface?: (net: NetInterface) => void;
  /** Direct UDP paths to peers, beside the relay (absent: relay only, no path probes). */
  direct?: DirectOptions;
}

/** What a running node is made of (after its first map). */
interface Running {
  device: Device;
  bind: SwitchBind;
  /** The relay connection in use (inside `bind`). */
  relayBind: RelayBind;
  relay: RelayInfo;
  net: NetInterface;
  addresses: string;
  /** The path chooser, with `direct`. */
  paths?: PathBind;
  /** The direct UDP socket, unless direct paths are disabled. */
  udp?: UdpBind;
  /** Reports the node's endpoints, when it follows a control server and has a UDP socket. */
  endpoints?: EndpointReporter;
}

/** One node of the mesh, in this process. */
export class MeshNode {
  /** The inbound packet filter (its counters are the node's drops per reason). */
  readonly filter: PacketFilter;
  /** The map stream's client, when the node follows a control server. */
  readonly control: ControlClient | undefined;
  /** The last map that could not be applied, and why. */
  lastError: Error | undefined;
  private readonly handMap = new MapState();
  private readonly clock: Clock;
  private running: Running | undefined;
  private sync: DeviceSync | undefined;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The Bind of a start in progress: close() ends it so a start waiting for its relay stops. */
  private starting: SwitchBind | undefined;

  private constructor(
    private readonly options: MeshNodeOptions,
    private readonly privateKey: Uint8Array,
    private readonly core: CryptoCore,
    /** The node's public key. */
    readonly publicKey: Uint8Array,
  ) {
    this.clock = options.clock ?? systemClock;
    this.filter = new PacketFilter({ ...options.filter, clock: this.clock });
    if (options.controlUrl !== undefined) {
      this.control = nodeControlClient({
        ...options,
        controlUrl: options.controlUrl,
        privateKey,
        core,
        clock: this.clock,
        onMap: (state) => {
          this.applySnapshot(state.snapshot()).catch((error: Error) => {
            this.lastError = error;
            options.onError?.(error);
          });
        },
        onState: options.onControlState,
      });
    }
  }

  /** Makes a node (and its key, unless given); it joins the mesh at its first map. */
  static async create(options: MeshNodeOptions = {}): Promise<MeshNode> {
    const privateKey = options.privateKey ?? generatePrivateKey();
    const core = await initCrypto();
    const publicKey = await nodeX25519.publicKey(privateKey);
    return new MeshNode(options, privateKey, core, publicKey);
  }

  /**
   * Joins the mesh through the control server (`controlUrl`): resolves once the first map is
   * applied (device up on the map's relay, filter and peers in place); rejects when the server
   * refuses the node or that map cannot be applied.
   */
  async start(): Promise<void> {
    const control = this.control;
    if (control === undefined)
      throw new Error("mesh node: no controlUrl; feed maps with applyMap()");
    await control.start();
    // The first map's application was queued by onMap; wait for it, and report it if it failed.
    await this.queue;
    if (this.running === undefined) throw this.lastError ?? new Error("mesh node: no map applied");
    control.update({ homeRelay: this.running.relay.id });
    this.startEndpoints(this.running, control);
  }

  /** The node's map, for names (`resolve`) and peers: the map stream's, or the hand-fed one. */
  get state(): MapState {
    return this.control?.map ?? this.handMap;
  }

  /** The public key as base64, as maps carry it. */
  get key(): string {
    return keyToBase64(this.publicKey);
  }

  /** The IP interface (TCP, UDP, ping). Throws before the first map. */
  get net(): NetInterface {
    if (this.running === undefined) throw new Error("mesh node: no map yet");
    return this.running.net;
  }

  /** The WireGuard device, once the first map came. */
  get device(): Device | undefined {
    return this.running?.device;
  }

  /** The relay in use, once the first map came. */
  get relay(): RelayInfo | undefined {
    return this.running?.relay;
  }

  /** The relay connection in use (its state and counters), once the first map came. */
  get relayBind(): RelayBind | undefined {
    return this.running?.relayBind;
  }

  /** The path chooser (direct paths), once the first map came with the `direct` option. */
  get paths(): PathBind | undefined {
    return this.running?.paths;
  }

  /** The direct UDP socket's port once the first map came (undefined without one). */
  get directPort(): number | undefined {
    return this.running?.udp?.localPort;
  }

  /** The UDP endpoints last reported to the control server (empty without direct paths). */
  get endpoints(): readonly string[] {
    return this.running?.endpoints?.current ?? [];
  }

  /**
   * Each peer of the map with its path (direct, relay, or none before any packet), the probes'
   * round trip, and the device's WireGuard counters.
   */
  peerStatus(): PeerStatus[] {
    const running = this.running;
    if (running === undefined || !this.state.ready) return [];
    const stats = new Map(running.device.peerStats().map((s) => [keyToBase64(s.publicKey), s]));
    const out: PeerStatus[] = [];
    for (const peer of this.state.peers.values()) {
      const wg = stats.get(peer.key);
      const path = running.paths?.pathOf(peer.key);
      const traffic = (wg?.rxBytes ?? 0) > 0 || (wg?.txBytes ?? 0) > 0;
      const kind =
        path?.path === "direct" ? "direct" : traffic || path?.answered ? "relay" : "none";
      out.push({
        key: peer.key,
        name: peer.name,
        addresses: [...peer.addresses],
        online: peer.online,
        path: kind,
        endpoint: kind === "direct" ? (path?.endpoint ?? null) : null,
        relay: kind === "relay" ? running.relay.id : null,
        rttMs: path?.rttMs ?? null,
        lastHandshake: wg?.lastHandshake ?? null,
        rxBytes: wg?.rxBytes ?? 0,
        txBytes: wg?.txBytes ?? 0,
      });
    }
    return out;
  }

  /** The mesh addresses of the node called `name` ("web-01", "web-01.<domain>"), or undefined. */
  resolve(name: string): readonly string[] | undefined {
    return this.state.ready ? this.state.resolve(name) : undefined;
  }

  /**
   * Applies a full map given by hand (tests; the map stream's client calls applySnapshot):
   * the first one starts the device on the map's relay. Maps apply one after another.
   */
  applyMap(map: NetworkMap): Promise<SyncResult> {
    try {
      this.handMap.apply({ type: "map", session: "local", seq: this.seq++, map });
    } catch (error) {
      return Promise.reject(error);
    }
    return this.applySnapshot(this.handMap.snapshot());
  }

  /** Brings device, filter, relay and token to `map` (serialized with other applications). */
  applySnapshot(map: NetworkMap): Promise<SyncResult> {
    const run = this.queue.then(() => this.applyNow(map));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Stops the device and its relay connection. */
  async close(): Promise<void> {
    this.closed = true;
    // An ephemeral node leaves at once rather than after the server's grace period.
    if (this.options.ephemeral === true) await this.control?.logout();
    this.control?.close();
    await this.starting?.close();
    await this.queue;
    this.running?.endpoints?.close();
    await this.running?.device.close();
  }

  private async applyNow(map: NetworkMap): Promise<SyncResult> {
    if (this.closed) throw new Error("mesh node: closed");
    const relay = chooseRelay(map);
    if (relay === undefined) throw new Error("mesh node: the map lists no relay");
    // The filter first: a peer the map no longer allows is refused from this packet on.
    this.filter.setMap(map);
    let running = this.running;
    if (running === undefined) {
      running = await this.startDevice(map, relay);
      this.running = running;
    } else {
      await this.followRelay(running, relay, map.token.token);
      this.followAddresses(running, map.self);
    }
    this.sync ??= new DeviceSync(running.device);
    const result = await this.sync.apply(map);
    running.paths?.setPeers(map.peers);
    return result;
  }

  private newRelayBind(relay: RelayInfo, token: string): RelayBind {
    const { privateKey, core, clock } = this;
    return nodeRelayBind(relay, token, { ...this.options, privateKey, core, clock });
  }

  private async startDevice(map: NetworkMap, relay: RelayInfo): Promise<Running> {
    const relayBind = this.newRelayBind(relay, map.token.token);
    const bind = new SwitchBind(relayBind);
    this.starting = bind;
    const direct = this.options.direct;
    const { privateKey, publicKey, clock } = this;
    const { paths, udp } =
      direct === undefined
        ? { paths: undefined, udp: undefined }
        : openDirectPaths(direct, bind, { privateKey, publicKey, clock });
    const device = await Device.create({
      privateKey: this.privateKey,
      bind: paths ?? bind,
      core: this.core,
      x25519: nodeX25519,
      clock: this.clock,
      mtu: this.options.mtu ?? 1420,
      // Packets reach whichever interface is current (followAddresses may replace it).
      onPacket: (packet, peer) => {
        if (this.filter.inbound(packet, peer)) this.running?.net.receive(packet);
      },
    });
    this.starting = undefined;
    if (this.closed) {
      await device.close();
      throw new Error("mesh node: closed");
    }
    const net = this.interfaceFor(map.self, device);
    this.options.onInterface?.(net);
    const addresses = map.self.addresses.join();
    return { device, bind, relayBind, relay, net, addresses, paths, udp };
  }

  /** Starts reporting endpoints (local addresses, STUN-mapped address) to the control server. */
  private startEndpoints(running: Running, control: ControlClient): void {
    const udp = running.udp;
    if (udp === undefined || running.endpoints !== undefined) return;
    running.endpoints = reportEndpoints(
      udp,
      this.options.direct,
      () => this.running?.relay.stun,
      (endpoints) => control.update({ endpoints }),
    );
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
    if (sameRelay(running.relay, relay)) {
      running.relayBind.setToken(token);
      return;
    }
    const next = this.newRelayBind(relay, token);
    await running.bind.use(next);
    running.relayBind = next;
    running.relay = relay;
    this.control?.update({ homeRelay: relay.id });
    // Another relay may be another STUN server, and sees this node from elsewhere.
    void running.endpoints?.refreshStun();
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
