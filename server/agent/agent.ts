// The agent (docs/agent.md): one MeshNode that joins the mesh through the control server with
// the key of its state directory, and the services the agent runs on it: the identity SSH
// server on the mesh addresses (ssh/server.ts), inbound forwarding of other ports to 127.0.0.1
// (forward.ts), the SOCKS5 proxy into the mesh (socks5.ts), the local socket the CLI asks
// (local-api.ts), and direct UDP paths beside the relay (MeshNode's `direct`). Each part gets
// only the seam it needs (types.ts, built by mesh-access.ts), so each can be tested alone.
// When the map stops allowing what a peer has open (it left the map, a port or an ssh rule was
// withdrawn), the AccessSweeper (revoke.ts) ends those SSH connections and forwarded flows.
//
// Lifecycle: start() opens the state directory and begins joining; `joined` settles at the
// first map (or the refusal before it); `refused` resolves whenever the control server refuses
// the node for good (a bad auth key, the node removed). stop() closes listeners, then the node:
// an ephemeral node logs out (the control server removes it at once; if the server cannot be
// reached, it removes it after its grace period), any other ends its map stream.

import { userInfo } from "node:os";
import type { ControlClientState, ControlRefusal } from "../../worker/control/client.ts";
import type { ControlConnect } from "../../worker/control/socket.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection, TcpListener } from "../../worker/net/tcp/stack.ts";
import type { RelayConnect } from "../../worker/relay/socket.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import type { Logger } from "../log.ts";
import { type DirectOptions, MeshNode } from "../mesh-node.ts";
import { InboundForwarder, newForwardCounters } from "./forward.ts";
import { type LocalApi, startLocalApi } from "./local-api.ts";
import { connectionStream, MeshAccess } from "./mesh-access.ts";
import type { PortSet } from "./ports.ts";
import { AccessSweeper, MapJudge } from "./revoke.ts";
import { type Socks5Proxy, startSocks5 } from "./socks5.ts";
import { IdentitySshServer } from "./ssh/server.ts";
import { openStateDir, type StateDir } from "./state-dir.ts";

/** What `corridor agent` asks for (cli/agent.ts parses and checks it). */
export interface AgentOptions {
  /** The control server's base URL as given ("https://corridor.example.com"). */
  serverUrl: string;
  /** Its map stream ("wss://corridor.example.com/control"). */
  controlUrl: string;
  /** Register with this key; without it the server prints an approval URL and waits. */
  authKey?: string;
  hostname?: string;
  tags?: string[];
  ephemeral?: boolean;
  /** The state directory (node key, SSH host key, socket). */
  stateDir: string;
  /** The identity SSH server's port on the mesh addresses; 0 turns it off. */
  sshPort: number;
  /** The local socket (default: agent.sock in the state directory). */
  socketPath?: string;
  /** Ports inbound forwarding may reach on 127.0.0.1; null: any the policy lets through. */
  expose: PortSet | null;
  /** Where the SOCKS5 proxy listens (loopback); undefined: no proxy. */
  socks5?: { host: string; port: number };
  /** Direct UDP paths (port, or disabled: relay only). */
  direct: DirectOptions;
  log: Logger;
  /** The server waits for a person to approve this node at `url`. */
  onWaiting?: (url: string) => void;
  /** The map stream's state changed. */
  onControlState?: (state: ControlClientState) => void;
  /** For tests: sockets of the map stream and the relay (default: the `ws` package). */
  controlConnect?: ControlConnect;
  relayConnect?: RelayConnect;
}

/** What `corridor agent` needs of a running agent, in either mode (userspace or TUN). */
export interface AgentHandle {
  readonly state: StateDir;
  /** Settles at the first map applied; rejects when refused (or stopped) before it. */
  readonly joined: Promise<void>;
  /** Resolves when the control server refuses this node for good, before or after joining. */
  readonly refused: Promise<ControlRefusal>;
  /** The local socket, once it listens. */
  readonly localApi: LocalApi | undefined;
  /** Lines for people once joined: the node, and each service with where it listens. */
  startLines(): string[];
  /** Why the map stream's last attempt failed, if it did. */
  lastControlError(): string | undefined;
  stop(): Promise<void>;
}

/** The local user the SSH server can serve when the agent is not root, else undefined. */
export function ownUser(): string | undefined {
  return process.getuid?.() === 0 ? undefined : userInfo().username;
}

/** A running agent in userspace mode. */
export class Agent implements AgentHandle {
  /** The mesh node (its map, device, relay). */
  readonly node: MeshNode;
  /** MeshDialer, MeshIdentity and AgentControl over the node, for the parts. */
  readonly access: MeshAccess;
  /** The opened state directory. */
  readonly state: StateDir;
  /** Settles at the first map applied; rejects when refused (or stopped) before it. */
  get joined(): Promise<void> {
    return this.joining;
  }
  /** Resolves when the control server refuses this node for good, before or after joining. */
  readonly refused: Promise<ControlRefusal>;
  /** The identity SSH server, when --ssh-port is not 0. */
  readonly ssh: IdentitySshServer | undefined;
  /** Inbound forwarding's counters, across the interfaces the node had. */
  readonly forwardCounters = newForwardCounters();
  /** The local socket, once start() set it up. */
  localApi: LocalApi | undefined;
  /** The SOCKS5 proxy, with --socks5. */
  socks5: Socks5Proxy | undefined;

  private approvalUrl: string | null = null;
  private sshListener: TcpListener | undefined;
  private forwarder: InboundForwarder | undefined;
  /** Ends the connections of peers the map no longer allows (revoke.ts). */
  private readonly sweeper: AccessSweeper;
  private stopped = false;
  /** node.start(), set by start() before it returns the agent. */
  private joining: Promise<void> = new Promise(() => {});

  private constructor(
    private readonly options: AgentOptions,
    state: StateDir,
    node: MeshNode,
    access: MeshAccess,
    ssh: IdentitySshServer | undefined,
    refused: Promise<ControlRefusal>,
  ) {
    this.state = state;
    this.node = node;
    this.access = access;
    this.ssh = ssh;
    this.refused = refused;
    const sshPort = options.sshPort;
    this.sweeper = new AccessSweeper({
      current: () => {
        const state = node.state;
        return state.ready ? { version: `${state.session}:${state.seq}`, map: state } : undefined;
      },
      targets: [
        {
          sweep: (map) => {
            const judge = new MapJudge(map);
            return this.forwarder?.endWhere((remote, port) => judge.flow(remote, port)) ?? 0;
          },
        },
        {
          sweep: (map) => {
            const judge = new MapJudge(map);
            return ssh?.endWhere((c) => judge.ssh(c, sshPort)) ?? 0;
          },
        },
      ],
      log: options.log.child({ component: "revoke" }),
    });
  }

  /** The local socket and the SOCKS5 proxy (before the map: both answer while waiting). */
  private async listen(): Promise<void> {
    const { options } = this;
    this.localApi = await startLocalApi({
      path: options.socketPath ?? this.state.socketPath,
      control: this.access,
      logger: options.log.child({ component: "local-api" }),
    });
    if (options.socks5 !== undefined) {
      this.socks5 = await startSocks5({
        ...options.socks5,
        dialer: this.access,
        log: options.log.child({ component: "socks5" }),
      });
    }
  }

  /**
   * Opens the state directory and starts joining the mesh. Throws when the state directory or
   * its keys cannot be used (the message names the file).
   */
  static async start(options: AgentOptions): Promise<Agent> {
    const log = options.log;
    const state = openStateDir(options.stateDir);
    for (const warning of state.warnings) log.warn({ warning }, "state_dir_unprotected");
    if (state.created.length > 0) log.info({ dir: state.dir, files: state.created }, "state_made");
    const user = ownUser();
    const sshOn = options.sshPort > 0;
    let onRefused: (refusal: ControlRefusal) => void = () => {};
    const refused = new Promise<ControlRefusal>((resolve) => {
      onRefused = resolve;
    });
    // The node's callbacks need the agent, which needs the node: late-bound through `self`.
    let self: Agent | undefined;
    const node = await MeshNode.create({
      privateKey: state.nodeKey,
      controlUrl: options.controlUrl,
      authKey: options.authKey,
      hostname: options.hostname,
      tags: options.tags,
      ephemeral: options.ephemeral,
      controlConnect: options.controlConnect,
      relayConnect: options.relayConnect,
      direct: options.direct,
      hostinfoExtras: {
        sshHostKeys: sshOn ? [state.hostKey.publicLine] : [],
        // A non-root agent can only be its own user: the control server narrows its rules.
        ...(user === undefined ? {} : { sshUsers: [user] }),
      },
      onWaiting: (url) => {
        if (self !== undefined) self.approvalUrl = url;
        log.info({ approvalUrl: url }, "waiting_for_approval");
        options.onWaiting?.(url);
      },
      onRefused: (refusal) => {
        log.error({ code: refusal.code, message: refusal.message }, "refused");
        onRefused(refusal);
      },
      onControlState: (controlState) => {
        log.debug({ state: controlState }, "control_state");
        if (controlState === "ready" && self !== undefined) self.approvalUrl = null;
        options.onControlState?.(controlState);
      },
      onError: (error) => log.warn({ error: error.message }, "map_not_applied"),
      onInterface: (net) => self?.attach(net),
    });
    const access = new MeshAccess(node, {
      mode: "userspace",
      serverUrl: options.serverUrl,
      approvalUrl: () => self?.approvalUrl ?? null,
    });
    const ssh = sshOn
      ? new IdentitySshServer({
          hostKey: state.hostKey.privateKey,
          identity: access,
          checkUrl: `${options.serverUrl.replace(/\/+$/, "")}/login/check`,
          runAs: user === undefined ? "any" : { user },
          log: log.child({ component: "ssh" }),
        })
      : undefined;
    const agent = new Agent(options, state, node, access, ssh, refused);
    self = agent;
    try {
      await agent.listen();
    } catch (error) {
      await agent.stop();
      throw error;
    }
    agent.joining = node.start();
    agent.sweeper.start();
    // The caller awaits `joined` or not (SIGTERM while waiting): never an unhandled rejection.
    agent.joining.catch(() => {});
    log.info(
      {
        server: options.serverUrl,
        dir: state.dir,
        key: node.key,
        ephemeral: options.ephemeral ?? false,
        sshPort: options.sshPort,
        socket: agent.localApi?.path,
        socks5: agent.socks5?.address,
        expose: options.expose?.toString() ?? "any",
        direct: options.direct.disabled !== true,
      },
      "agent_start",
    );
    return agent;
  }

  startLines(): string[] {
    const lines: string[] = [];
    const self = this.access.status().self;
    if (self !== null) {
      lines.push(
        `joined ${this.options.serverUrl} as ${self.name} (${self.addresses.join(", ")}), key ${self.key}`,
      );
    }
    if (this.ssh !== undefined) {
      lines.push(
        `identity SSH on port ${this.options.sshPort} of the mesh addresses, host key ${this.state.hostKey.publicLine}`,
      );
    }
    const { expose } = this.options;
    lines.push(
      `forwarding ${expose === null ? "every port the policy allows" : `ports ${expose}`} from the mesh to 127.0.0.1`,
    );
    if (this.socks5 !== undefined) lines.push(socks5Line(this.socks5));
    const udp = this.node.directPort;
    lines.push(
      udp === undefined
        ? "paths: relay only"
        : `paths: direct UDP on port ${udp} and WebRTC from pages, else the relay`,
    );
    return lines;
  }

  lastControlError(): string | undefined {
    return this.node.control?.lastError?.message;
  }

  /** The listeners on a new IP interface (first map, or the node's addresses changed). */
  private attach(net: NetInterface): void {
    if (this.stopped) return;
    this.sshListener?.close();
    this.sshListener = undefined;
    this.forwarder?.close();
    // Ports the agent listens on itself (SSH) are listeners: the forwarder is never asked.
    // Its own loopback services (SOCKS5) are never forwarded: a peer would dial as this node.
    this.forwarder = new InboundForwarder(net, {
      expose: this.options.expose,
      ownPorts: () => (this.socks5 === undefined ? [] : [this.socks5.address.port]),
      counters: this.forwardCounters,
      log: this.options.log.child({ component: "forward" }),
    });
    if (this.ssh !== undefined) {
      const listener = net.tcp.listen("any", this.options.sshPort);
      this.sshListener = listener;
      void this.acceptSsh(listener, this.ssh);
    }
  }

  private async acceptSsh(listener: TcpListener, ssh: IdentitySshServer): Promise<void> {
    for (;;) {
      let connection: TcpConnection;
      try {
        connection = await listener.accept();
      } catch {
        return; // listener closed: a new interface, or stop()
      }
      ssh.handle(connectionStream(connection), {
        address: formatIp(connection.remoteAddress),
        port: connection.remotePort,
      });
    }
  }

  /**
   * Closes the local socket, the proxy, forwarding, the SSH server and the node (the map
   * stream ends; the relay connection closes).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sweeper.close();
    await this.localApi?.close();
    await this.socks5?.close();
    this.forwarder?.close();
    this.sshListener?.close();
    this.ssh?.close();
    await this.node.close();
    this.options.log.info({ ephemeral: this.options.ephemeral ?? false }, "agent_stop");
  }
}

/** The start line of a SOCKS5 proxy. */
export function socks5Line(proxy: Socks5Proxy): string {
  const { host, port } = proxy.address;
  return `SOCKS5 proxy into the mesh on ${host.includes(":") ? `[${host}]` : host}:${port}`;
}
