// The agent in TUN mode (`corridor agent --tun IFACE`, root; docs/agent.md and
// docs/agent-tun.md): the node is a TunNode, a real WireGuard interface of the host, so the
// host's own services (its sshd, web servers) answer on the mesh addresses natively and there is
// nothing to forward and no identity SSH server to run. What the agent adds is the same as in
// userspace mode: the state directory's key (the same node across restarts), the local socket
// and the optional SOCKS5 proxy, both over TunAccess (kernel TCP through the interface).
//
// TunNode.start() resolves only at the first map (the interface is made from it); the local
// socket starts as soon as the node exists (status answers while waiting for approval), the
// proxy at the first map. A stop while waiting closes the node, so its start rejects.

import type { ControlRefusal } from "../../worker/control/client.ts";
import type { AgentHandle, AgentOptions } from "./agent.ts";
import { ownUser, socks5Line } from "./agent.ts";
import { type LocalApi, startLocalApi } from "./local-api.ts";
import { AccessSweeper } from "./revoke.ts";
import { type Socks5Proxy, startSocks5 } from "./socks5.ts";
import { openStateDir, type StateDir } from "./state-dir.ts";
import { TunAccess } from "./tun/tun-access.ts";
import { TunNode } from "./tun/tun-node.ts";
import { KernelSweep } from "./tun/tun-revoke.ts";

/** Options of a TUN-mode agent: the userspace agent's, the interface, and TUN-only choices. */
export type TunAgentOptions = AgentOptions & {
  tun: string;
  /**
   * Who enforces the policy's port rules (`--tun-filter`): "nftables" (default; refused when
   * `nft` is missing) or "none" (the host firewall does).
   */
  tunFilter?: "nftables" | "none";
  /**
   * The interface's implementation (default: the CORRIDOR_TUN_IMPLEMENTATION variable, else
   * "auto": the kernel module when it loads, else wireguard-go).
   */
  tunImplementation?: "auto" | "kernel" | "wireguard-go";
};

/** CORRIDOR_TUN_IMPLEMENTATION as an implementation choice; throws on anything else. */
export function tunImplementationFromEnv(
  value: string | undefined,
): TunAgentOptions["tunImplementation"] {
  if (value === undefined || value === "") return undefined;
  if (value === "auto" || value === "kernel" || value === "wireguard-go") return value;
  throw new Error(
    `CORRIDOR_TUN_IMPLEMENTATION '${value.slice(0, 40)}': expected auto, kernel or wireguard-go`,
  );
}

/** A running agent in TUN mode. */
export class TunAgent implements AgentHandle {
  readonly joined: Promise<void>;
  readonly refused: Promise<ControlRefusal>;
  localApi: LocalApi | undefined;
  socks5: Socks5Proxy | undefined;
  /** The node, once its first map brought the interface up. */
  node: TunNode | undefined;
  access: TunAccess | undefined;
  private approvalUrl: string | null = null;
  /** Ends the kernel connections of peers the map no longer allows (tun/tun-revoke.ts). */
  private sweeper: AccessSweeper | undefined;
  private stopped = false;

  private constructor(
    private readonly options: TunAgentOptions,
    readonly state: StateDir,
  ) {
    let onRefused: (refusal: ControlRefusal) => void = () => {};
    this.refused = new Promise((resolve) => {
      onRefused = resolve;
    });
    this.joined = this.join(onRefused);
    this.joined.catch(() => {});
  }

  /**
   * Opens the state directory and starts joining (the interface comes with the first map).
   * Throws when the state directory or its keys cannot be used.
   */
  static start(options: TunAgentOptions): TunAgent {
    const tunImplementation =
      options.tunImplementation ??
      tunImplementationFromEnv(process.env.CORRIDOR_TUN_IMPLEMENTATION);
    const state = openStateDir(options.stateDir);
    for (const warning of state.warnings) options.log.warn({ warning }, "state_dir_unprotected");
    return new TunAgent({ ...options, tunImplementation }, state);
  }

  private async join(onRefused: (refusal: ControlRefusal) => void): Promise<void> {
    const { options } = this;
    const log = options.log;
    const user = ownUser();
    log.info({ server: options.serverUrl, iface: options.tun, dir: this.state.dir }, "agent_start");
    // The local socket answers as soon as the node exists (`corridor status` while waiting for
    // approval shows the state and the approval URL); the interface comes with the first map.
    let created: (node: TunNode) => void = () => {};
    const made = new Promise<TunNode>((resolve) => {
      created = resolve;
    });
    const starting = TunNode.start({
      iface: options.tun,
      privateKey: this.state.nodeKey,
      controlUrl: options.controlUrl,
      authKey: options.authKey,
      hostname: options.hostname,
      tags: options.tags,
      ephemeral: options.ephemeral,
      // No identity SSH server in TUN mode: the host's own sshd answers, with its own keys.
      hostinfo: user === undefined ? {} : { sshUsers: [user] },
      onWaiting: (url) => {
        this.approvalUrl = url;
        log.info({ approvalUrl: url }, "waiting_for_approval");
        options.onWaiting?.(url);
      },
      onRefused: (refusal) => {
        log.error({ code: refusal.code, message: refusal.message }, "refused");
        onRefused(refusal);
      },
      onError: (error) => log.warn({ error: error.message }, "map_not_applied"),
      log: log.child({ component: "tun" }),
      listenPort: options.direct.port === 0 ? undefined : options.direct.port,
      direct: options.direct.disabled !== true,
      filter: options.tunFilter,
      implementation: options.tunImplementation,
      controlConnect: options.controlConnect,
      relayConnect: options.relayConnect,
      onCreated: (node) => created(node),
    });
    starting.catch(() => {});
    const early = await Promise.race([made, starting]);
    this.node = early;
    const access = new TunAccess(early, {
      serverUrl: options.serverUrl,
      approvalUrl: () => this.approvalUrl,
    });
    this.access = access;
    try {
      if (this.stopped) throw new Error("agent: stopped");
      this.localApi = await startLocalApi({
        path: options.socketPath ?? this.state.socketPath,
        control: access,
        logger: log.child({ component: "local-api" }),
      });
      // stop() came while the socket was being opened: it saw no socket to close.
      if (this.stopped) {
        await this.localApi.close();
        throw new Error("agent: stopped");
      }
    } catch (error) {
      await early.close().catch(() => {});
      throw error;
    }
    const node = await starting;
    this.approvalUrl = null;
    if (this.stopped) {
      await node.close();
      throw new Error("agent: stopped");
    }
    const kernel = new KernelSweep({
      commands: node.commands,
      self: () => (node.state.ready ? node.state.self.addresses : []),
      log: log.child({ component: "revoke" }),
      ports: options.tunFilter !== "none",
    });
    // Each sweep runs `ss`: only a change of what it judges (peers' addresses, the filter)
    // counts, not the presence patches a busy mesh sends all the time.
    let seen = "";
    let version = "";
    this.sweeper = new AccessSweeper({
      current: () => {
        const state = node.state;
        if (!state.ready) return undefined;
        const seq = `${state.session}:${state.seq}`;
        if (seq !== seen) {
          seen = seq;
          const peers = [...state.peers.values()].map((p) => [p.id, p.addresses]);
          version = JSON.stringify([peers, state.filter]);
        }
        return { version, map: state };
      },
      targets: [kernel],
      log: log.child({ component: "revoke" }),
    });
    this.sweeper.start();
    if (options.socks5 !== undefined) {
      this.socks5 = await startSocks5({
        ...options.socks5,
        dialer: access,
        log: log.child({ component: "socks5" }),
      });
    }
  }

  startLines(): string[] {
    const self = this.access?.status().self ?? null;
    const lines: string[] = [];
    if (self !== null) {
      lines.push(
        `joined ${this.options.serverUrl} as ${self.name} (${self.addresses.join(", ")}), key ${self.key}`,
      );
    }
    lines.push(
      `TUN mode: interface ${this.options.tun} carries the mesh addresses; the host's own services answer on them`,
    );
    if (this.socks5 !== undefined) lines.push(socks5Line(this.socks5));
    if (this.localApi !== undefined) lines.push(`local socket ${this.localApi.path}`);
    return lines;
  }

  lastControlError(): string | undefined {
    return this.node?.control.lastError?.message;
  }

  /** Closes the socket and proxy, then the node: its interface and bridge are removed. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sweeper?.close();
    await this.localApi?.close();
    await this.socks5?.close();
    await this.node?.close();
    this.options.log.info({ ephemeral: this.options.ephemeral ?? false }, "agent_stop");
  }
}
