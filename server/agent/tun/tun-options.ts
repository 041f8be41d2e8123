// The options of a TUN mode node (tun-node.ts), apart so that the node's file stays short.

import type { ControlRefusal } from "../../../worker/control/client.ts";
import type { Hostinfo } from "../../../worker/control/messages.ts";
import type { ControlConnect } from "../../../worker/control/socket.ts";
import type { RelayConnect } from "../../../worker/relay/socket.ts";
import type { Logger } from "../../log.ts";
import type { DirectOptions } from "../../mesh-direct.ts";
import type { NodeRelayOptions } from "../../mesh-links.ts";
import type { HostTools } from "./exec.ts";
import type { TunNode } from "./tun-node.ts";

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
  /** How the home relay is measured and left (default: the STUN probe, RelaySet's timings). */
  relays?: NodeRelayOptions["relays"];
}
