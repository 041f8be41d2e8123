// A mesh node in TUN mode (`corridor agent --tun IFACE`, root; docs/agent-tun.md): the map
// stream (the shared ControlClient, as MeshNode makes it), a real WireGuard interface on the
// host (wg-interface.ts) carrying the node's key and addresses, the relay bridge for peers
// reached through the relay (relay-bridge.ts) and the peer sync (tun-sync.ts). The host's own
// services then answer on the mesh addresses natively. Maps apply one after another; a map
// that cannot be applied is logged and the previous state stays. A timer reads the interface
// every `tickMs` (counters for status).

import type { ControlClient, ControlRefusal } from "../../../worker/control/client.ts";
import type { MapState } from "../../../worker/control/map-state.ts";
import type { Hostinfo } from "../../../worker/control/messages.ts";
import type { ControlConnect } from "../../../worker/control/socket.ts";
import { SwitchBind } from "../../../worker/control/switch-bind.ts";
import type { NetworkMap, RelayInfo } from "../../../worker/control/types.ts";
import { type CryptoCore, initCrypto } from "../../../worker/crypto/index.ts";
import type { PathBind } from "../../../worker/path/path-bind.ts";
import type { PeerStatus } from "../../../worker/path/types.ts";
import type { RelayBind } from "../../../worker/relay/client.ts";
import type { RelayConnect } from "../../../worker/relay/socket.ts";
import { keyToBase64 } from "../../../worker/wireguard/keys.ts";
import { nodeX25519 } from "../../crypto/x25519-node.ts";
import type { Logger } from "../../log.ts";
import { type DirectOptions, reportEndpoints } from "../../mesh-direct.ts";
import { chooseRelay, nodeControlClient, nodeRelayBind, sameRelay } from "../../mesh-links.ts";
import type { EndpointReporter } from "../endpoints.ts";
import { type HostCommands, type HostTools, hostCommands, isExecutable } from "./exec.ts";
import { InterfaceFilter } from "./nft-filter.ts";
import { RelayBridge } from "./relay-bridge.ts";
import { openTunPaths, withPaths } from "./tun-paths.ts";
import { TunSync } from "./tun-sync.ts";
import { WgInterface } from "./wg-interface.ts";

/** Options of TunNode.start(). */
export interface TunNodeOptions {
  /** The interface to create ("corridor0"); it must not exist yet. */
  iface: string;
  /** The node's WireGuard private key (it goes to the interface through wg's stdin only). */
  privateKey: Uint8Array;
  /** The map stream ("wss://host/control"). */
  controlUrl: string;
  authKey?: string;
  /** Reported at login (default: this machine's host name). */
  hostname?: string;
  os?: string;
  tags?: string[];
  ephemeral?: boolean;
  /** More host facts for the login (SSH host keys, SSH users). */
  hostinfo?: Omit<Hostinfo, "hostname" | "os">;
  onWaiting?: (approvalUrl: string) => void;
  onRefused?: (refusal: ControlRefusal) => void;
  /**
   * Aborting it before start() resolves (an agent stopped while it waits for approval or its
   * first map) closes the node: start() rejects and nothing is left on the host.
   */
  signal?: AbortSignal;
  /**
   * The node exists and is about to join (its map stream, state and commands are usable, its
   * map still empty): the agent's local socket answers from here, while it waits for approval.
   */
  onCreated?: (node: TunNode) => void;
  /** A map could not be applied (the node keeps the previous state). */
  onError?: (error: Error) => void;
  log: Logger;
  /**
   * The direct paths' UDP socket's port (`--udp-port`); default: one the system picks. The
   * interface's own port is always one the system picks: only the agent sends to it.
   */
  listenPort?: number;
  mtu?: number;
  /** "auto" (default): the kernel module when it loads, else wireguard-go. */
  implementation?: "auto" | "kernel" | "wireguard-go";
  /**
   * Direct UDP paths (default true): a UDP socket of the agent's, probed and chosen per peer
   * by a PathBind, its endpoints reported to the control server; false (`--no-direct`):
   * everything through the relay, no socket, no endpoints.
   */
  direct?: boolean;
  /** More of the direct socket (host, loopback endpoints and a wrapper, for tests). */
  directOptions?: Omit<DirectOptions, "port" | "disabled">;
  /**
   * The policy's port-level rules as nftables rules on the interface (nft-filter.ts):
   * "nftables" (default; start() rejects when `nft` is missing) or "none" (the host firewall
   * enforces the policy; the peer set alone filters here).
   */
  filter?: "nftables" | "none";
  /** For tests: other paths of ip, wg, wireguard-go or nft. */
  tools?: Partial<HostTools>;
  /** How often the interface is read (default 5 s). */
  tickMs?: number;
  /**
   * For tests: run every command inside this network namespace; the bridge sockets then
   * listen on `bridgeHost` (default 127.0.0.1) and reach the interface at `interfaceHost`
   * (default 127.0.0.1): the two ends of a veth pair into that namespace.
   */
  netns?: string;
  bridgeHost?: string;
  interfaceHost?: string;
  controlConnect?: ControlConnect;
  relayConnect?: RelayConnect;
  relayBackoffBaseMs?: number;
  relayBackoffMaxMs?: number;
}

/** What runs once the first map came. */
interface Running {
  iface: WgInterface;
  bridge: RelayBridge;
  bind: SwitchBind;
  relayBind: RelayBind;
  /** Direct or relay per peer; the bridge sends and receives through it. */
  paths: PathBind;
  endpoints: EndpointReporter | undefined;
  relay: RelayInfo;
  sync: TunSync;
  addresses: string;
}

/** A node whose packets go through a real WireGuard interface of the host. */
export class TunNode {
  /** The map stream's client. */
  readonly control: ControlClient;
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
    this.control = nodeControlClient({
      ...options,
      core,
      hostinfoExtras: options.hostinfo,
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
    node.control.update({ homeRelay: node.running.relay.id });
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

  /** The relay in use and its connection, once the first map came. */
  get relay(): RelayInfo | undefined {
    return this.running?.relay;
  }
  get relayBind(): RelayBind | undefined {
    return this.running?.relayBind;
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
    return withPaths(running.sync.status(), (key) => running.paths.pathOf(key), running.relay.id);
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
    this.control.close();
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
    const relay = chooseRelay(map);
    if (relay === undefined) throw new Error("tun node: the map lists no relay");
    const running = this.running ?? (await this.bringUp(map, relay));
    if (running === undefined) return;
    if (this.running === undefined) this.running = running;
    else {
      await this.followRelay(running, relay, map.token.token);
      const addresses = map.self.addresses.join();
      if (addresses !== running.addresses) {
        await running.iface.setAddresses(map.self.addresses);
        running.addresses = addresses;
      }
    }
    // The filter first: a peer the policy narrows is narrowed before it is on the interface.
    await this.filter?.apply(map);
    running.paths.setPeers(map.peers);
    await running.sync.apply(map);
  }

  private newRelayBind(relay: RelayInfo, token: string): RelayBind {
    return nodeRelayBind(relay, token, { ...this.options, core: this.core });
  }

  /** The interface, the bridge and the relay for the first map; undefined if closed meanwhile. */
  private async bringUp(map: NetworkMap, relay: RelayInfo): Promise<Running | undefined> {
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
    const relayBind = this.newRelayBind(relay, map.token.token);
    const bind = new SwitchBind(relayBind);
    const { paths, udp, direct } = await openTunPaths(options, bind);
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
    // The relay is opened in the background: peers are set up at once, and what the
    // interface sends meanwhile is queued (bounded) by the relay client.
    const opened = bridge.open();
    opened.catch((error: Error) => {
      options.log.warn({ relay: relay.id, error: error.message }, "tun_relay_failed");
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
            () => this.running?.relay.stun,
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
      relayId: () => this.running?.relay.id ?? null,
    });
    this.pending = [];
    return {
      iface,
      bridge,
      bind,
      relayBind,
      relay,
      paths,
      endpoints: undefined,
      sync,
      addresses: map.self.addresses.join(),
    };
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
    this.options.log.info({ relay: relay.id }, "tun_relay_switched");
    this.control.update({ homeRelay: relay.id });
    // Another relay may be another STUN server, and sees this node from elsewhere.
    void running.endpoints?.refreshStun();
  }
}
