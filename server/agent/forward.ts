// Inbound forwarding (userspace mode): a TCP flow from the mesh to a port of the agent's mesh
// address is carried to the same port on 127.0.0.1. The stack asks before it answers the SYN
// (TcpStack.forwardUnlistened), so the mesh peer sees the truth of the local port: the
// handshake completes only once 127.0.0.1 accepted, and a refused port answers RST (the peer's
// connect fails at once with "connection refused", not after a timeout). Ports outside
// `--expose` answer RST without a local connect. What the policy filters never gets here: the
// node's packet filter drops it before the stack (worker/control/packet-filter.ts), which is
// why nothing here looks at who is asking. Ports the agent itself listens on inside the stack
// (the identity SSH server) are listeners, so the hook is never asked for them. Ports the agent
// itself listens on at 127.0.0.1 (the SOCKS5 proxy) are never forwarded, whatever `--expose`
// says: a peer reaching the proxy would dial the mesh as this node (`ownPorts`, answered RST).

import { connect as netConnect, type Socket } from "node:net";
import type { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection, TcpStack, UnlistenedFlow } from "../../worker/net/tcp/stack.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import type { Logger } from "../log.ts";
import type { PortSet } from "./ports.ts";
import { pipeSocket, resetSocket } from "./tcp-pipe.ts";

/** Counts of the flows a forwarder decided (plain numbers, for status and tests). */
export interface ForwardCounters {
  /** Connected to 127.0.0.1 and carried. */
  forwarded: number;
  /** 127.0.0.1 refused the port (answered RST). */
  refused: number;
  /** The port is not in `--expose` (answered RST). */
  notExposed: number;
  /** The port is one of the agent's own loopback services (answered RST). */
  ownService: number;
  /** The local connect failed otherwise (timeout, resources) or too many connections (RST). */
  failed: number;
  /** Flows carried right now. */
  active: number;
  /** Flows ended because their access was revoked (endWhere). */
  revoked: number;
}

/** Options of an InboundForwarder. */
export interface ForwarderOptions {
  /** The ports that may be forwarded; null: every port (the policy alone decides). */
  expose: PortSet | null;
  /**
   * The ports the agent itself listens on at 127.0.0.1 (the SOCKS5 proxy), asked at each flow:
   * never forwarded, even when exposed (RST without a local connect).
   */
  ownPorts?: () => Iterable<number>;
  /**
   * Opens the local connection to `port`; resolves once connected, rejects with the socket
   * error (code ECONNREFUSED for a refused port). Default: TCP to 127.0.0.1 (also for IPv6
   * flows: services listening on ::1 only are not reached).
   */
  connect?: (port: number, timeoutMs: number) => Promise<Socket>;
  /** Give up on a local connect after this long (the flow gets RST). Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Flows connecting or carried at once; beyond, new flows get RST. Default 1024. */
  maxConnections?: number;
  /** Counters to add to (share one object across the forwarders of successive interfaces). */
  counters?: ForwardCounters;
  log?: Logger;
}

/** A fresh set of zeroed counters. */
export function newForwardCounters(): ForwardCounters {
  return {
    forwarded: 0,
    refused: 0,
    notExposed: 0,
    ownService: 0,
    failed: 0,
    active: 0,
    revoked: 0,
  };
}

/**
 * Connects to 127.0.0.1:`port` with half-close allowed (each direction ends on its own);
 * rejects with the socket's error, or a timeout error (code ETIMEDOUT) after `timeoutMs`.
 */
export function connectLoopback(port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      const error = Object.assign(
        new Error(`connect 127.0.0.1:${port}: no answer within ${timeoutMs} ms`),
        { code: "ETIMEDOUT" },
      );
      socket.destroy();
      reject(error);
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays attached: an error after the connect is then never unhandled (reject is a no-op
    // by then; the caller's own listeners act on it).
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A local socket connected for a flow whose mesh handshake is still completing. */
interface Waiting {
  socket: Socket;
  /** The local side failed meanwhile (reset, error): the mesh connection is reset on accept. */
  error: Error | undefined;
}

/** Forwards the unlistened TCP ports of one stack to 127.0.0.1 (see the file header). */
export class InboundForwarder {
  readonly counters: ForwardCounters;
  private readonly stack: TcpStack;
  private readonly waiting = new Map<UnlistenedFlow, Waiting>();
  private readonly carried = new Set<{ conn: TcpConnection; socket: Socket }>();
  private readonly connect: (port: number, timeoutMs: number) => Promise<Socket>;
  private deciding = 0;
  private closed = false;

  constructor(
    target: TcpStack | NetInterface,
    private readonly options: ForwarderOptions,
  ) {
    this.stack = "tcp" in target ? target.tcp : target;
    this.counters = options.counters ?? newForwardCounters();
    this.connect = options.connect ?? connectLoopback;
    this.stack.forwardUnlistened({
      decide: (flow) => this.decide(flow),
      accept: (conn, flow) => this.accept(conn, flow),
      abandon: (flow, reason) => this.abandon(flow, reason),
    });
  }

  /** Stops forwarding new flows (they get RST again) and resets the flows in progress. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stack.forwardUnlistened(null);
    for (const w of this.waiting.values()) w.socket.destroy();
    this.waiting.clear();
    for (const { conn, socket } of this.carried) {
      conn.abort("forwarder closed");
      socket.resetAndDestroy();
    }
  }

  /**
   * Resets every carried flow for which `reason` gives a sentence, given the flow's source
   * address (canonical text) and the local port it reached: its access was revoked (the peer
   * left the map, the policy no longer lets it reach the port). The packet filter already
   * drops the peer's next packets; this ends what they would have kept open: the mesh side
   * gets RST (if the peer can still hear it), the local service a reset at once. Returns how
   * many were ended.
   */
  endWhere(reason: (remote: string, localPort: number) => string | undefined): number {
    let ended = 0;
    for (const entry of this.carried) {
      const remote = formatIp(entry.conn.remoteAddress);
      const why = reason(remote, entry.conn.localPort);
      if (why === undefined) continue;
      ended++;
      this.counters.revoked++;
      this.options.log?.info(
        { from: `${remote}:${entry.conn.remotePort}`, port: entry.conn.localPort, reason: why },
        "forward_revoked",
      );
      // Deleted now so a second sweep before pipeSocket settles does not count it again.
      this.carried.delete(entry);
      entry.conn.abort(`access revoked: ${why}`);
      resetSocket(entry.socket);
    }
    return ended;
  }

  private describe(flow: UnlistenedFlow): Record<string, unknown> {
    return {
      from: `${formatIp(flow.remoteAddress)}:${flow.remotePort}`,
      port: flow.localPort,
    };
  }

  private async decide(flow: UnlistenedFlow): Promise<boolean> {
    const port = flow.localPort;
    if (this.closed) return false;
    if (this.options.expose && !this.options.expose.has(port)) {
      this.counters.notExposed++;
      this.options.log?.debug(this.describe(flow), "forward_not_exposed");
      return false;
    }
    for (const own of this.options.ownPorts?.() ?? []) {
      if (own !== port) continue;
      this.counters.ownService++;
      this.options.log?.warn(this.describe(flow), "forward_own_service_refused");
      return false;
    }
    const limit = this.options.maxConnections ?? 1024;
    if (this.deciding + this.waiting.size + this.carried.size >= limit) {
      this.counters.failed++;
      this.options.log?.warn({ ...this.describe(flow), limit }, "forward_too_many");
      return false;
    }
    this.deciding++;
    let socket: Socket;
    try {
      socket = await this.connect(port, this.options.connectTimeoutMs ?? 5000);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED") {
        this.counters.refused++;
        this.options.log?.debug(this.describe(flow), "forward_refused");
      } else {
        this.counters.failed++;
        this.options.log?.info(
          { ...this.describe(flow), error: (error as Error).message },
          "forward_failed",
        );
      }
      return false;
    } finally {
      this.deciding--;
    }
    if (this.closed) {
      socket.destroy();
      return false;
    }
    // Until the mesh handshake completes, keep the local socket paused (no 'data', no 'end')
    // and remember an error instead of letting it throw.
    const w: Waiting = { socket, error: undefined };
    socket.on("error", (error) => {
      w.error ??= error;
    });
    this.waiting.set(flow, w);
    return true;
  }

  private accept(conn: TcpConnection, flow: UnlistenedFlow): void {
    const w = this.waiting.get(flow);
    this.waiting.delete(flow);
    if (!w || w.error || w.socket.destroyed) {
      this.counters.failed++;
      conn.abort("the local connection closed before the mesh handshake completed");
      w?.socket.destroy();
      return;
    }
    this.counters.forwarded++;
    this.counters.active++;
    const entry = { conn, socket: w.socket };
    this.carried.add(entry);
    this.options.log?.debug(this.describe(flow), "forward_open");
    pipeSocket(conn, w.socket).then((outcome) => {
      this.carried.delete(entry);
      this.counters.active--;
      this.options.log?.debug({ ...this.describe(flow), outcome }, "forward_close");
    });
  }

  private abandon(flow: UnlistenedFlow, reason: string): void {
    const w = this.waiting.get(flow);
    if (!w) return;
    this.waiting.delete(flow);
    w.socket.destroy();
    this.counters.failed++;
    this.options.log?.debug({ ...this.describe(flow), reason }, "forward_abandoned");
  }
}
