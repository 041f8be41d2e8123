// What the agent's parts see of its MeshNode (server/agent/types.ts): dialing into the mesh by
// name (MeshDialer), who is behind a source address (MeshIdentity), and the local socket's
// status/ping/host-key questions (AgentControl). Everything is read from the node's current map
// at the moment of the call, so a delta (a peer renamed, a key rotated, a host key published)
// takes effect on the next question without anyone being told.

import { Duplex } from "node:stream";
import type {
  ReadableStream as NodeReadableStream,
  WritableStream as NodeWritableStream,
} from "node:stream/web";
import type { ControlClient } from "../../worker/control/client.ts";
import type { MapState } from "../../worker/control/map-state.ts";
import type { PeerView, RelayInfo, SshRule } from "../../worker/control/types.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection } from "../../worker/net/tcp/stack.ts";
import type { PathKind, PeerStatus } from "../../worker/path/types.ts";
import type { RelayBind } from "../../worker/relay/client.ts";
import type { Device } from "../../worker/wireguard/device.ts";
import { formatIp, parseIp, quoteInput } from "../../worker/wireguard/ip-address.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import {
  type AgentControl,
  type AgentStatus,
  DialError,
  type MeshDialer,
  type MeshIdentity,
} from "./types.ts";

/** The parts of a MeshNode this module reads (a TUN node can offer the same). */
export interface AccessibleNode {
  readonly state: MapState;
  /** The IP interface; throws before the first map. */
  readonly net: NetInterface;
  readonly control: ControlClient | undefined;
  readonly device: Device | undefined;
  readonly relay: RelayInfo | undefined;
  readonly relayBind: RelayBind | undefined;
  /** Per-peer path, RTT and counters, when the node chooses paths (docs/paths.md). */
  peerStatus?(): PeerStatus[];
  /** The UDP endpoints the node reported for direct paths. */
  readonly endpoints?: readonly string[];
}

/** What the agent adds to the node's own facts for `status`. */
export interface AccessContext {
  mode: "userspace" | "tun";
  /** The control server's base URL as given (`--server`). */
  serverUrl: string;
  /** The approval URL while the server waits for a person, else null. */
  approvalUrl(): string | null;
}

/** Default dial timeout (ms): long enough for a first handshake through a relay. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

/** An address in canonical form ("100.64.0.7", "fd7a::7"), prefix length dropped; or null. */
export function canonicalAddress(text: string): string | null {
  const slash = text.indexOf("/");
  try {
    return formatIp(parseIp(slash < 0 ? text : text.slice(0, slash)));
  } catch {
    return null;
  }
}

/** The WHATWG streams of a mesh TCP connection as one Node stream (end() sends FIN). */
export function connectionStream(connection: TcpConnection): Duplex {
  // A reset or abort after the dial rejects `closed`; the Duplex reports it as its own error.
  connection.closed.catch(() => {});
  // The stack's streams are the WHATWG ones Node also implements; only the typings differ.
  return Duplex.fromWeb(
    {
      readable: connection.readable as unknown as NodeReadableStream<Uint8Array>,
      writable: connection.writable as unknown as NodeWritableStream<Uint8Array>,
    },
    { objectMode: false },
  );
}

/** Which DialFailure a TCP connect error means (the stack's messages, worker/net/tcp). */
function dialFailure(message: string): DialError["reason"] {
  if (message.includes("refused") || message.includes("reset")) return "refused";
  if (message.includes("timed out")) return "timeout";
  return "unreachable";
}

/** The MeshDialer, MeshIdentity and AgentControl of one node. */
export class MeshAccess implements MeshDialer, MeshIdentity, AgentControl {
  readonly dialer: MeshDialer = this;

  constructor(
    private readonly node: AccessibleNode,
    private readonly context: AccessContext,
  ) {}

  /**
   * The mesh address to reach `host` at: a name resolves through the map (IPv4 first); an
   * address must be one of a peer's. Throws DialError (unknown-host, unreachable).
   */
  addressOf(host: string): string {
    const state = this.node.state;
    if (!state.ready) {
      throw new DialError("unreachable", "this node has no map yet (is the agent connected?)");
    }
    const asAddress = canonicalAddress(host);
    if (asAddress !== null) {
      const peer = this.peerByAddress(asAddress);
      if (peer === undefined) {
        throw new DialError(
          "unreachable",
          `${asAddress} is not the address of any peer this node may reach`,
        );
      }
      return asAddress;
    }
    const node = state.nodeByName(host);
    if (node === undefined) {
      throw new DialError("unknown-host", `no node called ${quoteInput(host)} in this mesh`);
    }
    if (node.id === state.self.id) {
      throw new DialError("unreachable", `${node.name} is this node itself`);
    }
    const addresses = node.addresses.map(canonicalAddress).filter((a): a is string => a !== null);
    const chosen = addresses.find((a) => !a.includes(":")) ?? addresses[0];
    if (chosen === undefined) throw new DialError("unreachable", `${node.name} has no address`);
    return chosen;
  }

  async dial(host: string, port: number, timeoutMs = DEFAULT_DIAL_TIMEOUT_MS): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DialError("unreachable", `port ${port} is not a TCP port (1-65535)`);
    }
    const address = this.addressOf(host);
    const net = this.node.net;
    const remote = parseIp(address);
    let connection: TcpConnection;
    try {
      connection = await net.tcp.connect(net.sourceFor(remote), remote, port, { timeoutMs });
    } catch (error) {
      const message = (error as Error).message;
      const reason = dialFailure(message);
      const why =
        reason === "timeout"
          ? `no answer within ${timeoutMs} ms (offline, or its policy drops this port)`
          : message;
      throw new DialError(reason, `${host} (${address}) port ${port}: ${why}`);
    }
    return connectionStream(connection);
  }

  peerByAddress(address: string): PeerView | undefined {
    const state = this.node.state;
    if (!state.ready) return undefined;
    const wanted = canonicalAddress(address);
    if (wanted === null) return undefined;
    for (const peer of state.peers.values()) {
      if (peer.addresses.some((a) => canonicalAddress(a) === wanted)) return peer;
    }
    return undefined;
  }

  sshRules(): readonly SshRule[] {
    return this.node.state.ready ? this.node.state.ssh : [];
  }

  async ping(host: string, timeoutMs: number): Promise<number> {
    const address = this.addressOf(host);
    return this.node.net.ping(address, { timeoutMs });
  }

  /** The peer (not this node) called `host`, by name or address. */
  private peerNamed(host: string): PeerView | undefined {
    const state = this.node.state;
    if (!state.ready) return undefined;
    const address = canonicalAddress(host);
    if (address !== null) return this.peerByAddress(address);
    const node = state.nodeByName(host);
    return node === undefined || node.id === state.self.id ? undefined : node;
  }

  /** The names and addresses a peer answers to, as known_hosts lists them. */
  private namesOf(peer: PeerView): string[] {
    const domain = this.node.state.domain;
    const names = [peer.name];
    if (domain !== "") names.push(`${peer.name}.${domain}`);
    for (const a of peer.addresses) {
      const canonical = canonicalAddress(a);
      if (canonical !== null) names.push(canonical);
    }
    return names;
  }

  hostKeys(host: string): { name: string; names: string[]; keys: string[] } | undefined {
    const peer = this.peerNamed(host);
    if (peer === undefined) return undefined;
    return { name: peer.name, names: this.namesOf(peer), keys: [...peer.sshHostKeys] };
  }

  knownHosts(): string[] {
    const state = this.node.state;
    if (!state.ready) return [];
    const lines: string[] = [];
    const peers = [...state.peers.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const peer of peers) {
      const names = this.namesOf(peer).join(",");
      for (const key of peer.sshHostKeys) lines.push(`${names} ${key}`);
    }
    return lines;
  }

  status(): AgentStatus {
    const state = this.node.state;
    const control = this.node.control;
    const relay = this.node.relay;
    const self = state.ready ? state.self : undefined;
    return {
      self:
        self === undefined
          ? null
          : { name: self.name, key: self.key, addresses: self.addresses, domain: state.domain },
      control: {
        state: control?.state ?? "none",
        url: this.context.serverUrl,
        approvalUrl: this.context.approvalUrl(),
      },
      mode: this.context.mode,
      relay:
        relay === undefined
          ? null
          : { id: relay.id, url: relay.url, state: this.node.relayBind?.state ?? "new" },
      endpoints: [...(this.node.endpoints ?? [])],
      peers: this.node.peerStatus?.() ?? this.peersFromDevice(),
    };
  }

  /**
   * Peer status from the map and the device's counters, for a node that does not choose paths:
   * every packet goes through the relay.
   */
  private peersFromDevice(): PeerStatus[] {
    const state = this.node.state;
    if (!state.ready) return [];
    const stats = new Map(
      (this.node.device?.peerStats() ?? []).map((s) => [keyToBase64(s.publicKey), s]),
    );
    const relayId = this.node.relay?.id ?? null;
    return [...state.peers.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((peer) => {
        const s = stats.get(peer.key);
        const used = s !== undefined && s.rxBytes + s.txBytes > 0;
        const path: PathKind = used ? "relay" : "none";
        return {
          key: peer.key,
          name: peer.name,
          addresses: [...peer.addresses],
          online: peer.online,
          path,
          endpoint: null,
          relay: used ? relayId : null,
          rttMs: used ? (this.node.relayBind?.rttMs ?? null) : null,
          lastHandshake: s === undefined || s.lastHandshake === 0 ? null : s.lastHandshake,
          rxBytes: s?.rxBytes ?? 0,
          txBytes: s?.txBytes ?? 0,
        };
      });
  }
}
