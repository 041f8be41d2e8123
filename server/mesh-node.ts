// A mesh node in Node: what the agent and the tests run. Its WireGuard key is made here and
// never leaves. What each map brings it to is the plane the browser engine runs too
// (worker/mesh/mesh-plane.ts: the device on the map's relays, its home relay chosen by latency
// and each peer reached on its own home relay, pinned to the relay keys the map gives with the
// map's relay token; the packet filter between the device and the IP interface;
// DeviceSync keeping the device's peers equal to the map's); this file adds what only Node has:
// direct UDP paths beside the relay (mesh-direct.ts) and the endpoints reported for them, and
// the WebRTC data channels pages open to it (agent/rtc-answerer.ts, with a control server). Maps
// come from the control server's map stream (ControlClient, with `controlUrl`) or, in tests, by
// hand through applyMap().

import type {
  ControlClient,
  ControlClientState,
  ControlRefusal,
} from "../worker/control/client.ts";
import type { SyncResult } from "../worker/control/device-sync.ts";
import { MapState } from "../worker/control/map-state.ts";
import type { Hostinfo } from "../worker/control/messages.ts";
import type { PacketFilter, PacketFilterOptions } from "../worker/control/packet-filter.ts";
import type { ControlConnect } from "../worker/control/socket.ts";
import type { NetworkMap, RelayInfo } from "../worker/control/types.ts";
import { type CryptoCore, initCrypto } from "../worker/crypto/index.ts";
import { MeshPlane, type MeshPlaneOptions } from "../worker/mesh/mesh-plane.ts";
import type { NetInterface } from "../worker/net/interface.ts";
import type { PathBind } from "../worker/path/path-bind.ts";
import type { PeerStatus } from "../worker/path/types.ts";
import type { RelayBind } from "../worker/relay/client.ts";
import type { RelaySet } from "../worker/relay/relay-set.ts";
import type { RelayConnect } from "../worker/relay/socket.ts";
import { type Clock, systemClock } from "../worker/wireguard/clock.ts";
import type { Device } from "../worker/wireguard/device.ts";
import { generatePrivateKey, keyToBase64 } from "../worker/wireguard/keys.ts";
import type { EndpointReporter } from "./agent/endpoints.ts";
import { stunRelayProbe } from "./agent/relay-probe.ts";
import type { RtcAnswerer } from "./agent/rtc-answerer.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import {
  type DirectOptions,
  openAnswerer,
  openDirectPaths,
  reportEndpoints,
} from "./mesh-direct.ts";
import { nodeControlClient } from "./mesh-links.ts";
import { nodeRelayConnect } from "./relay/ws-node.ts";
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
  /**
   * How the home relay is measured and left (worker/relay/relay-set.ts); the probe defaults
   * to STUN (server/agent/relay-probe.ts), a relay PING where that gives no answer.
   */
  relays?: MeshPlaneOptions["relays"];
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
  /** The node's previous private key: it logs in as the same node under the new key. */
  rotateFrom?: Uint8Array;
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

/** The direct side of a running node (with the `direct` option). */
interface Direct {
  /** The path chooser. */
  paths: PathBind;
  /** The direct UDP socket, unless direct paths are disabled. */
  udp?: UdpBind;
  /** Reports the node's endpoints, when it follows a control server and has a UDP socket. */
  endpoints?: EndpointReporter;
}

/** One node of the mesh, in this process. */
export class MeshNode {
  /** The map stream's client, when the node follows a control server. */
  readonly control: ControlClient | undefined;
  /** The last map that could not be applied, and why. */
  lastError: Error | undefined;
  /** Pages' data channels: with both a control server (signals) and the `direct` option. */
  readonly webrtc: RtcAnswerer | undefined;
  private readonly handMap = new MapState();
  private readonly plane: MeshPlane;
  private direct: Direct | undefined;
  private seq = 0;

  private constructor(
    private readonly options: MeshNodeOptions,
    privateKey: Uint8Array,
    core: CryptoCore,
    /** The node's public key. */
    readonly publicKey: Uint8Array,
  ) {
    const clock = options.clock ?? systemClock;
    const direct = options.direct;
    if (direct !== undefined && options.controlUrl !== undefined) {
      this.webrtc = openAnswerer(direct, {
        signal: (signal) => this.control?.signal(signal) ?? false,
        stunServer: () => this.plane.relay?.stun,
        clock,
      });
    }
    this.plane = new MeshPlane({
      privateKey,
      core,
      x25519: nodeX25519,
      relayConnect: options.relayConnect ?? nodeRelayConnect(),
      relayBackoffBaseMs: options.relayBackoffBaseMs,
      relayBackoffMaxMs: options.relayBackoffMaxMs,
      relays: { probe: stunRelayProbe(), ...options.relays },
      mtu: options.mtu,
      clock,
      filter: options.filter,
      wrapBind:
        direct === undefined
          ? undefined
          : (relay) => {
              const keys = { privateKey, publicKey: this.publicKey, clock };
              const opened = openDirectPaths(direct, relay, keys, this.webrtc);
              this.direct = { paths: opened.paths, udp: opened.udp };
              return opened.paths;
            },
      onSynced: (map) => {
        this.direct?.paths.setPeers(map.peers);
        this.webrtc?.synced(map);
      },
      onRelay: (relay) => {
        this.control?.update({ homeRelay: relay.id });
        // Another relay may be another STUN server, and sees this node from elsewhere.
        void this.direct?.endpoints?.refreshStun();
      },
      onInterface: options.onInterface,
    });
    if (options.controlUrl !== undefined) {
      this.control = nodeControlClient({
        ...options,
        controlUrl: options.controlUrl,
        privateKey,
        core,
        clock,
        onMap: (state) => {
          this.applySnapshot(state.snapshot()).catch((error: Error) => {
            this.lastError = error;
            options.onError?.(error);
          });
        },
        onState: options.onControlState,
        onSignal: this.webrtc?.onSignal,
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
    await this.plane.settled();
    const relay = this.plane.relay;
    if (relay === undefined) throw this.lastError ?? new Error("mesh node: no map applied");
    control.update({ homeRelay: relay.id });
    this.startEndpoints(control);
  }

  /** The inbound packet filter (its counters are the node's drops per reason). */
  get filter(): PacketFilter {
    return this.plane.filter;
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
    const net = this.plane.net;
    if (net === undefined) throw new Error("mesh node: no map yet");
    return net;
  }

  /** The WireGuard device, once the first map came. */
  get device(): Device | undefined {
    return this.plane.device;
  }

  /** The home relay, once the first map came. */
  get relay(): RelayInfo | undefined {
    return this.plane.relay;
  }

  /** Every relay connection (home and peers' homes), once the first map came. */
  get relays(): RelaySet | undefined {
    return this.plane.relays;
  }

  /** The home relay's connection (its state and counters), once the first map came. */
  get relayBind(): RelayBind | undefined {
    return this.plane.relayBind;
  }

  /** The path chooser (direct paths), once the first map came with the `direct` option. */
  get paths(): PathBind | undefined {
    return this.direct?.paths;
  }

  /** The direct UDP socket's port once the first map came (undefined without one). */
  get directPort(): number | undefined {
    return this.direct?.udp?.localPort;
  }

  /** The UDP endpoints last reported to the control server (empty without direct paths). */
  get endpoints(): readonly string[] {
    return this.direct?.endpoints?.current ?? [];
  }

  /**
   * Each peer of the map with its path (direct, relay, or none before any packet), the probes'
   * round trip, and the device's WireGuard counters.
   */
  peerStatus(): PeerStatus[] {
    const device = this.plane.device;
    const relay = this.plane.relay;
    if (device === undefined || relay === undefined || !this.state.ready) return [];
    const stats = new Map(device.peerStats().map((s) => [keyToBase64(s.publicKey), s]));
    const out: PeerStatus[] = [];
    for (const peer of this.state.peers.values()) {
      const wg = stats.get(peer.key);
      const path = this.direct?.paths.pathOf(peer.key);
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
        // The relay its packets go through: the peer's home relay, else ours.
        relay: kind === "relay" ? (this.plane.relays?.relayFor(peer.key)?.id ?? relay.id) : null,
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
    return this.plane.apply(map);
  }

  /** Stops the device and its relay connection. */
  async close(): Promise<void> {
    // An ephemeral node leaves at once rather than after the server's grace period.
    if (this.options.ephemeral === true) await this.control?.logout();
    // Before the stream ends, so that the pages hear bye rather than wait for a timeout.
    this.webrtc?.close();
    this.control?.close();
    this.direct?.endpoints?.close();
    await this.plane.close();
  }

  /** Starts reporting endpoints (local addresses, STUN-mapped address) to the control server. */
  private startEndpoints(control: ControlClient): void {
    const direct = this.direct;
    const udp = direct?.udp;
    if (direct === undefined || udp === undefined || direct.endpoints !== undefined) return;
    direct.endpoints = reportEndpoints(
      udp,
      this.options.direct,
      () => this.plane.relay?.stun,
      (endpoints) => control.update({ endpoints }),
    );
  }
}
