// A mesh node in TUN mode (`corridor agent --tun IFACE`, root; docs/agent-tun.md): the map
// stream (the shared ControlClient, as MeshNode makes it), a real WireGuard interface on the
// host (wg-interface.ts) carrying the node's key and addresses, the relay bridge for peers
// reached through the relays (relay-bridge.ts) and the peer sync (tun-sync.ts). The relays are
// a RelaySet, as a userspace node's: a home relay picked by the STUN probe with failover, each
// peer reached at its own home relay. The host's own services then answer on the mesh
// addresses natively. Pages' WebRTC data channels (../rtc-answerer.ts) are direct candidates of
// the same PathBind, so the bridge carries them to the interface's port like relayed packets.
// Maps apply one after another; a map that cannot be applied is logged and
// the previous state stays. A timer reads the interface every `tickMs` (counters for status).

import type { ControlClient } from "../../../worker/control/client.ts";
import type { MapState } from "../../../worker/control/map-state.ts";
import type { NetworkMap, RelayInfo } from "../../../worker/control/types.ts";
import { type CryptoCore, initCrypto } from "../../../worker/crypto/index.ts";
import type { PathBind } from "../../../worker/path/path-bind.ts";
import type { PeerStatus } from "../../../worker/path/types.ts";
import type { RelayBind } from "../../../worker/relay/client.ts";
import type { RelaySet } from "../../../worker/relay/relay-set.ts";
import { systemClock } from "../../../worker/wireguard/clock.ts";
import { keyToBase64 } from "../../../worker/wireguard/keys.ts";
import { nodeX25519 } from "../../crypto/x25519-node.ts";
import { openAnswerer, reportEndpoints } from "../../mesh-direct.ts";
import { nodeControlClient, nodeRelaySet } from "../../mesh-links.ts";
import type { EndpointReporter } from "../endpoints.ts";
import type { RtcAnswerer } from "../rtc-answerer.ts";
import { type HostCommands, hostCommands, isExecutable } from "./exec.ts";
import { InterfaceFilter } from "./nft-filter.ts";
import { RelayBridge } from "./relay-bridge.ts";
import type { TunNodeOptions } from "./tun-options.ts";
import { openTunPaths, withPaths } from "./tun-paths.ts";
import { TunSync } from "./tun-sync.ts";
import { WgInterface } from "./wg-interface.ts";

export type { TunNodeOptions } from "./tun-options.ts";

/** What runs once the first map came. */
interface Running {
  iface: WgInterface;
  bridge: RelayBridge;
  /** The home relay and the connections to peers' homes. */
  relays: RelaySet;
  /** Direct or relay per peer; the bridge sends and receives through it. */
  paths: PathBind;
  endpoints: EndpointReporter | undefined;
  sync: TunSync;
  addresses: string;
}

/** A node whose packets go through a real WireGuard interface of the host. */
export class TunNode {
  /** The map stream's client. */
  readonly control: ControlClient;
  /** Pages' data channels (off, answering "disabled", with `direct` false). */
  readonly webrtc: RtcAnswerer;
  /** The last map that could not be applied, and why. */
  lastError: Error | undefined;
  private running: Running | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** Runs the host's tools where the interface lives (its namespace, in tests). */
  readonly commands: HostCommands;
  /** The policy's port rules on the interface, unless turned off. */
  private readonly filter: InterfaceFilter | undefined;
  /** Parts made by a first map still being applied, closed if close() comes meanwhile. */
  private pending: { close(): Promise<void> }[] = [];

  private constructor(
    private readonly options: TunNodeOptions,
    private readonly core: CryptoCore,
    /** The node's public key (base64). */
    readonly key: string,
  ) {
    this.commands = hostCommands({ netns: options.netns, tools: options.tools });
    if ((options.filter ?? "nftables") === "nftables") {
      // Fail closed: peers may be listed because *they* may reach *this* node or the other
      // way round, so without the port rules a peer this node may only reach could open any
      // port here. Refused unless the user said the host firewall enforces the policy.
      if (!isExecutable(this.commands.tools.nft)) {
        throw new Error(
          `tun node: ${this.commands.tools.nft || "nft"} not found: TUN mode enforces the policy's port rules with nftables (install the nftables package), or pass --tun-filter none if the host firewall enforces the policy`,
        );
      }
      this.filter = new InterfaceFilter(this.commands, options.iface, options.log);
    } else {
      options.log.warn(
        { filter: options.filter },
        "tun_filter_none: the policy's port rules are left to the host firewall (the peer set still filters)",
      );
    }
    this.webrtc = openAnswerer(
      { ...options.directOptions, disabled: options.direct === false },
      {
        signal: (signal) => this.control.signal(signal),
        stunServer: () => this.running?.relays.home?.stun,
        clock: systemClock,
      },
    );
    this.control = nodeControlClient({
      ...options,
      core,
      hostinfoExtras: options.hostinfo,
      onSignal: this.webrtc.onSignal,
      onMap: (state) => {
        this.apply(state.snapshot()).catch((error: Error) => {
          this.lastError = error;
          options.log.warn({ error: error.message }, "tun_map_not_applied");
          options.onError?.(error);
        });
      },
    });
  }

  /**
   * Joins the mesh and brings the interface up: resolves once the first map is applied
   * (interface, addresses, routes, peers); rejects (with everything made removed) when the
   * server refuses the node or that map cannot be applied.
   */
  static async start(options: TunNodeOptions): Promise<TunNode> {
    const core = await initCrypto();
    const key = keyToBase64(await nodeX25519.publicKey(options.privateKey));
    const node = new TunNode(options, core, key);
    options.onCreated?.(node);
    const abort = () => {
      node
        .close()
        .catch((error: Error) => options.log.warn({ error: error.message }, "tun_close_failed"));
    };
    options.signal?.throwIfAborted();
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      await node.control.start();
      await node.queue;
      // Any failure of the first map (the filter, the peers) fails the start: a node that
      // came up half-configured would only log warnings at every later map.
      if (node.lastError !== undefined) throw node.lastError;
      if (node.running === undefined) throw new Error("tun node: no map applied");
      if (node.closed) throw new Error("tun node: stopped before the first map was applied");
    } catch (error) {
      await node.close().catch(() => {});
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", abort);
    }
    const tickMs = options.tickMs ?? 5000;
    node.timer = setInterval(() => {
      node.running?.sync.tick().catch((error: Error) => {
        options.log.warn({ error: error.message }, "tun_tick_failed");
      });
    }, tickMs);
    node.timer.unref();
    const home = node.running.relays.home;
    if (home !== undefined) node.control.update({ homeRelay: home.id });
    return node;
  }

  /** The node's map (names, peers, policy). */
  get state(): MapState {
    return this.control.map;
  }

  /** The interface, once up. */
  get iface(): WgInterface | undefined {
    return this.running?.iface;
  }

  /** The home relay and its connection, once the first map came. */
  get relay(): RelayInfo | undefined {
    return this.running?.relays.home;
  }
  get relayBind(): RelayBind | undefined {
    return this.running?.relays.homeBind;
  }

  /** Every relay connection (home and peers' homes), once the first map came. */
  get relays(): RelaySet | undefined {
    return this.running?.relays;
  }

  /** The relay bridge (its counters), once the first map came. */
  get bridge(): RelayBridge | undefined {
    return this.running?.bridge;
  }

  /** The UDP endpoints last reported to the control server (empty without direct paths). */
  get endpoints(): readonly string[] {
    return this.running?.endpoints?.current ?? [];
  }

  /**
   * Each peer's path (direct or relay, as the PathBind chooses), last handshake and bytes (as
   * of the latest read of the interface).
   */
  peerStatus(): PeerStatus[] {
    const running = this.running;
    if (running === undefined) return [];
    return withPaths(
      running.sync.status(),
      (key) => running.paths.pathOf(key),
      (key) => running.relays.relayFor(key)?.id ?? "",
    );
  }

  /** Reads the interface now and applies what changed (status is fresh after it resolves). */
  async refresh(): Promise<void> {
    await this.running?.sync.tick();
  }

  /** Leaves: ends the map stream, then removes the interface and the bridge. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    // An ephemeral node leaves at once rather than after the server's grace period.
    if (this.options.ephemeral === true) await this.control.logout();
    // Before the stream ends, so that the pages hear bye rather than wait for a timeout.
    this.webrtc.close();
    this.control.close();
    // Closing the relays also ends a map waiting for a new home to connect.
    await this.running?.relays.close();
    await this.queue;
    const running = this.running;
    this.running = undefined;
    running?.endpoints?.close();
    const parts = running === undefined ? this.pending : [running.bridge, running.iface];
    this.pending = [];
    const errors: string[] = [];
    await this.filter?.close().catch((error: Error) => errors.push(error.message));
    for (const part of parts) {
      await part.close().catch((error: Error) => errors.push(error.message));
    }
    if (errors.length > 0) throw new Error(`tun node: closing: ${errors.join("; ")}`);
  }

  private apply(map: NetworkMap): Promise<void> {
    const run = this.queue.then(() => this.applyNow(map));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(map: NetworkMap): Promise<void> {
    if (this.closed) return;
    if (map.relays.length === 0) throw new Error("tun node: the map lists no relay");
    const running = this.running ?? (await this.bringUp(map));
    if (running === undefined) return;
    if (this.running === undefined) this.running = running;
    else {
      await this.followRelays(running.relays, map);
      const addresses = map.self.addresses.join();
      if (addresses !== running.addresses) {
        await running.iface.setAddresses(map.self.addresses);
        running.addresses = addresses;
      }
    }
    // The filter first: a peer the policy narrows is narrowed before it is on the interface.
    await this.filter?.apply(map);
    running.paths.setPeers(map.peers);
    this.webrtc.synced(map);
    await running.sync.apply(map);
  }

  /** The interface, the bridge and the relays for the first map; undefined if closed meanwhile. */
  private async bringUp(map: NetworkMap): Promise<Running | undefined> {
    const { options } = this;
    const iface = await WgInterface.create({
      iface: options.iface,
      privateKey: keyToBase64(options.privateKey),
      mtu: options.mtu,
      commands: this.commands,
      log: options.log,
      implementation: options.implementation,
    });
    this.pending.push(iface);
    const relays = nodeRelaySet({
      ...options,
      core: this.core,
      onHome: (relay) => this.homeMoved(relay),
    });
    relays.update(map.relays, map.token.token, map.peers, map.self.homeRelay);
    // Closed with the rest if this start fails before the bridge owns it (the bridge closes it
    // again: closing twice is safe). Every relay refusing is no failure here: the node keeps
    // the set, whose timer rests until a map brings a new token.
    this.pending.push(relays);
    const { paths, udp, direct } = await openTunPaths(options, relays, this.webrtc);
    // Every peer's endpoint on the interface is its bridge socket; what the interface sends
    // there goes out through the PathBind (direct when a probed UDP path answers, else the
    // relay), and what the PathBind delivers for a peer comes from that peer's socket.
    const bridge = new RelayBridge({
      relay: paths,
      bindHost: options.bridgeHost,
      interfaceHost: options.interfaceHost,
      interfacePort: iface.listenPort,
      log: options.log,
    });
    this.pending.unshift(bridge);
    // The relays are opened in the background: peers are set up at once, and what the
    // interface sends meanwhile is queued (bounded) by the home relay's client.
    const opened = bridge.open();
    opened.catch((error: Error) => {
      options.log.warn({ relay: relays.home?.id, error: error.message }, "tun_relay_failed");
    });
    // The UDP socket is bound once the PathBind opened it (right after the relay's welcome);
    // its endpoints are reported from then on (once this first map is applied).
    if (udp !== undefined) {
      opened
        .then(() => this.queue)
        .then(() => {
          const running = this.running;
          if (this.closed || running === undefined || running.endpoints !== undefined) return;
          running.endpoints = reportEndpoints(
            udp,
            direct,
            () => this.running?.relays.home?.stun,
            (list) => this.control.update({ endpoints: list }),
          );
        })
        .catch(() => {});
    }
    await iface.setAddresses(map.self.addresses);
    if (this.closed) return undefined;
    const sync = new TunSync({
      iface,
      bridge,
      selfKey: this.key,
      log: options.log,
      // Paths are the PathBind's: the interface always sends to the bridge socket.
      relayId: (key) => this.running?.relays.relayFor(key)?.id ?? null,
    });
    this.pending = [];
    return {
      iface,
      bridge,
      relays,
      paths,
      endpoints: undefined,
      sync,
      addresses: map.self.addresses.join(),
    };
  }

  /**
   * The map's relays, token and peers' homes go to the relay set. When the map moved the home
   * (it dropped the home relay, or changed its URL or key), the map is applied once the new
   * home is connected, as the first relay was.
   */
  private async followRelays(relays: RelaySet, map: NetworkMap): Promise<void> {
    const before = relays.home;
    const bind = relays.homeBind;
    relays.update(map.relays, map.token.token, map.peers);
    if (relays.home !== before || relays.homeBind !== bind) await relays.whenReady();
  }

  /** The home relay moved (latency, failover, the map dropped it): control and STUN follow. */
  private homeMoved(relay: RelayInfo): void {
    this.options.log.info({ relay: relay.id }, "tun_relay_switched");
    this.control.update({ homeRelay: relay.id });
    // Another relay may be another STUN server, and sees this node from elsewhere.
    void this.running?.endpoints?.refreshStun();
  }
}
