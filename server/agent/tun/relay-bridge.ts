// TUN mode's way to peers reachable only through the relay (docs/agent-tun.md). The kernel's
// (or wireguard-go's) WireGuard speaks UDP only, so each peer gets a UDP socket on 127.0.0.1
// (an ephemeral port) that the interface knows as that peer's endpoint: what the interface
// sends there goes to the relay as SEND to the peer's key, and what the relay delivers from
// that key (RECV) is sent from the same socket to the interface's listen port, so WireGuard
// sees one stable address per peer and its roaming keeps pointing at the bridge. Only
// datagrams from the interface's own address and port are forwarded: another local program
// cannot speak through the relay as this node. One Bind carries every peer: TunNode passes a
// PathBind (direct UDP when a probed path answers, else a SwitchBind over RelayBind, so relays
// can be switched), so the "relay" here is whichever path the PathBind picks per packet.

import { createSocket, type Socket } from "node:dgram";
import type { Bind, Endpoint } from "../../../worker/wireguard/bind.ts";
import type { Logger } from "../../log.ts";

/** Options of a RelayBridge. */
export interface RelayBridgeOptions {
  /** The relay transport (opened by open(), closed by close()). */
  relay: Bind;
  /** Where the peer sockets listen (default 127.0.0.1; IPv4). */
  bindHost?: string;
  /** The interface's address as seen from the sockets (default 127.0.0.1) and its port. */
  interfaceHost?: string;
  interfacePort: number;
  /** Most peers bridged at once (default 4096): one socket each. */
  maxPeers?: number;
  /** A socket's pending datagrams toward the interface beyond which more are dropped (default 256). */
  maxSendQueue?: number;
  log: Logger;
}

/** Counters of a RelayBridge; they only grow. */
export interface RelayBridgeStats {
  /** Datagrams from the interface handed to the relay, and their bytes. */
  toRelay: number;
  toRelayBytes: number;
  /** Datagrams from the relay sent to the interface, and their bytes. */
  fromRelay: number;
  fromRelayBytes: number;
  /** The relay refused or dropped one (closed, backed up, too big). */
  relayDropped: number;
  /** From the relay for a key that has no socket (left the map). */
  unknownPeer: number;
  /** Arrived on a peer socket from anything other than the interface: dropped. */
  foreignSource: number;
  /** Dropped because the socket's queue toward the interface was full. */
  queueFull: number;
}

interface Bridged {
  socket: Socket;
  endpoint: Endpoint;
  /** "host:port" as the interface is told (and as `wg show` prints it). */
  address: string;
}

/** Relay <-> interface bridging, one UDP socket per peer. */
export class RelayBridge {
  readonly stats: RelayBridgeStats = {
    toRelay: 0,
    toRelayBytes: 0,
    fromRelay: 0,
    fromRelayBytes: 0,
    relayDropped: 0,
    unknownPeer: 0,
    foreignSource: 0,
    queueFull: 0,
  };
  private readonly peers = new Map<string, Bridged>();
  /** Bridge addresses ("127.0.0.1:port") to peer keys. */
  private readonly byAddress = new Map<string, string>();
  private readonly bindHost: string;
  private readonly interfaceHost: string;
  private closed = false;

  constructor(private readonly options: RelayBridgeOptions) {
    this.bindHost = options.bindHost ?? "127.0.0.1";
    this.interfaceHost = options.interfaceHost ?? "127.0.0.1";
  }

  /** Connects to the relay; resolves once it can send (the relay said welcome). */
  open(): Promise<void> {
    return this.options.relay.open((packet, from) => this.fromRelay(packet, from));
  }

  /** How many peers are bridged. */
  get size(): number {
    return this.peers.size;
  }

  /** The bridge address of `key` ("127.0.0.1:port"), if it is bridged. */
  addressOf(key: string): string | undefined {
    return this.peers.get(key)?.address;
  }

  /** The peer key behind a bridge address, if `address` is one of ours. */
  keyAt(address: string): string | undefined {
    return this.byAddress.get(address);
  }

  /**
   * Bridges `key` (a peer's base64 WireGuard key): opens its socket unless it has one, and
   * returns the address to set as the peer's endpoint on the interface.
   */
  async addPeer(key: string): Promise<string> {
    if (this.closed) throw new Error("relay bridge: closed");
    const known = this.peers.get(key);
    if (known !== undefined) return known.address;
    const max = this.options.maxPeers ?? 4096;
    if (this.peers.size >= max) throw new Error(`relay bridge: more than ${max} peers`);
    const endpoint = this.options.relay.parseEndpoint(`peer:${key}`);
    const socket = createSocket({ type: "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: this.bindHost, port: 0 }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    // Errors after bind (ICMP unreachable while the interface restarts) are not fatal.
    socket.on("error", (error) =>
      this.options.log.debug({ key, error: error.message }, "bridge_socket_error"),
    );
    const address = `${this.bindHost}:${socket.address().port}`;
    if (this.closed || this.peers.has(key)) {
      socket.close();
      if (this.closed) throw new Error("relay bridge: closed");
      return this.peers.get(key)?.address ?? address;
    }
    socket.on("message", (packet, from) => {
      if (from.address !== this.interfaceHost || from.port !== this.options.interfacePort) {
        this.stats.foreignSource++;
        return;
      }
      if (this.options.relay.send(packet, endpoint)) {
        this.stats.toRelay++;
        this.stats.toRelayBytes += packet.length;
      } else this.stats.relayDropped++;
    });
    this.peers.set(key, { socket, endpoint, address });
    this.byAddress.set(address, key);
    return address;
  }

  /** Stops bridging `key` and closes its socket. */
  removePeer(key: string): void {
    const bridged = this.peers.get(key);
    if (bridged === undefined) return;
    this.peers.delete(key);
    this.byAddress.delete(bridged.address);
    bridged.socket.close();
  }

  /** Closes every socket and the relay connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const key of [...this.peers.keys()]) this.removePeer(key);
    await this.options.relay.close();
  }

  private fromRelay(packet: Uint8Array, from: Endpoint): void {
    const key = from.key.startsWith("peer:") ? from.key.slice(5) : undefined;
    const bridged = key === undefined ? undefined : this.peers.get(key);
    if (bridged === undefined) {
      this.stats.unknownPeer++;
      return;
    }
    if (bridged.socket.getSendQueueCount() >= (this.options.maxSendQueue ?? 256)) {
      this.stats.queueFull++;
      return;
    }
    this.stats.fromRelay++;
    this.stats.fromRelayBytes += packet.length;
    bridged.socket.send(packet, this.options.interfacePort, this.interfaceHost);
  }
}
