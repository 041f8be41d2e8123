// Ending what a peer has open once the map no longer lets it have it (docs/agent.md, "When
// access ends"): a peer removed from the map (a revoked or expired share, a deleted node), a
// filter that no longer lets it reach a port, SSH rules that no longer let it be the user it
// logged in as. The packet filter already drops such a peer's next packets, but that alone
// leaves its connections open until TCP gives up: shells keep running, local services keep
// their sockets. The sweeper asks the parts that hold connections (the identity SSH server,
// inbound forwarding) to end those the current map no longer allows, each time the map
// changes. The judgements are pure functions of the map, so they are tested alone.

import {
  type CompiledPeer,
  type CompiledRule,
  compilePeer,
  compileRule,
  indexOf,
  rangesAccept,
} from "../../worker/control/filter-rules.ts";
import { FLOW_TCP } from "../../worker/control/flow-table.ts";
import type { FilterRule, PeerView, SshRule } from "../../worker/control/types.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import type { Logger } from "../log.ts";
import { canonicalAddress } from "./mesh-access.ts";
import { stillCovered } from "./ssh/access.ts";
import type { SshConnectionView } from "./ssh/server.ts";

/** The parts of the node's current map a sweep reads (MapState has them once ready). */
export interface SweptMap {
  readonly peers: ReadonlyMap<number, PeerView>;
  readonly filter: readonly FilterRule[];
  readonly ssh: readonly SshRule[];
}

/** Why a connection with `address` ends when no peer of the map holds it any more. */
export function goneReason(address: string): string {
  return `${address} is no longer a node of this mesh's map (removed, or its share ended)`;
}

/**
 * The judgements of one sweep over one map: the address index and the compiled rules are built
 * once (at the first question) and the peers compiled once each, so a sweep over many
 * connections in a big mesh costs a lookup per connection, not a walk of every peer.
 */
export class MapJudge {
  private byAddress: Map<string, PeerView> | undefined;
  private rules: CompiledRule[] | undefined;
  private readonly compiled = new Map<number, CompiledPeer>();

  constructor(readonly map: SweptMap) {}

  /** The peer holding `address` (any textual form), if any. */
  holder(address: string): PeerView | undefined {
    if (this.byAddress === undefined) {
      this.byAddress = new Map();
      for (const peer of this.map.peers.values()) {
        for (const a of peer.addresses) {
          const canonical = canonicalAddress(a);
          if (canonical !== null) this.byAddress.set(canonical, peer);
        }
      }
    }
    const canonical = canonicalAddress(address);
    return canonical === null ? undefined : this.byAddress.get(canonical);
  }

  /**
   * Why a TCP flow from `address` to local `port` may no longer go on, or undefined when it
   * may: the address is no peer's any more (or another node's than `nodeId`, when given; a
   * node keeps its id when its key rotates), or no filter rule lets that peer's address reach
   * the port. Judged as the packet filter judges a new flow (worker/control/filter-rules.ts),
   * so what this ends is exactly what the filter would now drop.
   */
  flow(address: string, port: number, nodeId?: number): string | undefined {
    const peer = this.holder(address);
    const canonical = canonicalAddress(address);
    if (peer === undefined || canonical === null) return goneReason(address);
    if (nodeId !== undefined && peer.id !== nodeId) {
      return `${address} now belongs to another node (${peer.name})`;
    }
    this.rules ??= this.map.filter.map(compileRule);
    let compiled = this.compiled.get(peer.id);
    if (compiled === undefined) {
      compiled = compilePeer(peer, this.rules);
      this.compiled.set(peer.id, compiled);
    }
    const at = indexOf(compiled.addresses, parseIp(canonical));
    if (at < 0 || !rangesAccept(compiled.ranges[at]!, FLOW_TCP, port)) {
      return `the policy no longer lets ${peer.name} (${canonical}) reach TCP port ${port} here`;
    }
    return undefined;
  }

  /**
   * Why an identity SSH connection may no longer go on: its flow to the SSH port is revoked
   * (flow()), or no SSH rule still lets its caller be the account it logged in as
   * (stillCovered: a check rule's period gates logins, not sessions).
   */
  ssh(connection: SshConnectionView, sshPort: number): string | undefined {
    const flow = this.flow(connection.address, sshPort, connection.callerId);
    if (flow !== undefined) return flow;
    const account = connection.account;
    if (account === undefined) return undefined; // Not logged in yet: the login decides.
    const canonical = canonicalAddress(connection.address) ?? connection.address;
    const caller = this.holder(canonical);
    if (caller === undefined) return undefined; // Judged by flow() above.
    if (stillCovered(caller, canonical, this.map.ssh, account.name, account)) return undefined;
    return `the ssh rules no longer let ${caller.name} (${canonical}) log in as ${account.name}`;
  }
}

/** MapJudge.flow for one question. */
export function flowRevoked(
  map: SweptMap,
  address: string,
  port: number,
  nodeId?: number,
): string | undefined {
  return new MapJudge(map).flow(address, port, nodeId);
}

/** MapJudge.ssh for one question. */
export function sshRevoked(
  map: SweptMap,
  connection: SshConnectionView,
  sshPort: number,
): string | undefined {
  return new MapJudge(map).ssh(connection, sshPort);
}

/** What holds connections a sweep may end. */
export interface SweepTarget {
  /** Ends the connections `map` no longer allows; returns (or resolves with) how many. */
  sweep(map: SweptMap): number | Promise<number>;
}

/** How to build an AccessSweeper. */
export interface SweeperOptions {
  /**
   * The current map, with a version that changes whenever the map does (MapState's session and
   * sequence number); undefined before the first map.
   */
  current(): { version: string; map: SweptMap } | undefined;
  targets: readonly SweepTarget[];
  /** How often the map is looked at (default 200 ms). */
  intervalMs?: number;
  log?: Logger;
}

/**
 * Sweeps its targets whenever the map changed. The node offers no callback for an applied map
 * (server/mesh-node.ts), so the map's sequence number is looked at on a short timer: a change
 * ends what it revokes within `intervalMs` of its arrival, and an unchanged map costs one
 * comparison.
 */
export class AccessSweeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private seen: string | undefined;
  /** A sweep in progress (targets may be asynchronous: TUN mode asks the kernel). */
  private running: Promise<number> | undefined;
  /** Sweep once more after a change: connections opened while the node applied it. */
  private again = false;

  constructor(private readonly options: SweeperOptions) {}

  /** Starts looking (idempotent). */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 200);
    this.timer.unref();
  }

  /**
   * Sweeps if the map changed since the last sweep, and once more at the check after (a
   * connection that opened while the node was still applying the change); resolves with how
   * many connections were ended. Never rejects; one sweep at a time.
   */
  async check(): Promise<number> {
    if (this.running !== undefined) return 0;
    const current = this.options.current();
    if (current === undefined) return 0;
    if (current.version === this.seen) {
      if (!this.again) return 0;
      this.again = false;
    } else {
      this.seen = current.version;
      this.again = true;
    }
    this.running = this.sweep(current.map);
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Sweeps every target with `map` now; resolves with how many connections were ended. */
  async sweep(map: SweptMap): Promise<number> {
    let ended = 0;
    for (const target of this.options.targets) {
      try {
        ended += await target.sweep(map);
      } catch (error) {
        // One part failing must not keep the others' revoked connections open.
        this.options.log?.warn({ error: (error as Error).message }, "sweep_failed");
      }
    }
    return ended;
  }

  /** Stops looking. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
