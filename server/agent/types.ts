// The seams between the agent's parts (docs/agent.md): the agent (agent.ts) owns a MeshNode and
// hands each part only what that part needs, through these interfaces, so the SSH server, the
// forwarder, the SOCKS5 proxy and the local socket can be built and tested alone.

import type { Duplex } from "node:stream";
import type { PeerView, SshRule } from "../../worker/control/types.ts";
import type { PeerStatus } from "../../worker/path/types.ts";

/** Why a dial into the mesh failed; each maps to one SOCKS5 reply and one CLI message. */
export type DialFailure =
  /** The name is not a peer of this node's map (or the map has no peers yet). */
  | "unknown-host"
  /** The peer answered with RST: nothing listens there, or it refused the port. */
  | "refused"
  /** No answer in time: the peer is offline, or its policy drops this flow. */
  | "timeout"
  /** The node has no map yet, or the address is not on the mesh. */
  | "unreachable";

/** A failed dial, with the reason a program can act on and a sentence for a person. */
export class DialError extends Error {
  constructor(
    readonly reason: DialFailure,
    message: string,
  ) {
    super(message);
    this.name = "DialError";
  }
}

/** Opens TCP connections into the mesh by name or address (what SOCKS5 and `nc` use). */
export interface MeshDialer {
  /**
   * Connects to `host` ("web-01", "web-01.<domain>", a mesh address) port `port`; the result
   * is a Node stream (end() half-closes). Rejects with DialError.
   */
  dial(host: string, port: number, timeoutMs?: number): Promise<Duplex>;
}

/** Who is behind a mesh source address, as the current map says. */
export interface MeshIdentity {
  /** The peer whose addresses include `address` ("100.64.0.7", "fd7a:...:7"), if any. */
  peerByAddress(address: string): PeerView | undefined;
  /** The SSH rules of this node's current map (empty before the first map). */
  sshRules(): readonly SshRule[];
}

/** What `corridor status` prints (the local socket's `status` answer). */
export interface AgentStatus {
  /** This node: its name, key and addresses once the control server gave them. */
  self: { name: string; key: string; addresses: string[]; domain: string } | null;
  /** The map stream's state ("connecting", "waiting" for approval, "streaming", ...). */
  control: { state: string; url: string; approvalUrl: string | null };
  /** "userspace" or "tun". */
  mode: "userspace" | "tun";
  /** The relay in use, and its connection state. */
  relay: { id: string; url: string; state: string } | null;
  /** UDP endpoints this node reported for direct paths. */
  endpoints: string[];
  peers: PeerStatus[];
}

/** What the local socket (local-api.ts) asks of the running agent. */
export interface AgentControl {
  status(): AgentStatus;
  /** One ICMP echo to `host` (name or mesh address); resolves with the RTT in ms. */
  ping(host: string, timeoutMs: number): Promise<number>;
  /** TCP into the mesh (nc, ssh, SOCKS5). */
  readonly dialer: MeshDialer;
  /**
   * The host keys `host` (name or mesh address) published in the map, with the names and
   * addresses it is known by; undefined when no peer is called that.
   */
  hostKeys(host: string): { name: string; names: string[]; keys: string[] } | undefined;
  /** known_hosts lines ("web-01,web-01.mesh,100.64.0.7,fd7a:...:7 ssh-ed25519 AAAA...") for every peer with published keys. */
  knownHosts(): string[];
}
