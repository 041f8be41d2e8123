// The agent (docs/agent.md): one MeshNode that joins the mesh through the control server with
// the key of its state directory, and the services the agent runs on it: the identity SSH
// server on the mesh addresses (ssh/server.ts). Each part gets only the seam it needs
// (types.ts, built by mesh-access.ts), so each can be tested alone.
//
// Lifecycle: start() opens the state directory and begins joining; `joined` settles at the
// first map (or the refusal before it); `refused` resolves whenever the control server refuses
// the node for good (a bad auth key, the node removed). stop() closes listeners, then the node:
// its map stream ends with a normal close, and an ephemeral node is removed by the control
// server once its grace period passes (EPHEMERAL_GRACE_MS, two minutes by default).

import { userInfo } from "node:os";
import type { ControlClientState, ControlRefusal } from "../../worker/control/client.ts";
import type { ControlConnect } from "../../worker/control/socket.ts";
import type { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection, TcpListener } from "../../worker/net/tcp/stack.ts";
import type { RelayConnect } from "../../worker/relay/socket.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import type { Logger } from "../log.ts";
import { MeshNode } from "../mesh-node.ts";
import { connectionStream, MeshAccess } from "./mesh-access.ts";
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
  log: Logger;
  /** The server waits for a person to approve this node at `url`. */
  onWaiting?: (url: string) => void;
  /** The map stream's state changed. */
  onControlState?: (state: ControlClientState) => void;
  /** For tests: sockets of the map stream and the relay (default: the `ws` package). */
  controlConnect?: ControlConnect;
  relayConnect?: RelayConnect;
}

/** The local user the SSH server can serve when the agent is not root, else undefined. */
function ownUser(): string | undefined {
  return process.getuid?.() === 0 ? undefined : userInfo().username;
}

/** A running agent. */
export class Agent {
  /** The mesh node (its map, device, relay). */
  readonly node: MeshNode;
  /** MeshDialer, MeshIdentity and AgentControl over the node, for the parts. */
  readonly access: MeshAccess;
  /** The opened state directory. */
  readonly state: StateDir;
  /** Settles at the first map applied; rejects when refused (or stopped) before it. */
  readonly joined: Promise<void>;
  /** Resolves when the control server refuses this node for good, before or after joining. */
  readonly refused: Promise<ControlRefusal>;
  /** The identity SSH server, when --ssh-port is not 0. */
  readonly ssh: IdentitySshServer | undefined;

  private approvalUrl: string | null = null;
  private sshListener: TcpListener | undefined;
  private stopped = false;

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
    this.joined = node.start();
    // The caller awaits `joined` or not (SIGTERM while waiting): never an unhandled rejection.
    this.joined.catch(() => {});
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
    self = new Agent(options, state, node, access, ssh, refused);
    log.info(
      {
        server: options.serverUrl,
        dir: state.dir,
        key: node.key,
        ephemeral: options.ephemeral ?? false,
        sshPort: options.sshPort,
      },
      "agent_start",
    );
    return self;
  }

  /** The listeners on a new IP interface (first map, or the node's addresses changed). */
  private attach(net: NetInterface): void {
    if (this.stopped) return;
    this.sshListener?.close();
    this.sshListener = undefined;
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

  /** Closes the SSH server and the node (the map stream ends; the relay connection closes). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sshListener?.close();
    this.ssh?.close();
    await this.node.close();
    this.options.log.info({ ephemeral: this.options.ephemeral ?? false }, "agent_stop");
  }
}
