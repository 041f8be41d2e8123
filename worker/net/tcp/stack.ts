// The TCP stack: demultiplexes segments by 4-tuple to connections, hands SYNs to listeners
// (bounded backlog), answers everything else with RST (RFC 9293 §3.10.7.1), picks ephemeral
// ports and random ISNs, and guards against re-entrant processing when the host's output
// loops straight back into receive().

import { parseTcp, TcpFlag, verifyTcpChecksum } from "../wire/tcp.ts";
import { Connection } from "./connection.ts";
import { TcpListener } from "./listener.ts";
import { sendReset } from "./output.ts";
import type {
  StackContext,
  TcpConnection,
  TcpConnectOptions,
  TcpHost,
  TcpListenOptions,
  TcpStackOptions,
  TcpStackStats,
  UnlistenedHandler,
  UnlistenedOptions,
} from "./types.ts";
import { UnlistenedFlows } from "./unlistened.ts";

export { TcpListener } from "./listener.ts";
export type * from "./types.ts";

const EPHEMERAL_LOW = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_LOW;

function hex(a: Uint8Array): string {
  let s = "";
  for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i]! + 0x100);
  return s;
}

function tupleKey(local: Uint8Array, lport: number, remote: Uint8Array, rport: number): string {
  return `${hex(local)}:${lport}>${hex(remote)}:${rport}`;
}

export class TcpStack {
  readonly stats: TcpStackStats = {
    connections: 0,
    segmentsReceived: 0,
    segmentsSent: 0,
    retransmissions: 0,
    fastRetransmits: 0,
    timeouts: 0,
    dupAcks: 0,
    checksumErrors: 0,
    malformed: 0,
    droppedSyns: 0,
    resetsSent: 0,
    resetsReceived: 0,
    noSocket: 0,
    unlistenedAsked: 0,
    unlistenedDropped: 0,
  };
  private readonly table = new Map<string, Connection>();
  private readonly listeners = new Map<number, TcpListener[]>();
  private readonly ctx: StackContext;
  private readonly synBacklog: number;
  private depth = 0;
  private readonly pending: [Uint8Array, Uint8Array, Uint8Array][] = [];
  private unlistened: UnlistenedFlows | undefined;

  constructor(
    readonly host: TcpHost,
    options: TcpStackOptions = {},
  ) {
    this.synBacklog = options.synBacklog ?? 128;
    this.ctx = {
      host,
      stats: this.stats,
      receiveWindow: Math.max(1024, options.receiveWindow ?? 4 * 1024 * 1024),
      sendBuffer: Math.max(1024, options.sendBuffer ?? 4 * 1024 * 1024),
      mslMs: options.mslMs ?? 30_000,
      ackPerTask: options.ackPerTask ?? false,
      run: (fn) => this.run(fn),
    };
  }

  /** The live connections (any state), for stats and tests. */
  get connections(): TcpConnection[] {
    return [...this.table.values()];
  }

  private run(fn: () => void): void {
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) {
      while (this.pending.length > 0) {
        const [s, d, seg] = this.pending.shift()!;
        this.receive(s, d, seg);
      }
    }
  }

  /** One received TCP segment with the IP addresses it came with (the stack checks the checksum). */
  receive(source: Uint8Array, destination: Uint8Array, segment: Uint8Array): void {
    if (this.depth > 0) {
      this.pending.push([source.slice(), destination.slice(), segment.slice()]);
      return;
    }
    this.run(() => this.process(source, destination, segment));
  }

  private process(source: Uint8Array, destination: Uint8Array, segment: Uint8Array): void {
    this.stats.segmentsReceived++;
    if ((source.length !== 4 && source.length !== 16) || destination.length !== source.length) {
      this.stats.malformed++;
      return;
    }
    const h = parseTcp(segment);
    if (!h.ok) {
      this.stats.malformed++;
      return;
    }
    if (!verifyTcpChecksum(source, destination, segment)) {
      this.stats.checksumErrors++;
      return;
    }
    if (h.srcPort === 0 || h.dstPort === 0) {
      this.stats.malformed++;
      return;
    }
    const key = tupleKey(destination, h.dstPort, source, h.srcPort);
    const conn = this.table.get(key);
    if (conn) {
      // A new SYN may reuse a 4-tuple in TIME_WAIT (RFC 9293 §3.6.1, RFC 6191 spirit).
      if (
        conn.state === "TIME_WAIT" &&
        h.flags & TcpFlag.SYN &&
        !(h.flags & TcpFlag.ACK) &&
        ((h.seq - conn.rseq(conn.rcvNxt)) | 0) > 0 &&
        (this.findListener(destination, h.dstPort) || this.unlistened)
      ) {
        conn.finish();
      } else {
        conn.input(h);
        return;
      }
    }
    const f = h.flags;
    if (f & TcpFlag.SYN && !(f & (TcpFlag.ACK | TcpFlag.RST))) {
      const l = this.findListener(destination, h.dstPort);
      if (l) {
        if (l.full) {
          this.stats.droppedSyns++;
          return;
        }
        const c = new Connection(
          this.ctx,
          destination.slice(),
          h.dstPort,
          source.slice(),
          h.srcPort,
          key,
          l.options,
          h,
        );
        l.halfOpen.add(c);
        c.onEstablished = (x) => l.established(x);
        c.onFinished = (x) => {
          l.forget(x);
          this.remove(x);
        };
        this.add(c);
        return;
      }
    }
    if (this.unlistened?.offer(key, destination, source, h)) return;
    this.stats.noSocket++;
    if (!(f & TcpFlag.RST)) sendReset(this.ctx, destination, source, h);
  }

  /**
   * Puts SYNs to ports without a listener to `handler` (see UnlistenedHandler) instead of
   * answering RST at once; null restores the RST. Flows already asked keep their handler.
   */
  forwardUnlistened(handler: UnlistenedHandler | null, options: UnlistenedOptions = {}): void {
    this.unlistened = handler
      ? new UnlistenedFlows(this.ctx, handler, options, (key, flow, syn) => {
          if (this.table.has(key)) return false;
          let established = false;
          const c = new Connection(
            this.ctx,
            flow.localAddress,
            flow.localPort,
            flow.remoteAddress,
            flow.remotePort,
            key,
            options.connection ?? {},
            syn,
          );
          c.onEstablished = (x) => {
            established = true;
            handler.accept(x, flow);
          };
          c.onFinished = (x) => {
            this.remove(x);
            if (!established) handler.abandon?.(flow, "the handshake did not complete");
          };
          this.add(c);
          return true;
        })
      : undefined;
  }

  private findListener(local: Uint8Array, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (!list) return undefined;
    const lk = hex(local);
    return list.find((l) => l.local && hex(l.local) === lk) ?? list.find((l) => !l.local);
  }

  private add(c: Connection): void {
    this.table.set(c.key, c);
    this.stats.connections = this.table.size;
  }

  private remove(c: Connection): void {
    if (this.table.get(c.key) === c) this.table.delete(c.key);
    this.stats.connections = this.table.size;
  }

  /** Active open from `local` to remote:remotePort; resolves once established. */
  connect(
    local: Uint8Array,
    remote: Uint8Array,
    remotePort: number,
    options: TcpConnectOptions = {},
  ): Promise<TcpConnection> {
    if ((local.length !== 4 && local.length !== 16) || remote.length !== local.length)
      return Promise.reject(new Error("addresses must both be IPv4 or both IPv6"));
    if (!(remotePort > 0 && remotePort < 65536))
      return Promise.reject(new Error(`bad port ${remotePort}`));
    const r = this.host.randomBytes(2);
    const start = ((r[0]! << 8) | r[1]!) % EPHEMERAL_COUNT;
    let key = "";
    let port = 0;
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const p = EPHEMERAL_LOW + ((start + i) % EPHEMERAL_COUNT);
      const k = tupleKey(local, p, remote, remotePort);
      if (!this.table.has(k) && !this.listeners.has(p)) {
        key = k;
        port = p;
        break;
      }
    }
    if (!port) return Promise.reject(new Error("no ephemeral port free"));
    let c: Connection | undefined;
    this.run(() => {
      c = new Connection(this.ctx, local.slice(), port, remote.slice(), remotePort, key, options);
      c.onFinished = (x) => this.remove(x);
      this.add(c);
    });
    const conn = c!;
    return conn.whenEstablished(options.timeoutMs ?? 30_000).then(() => conn);
  }

  /** Listens on `port` at `local` (or any local address). */
  listen(local: Uint8Array | "any", port: number, options: TcpListenOptions = {}): TcpListener {
    if (!(port > 0 && port < 65536)) throw new Error(`bad port ${port}`);
    const addr = local === "any" ? undefined : local.slice();
    const list = this.listeners.get(port) ?? [];
    const key = addr ? hex(addr) : "";
    if (list.some((l) => (l.local ? hex(l.local) : "") === key))
      throw new Error(`port ${port} already listening`);
    const l = new TcpListener(addr, port, options.backlog ?? this.synBacklog, options, (x) => {
      const rest = (this.listeners.get(port) ?? []).filter((y) => y !== x);
      if (rest.length) this.listeners.set(port, rest);
      else this.listeners.delete(port);
    });
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }
}
