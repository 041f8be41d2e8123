// An in-memory network of Binds for tests and benchmarks: datagrams between named endpoints,
// delivered asynchronously (as a socket would) and copied (as a socket would). A filter can
// drop, duplicate or hold back datagrams to simulate a lossy path.
//
// Per datagram it costs what a socket's copy costs and little more: copies are carved from a
// shared slab (a fresh ArrayBuffer per datagram was 17% of the WireGuard benchmark's time,
// mostly allocation and the GC work it caused), and the datagrams sent in one turn are
// delivered by one microtask, in order, instead of one closure and microtask each.

import type { Bind, Endpoint, ReceiveFn } from "./bind.ts";

/** What the filter decides for one datagram. */
export type Verdict = "deliver" | "drop" | "duplicate";

/** Bytes per slab that datagram copies are carved from. */
const SLAB_BYTES = 256 * 1024;
/** Datagrams larger than this get an ArrayBuffer of their own (a slab holds many small ones). */
const SLAB_MAX_DATAGRAM = SLAB_BYTES / 8;

interface InFlight {
  target: MemoryBind;
  packet: Uint8Array;
  from: Endpoint;
}

/** A set of connected in-memory Binds. */
export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  /** Decides each datagram's fate; everything is delivered by default. */
  filter: (packet: Uint8Array, from: Endpoint, to: Endpoint) => Verdict = () => "deliver";
  /** Datagrams sent, delivered and dropped. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };
  private slab = new Uint8Array(0);
  private slabUsed = 0;
  private queue: InFlight[] = [];
  private drainQueued = false;

  /** A Bind reachable at "host:port". */
  bind(address: string): MemoryBind {
    const bind = new MemoryBind(this, parseMemoryEndpoint(address));
    this.binds.set(bind.local.key, bind);
    return bind;
  }

  /** @internal Routes one datagram. */
  route(packet: Uint8Array, from: Endpoint, to: Endpoint): boolean {
    this.stats.sent++;
    const target = this.binds.get(to.key);
    if (!target) return false;
    const verdict = this.filter(packet, from, to);
    if (verdict === "drop") {
      this.stats.dropped++;
      return true;
    }
    const copies = verdict === "duplicate" ? 2 : 1;
    for (let i = 0; i < copies; i++) this.queue.push({ target, packet: this.copy(packet), from });
    if (!this.drainQueued) {
      this.drainQueued = true;
      queueMicrotask(() => this.drain());
    }
    return true;
  }

  // Delivers what was queued when the microtask was scheduled or since; a datagram sent by a
  // receiver during delivery waits for the next microtask (no unbounded loop in one task).
  private drain(): void {
    this.drainQueued = false;
    const batch = this.queue;
    this.queue = [];
    for (const item of batch) {
      if (item.target.deliver(item.packet, item.from)) this.stats.delivered++;
    }
  }

  // A private copy of the datagram, as a socket makes: its own bytes, never the sender's.
  private copy(packet: Uint8Array): Uint8Array {
    const length = packet.length;
    if (length > SLAB_MAX_DATAGRAM) return packet.slice();
    if (this.slabUsed + length > this.slab.length) {
      // The old slab lives on only as long as some receiver keeps a datagram view into it.
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const copy = this.slab.subarray(this.slabUsed, this.slabUsed + length);
    copy.set(packet);
    this.slabUsed += (length + 7) & ~7; // 8-byte aligned, as an allocator would
    return copy;
  }

  /** @internal */
  forget(bind: MemoryBind): void {
    if (this.binds.get(bind.local.key) === bind) this.binds.delete(bind.local.key);
  }
}

/** One endpoint of a MemoryNetwork. */
export class MemoryBind implements Bind {
  private onReceive: ReceiveFn | undefined;

  constructor(
    private readonly network: MemoryNetwork,
    /** This Bind's own endpoint. */
    readonly local: Endpoint,
  ) {}

  async open(onReceive: ReceiveFn): Promise<void> {
    this.onReceive = onReceive;
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    if (!this.onReceive) return false;
    return this.network.route(packet, this.local, to);
  }

  parseEndpoint(text: string): Endpoint {
    return parseMemoryEndpoint(text);
  }

  async close(): Promise<void> {
    this.onReceive = undefined;
    this.network.forget(this);
  }

  /** @internal */
  deliver(packet: Uint8Array, from: Endpoint): boolean {
    if (!this.onReceive) return false;
    this.onReceive(packet, from);
    return true;
  }
}

/** Parses "host:port" for the memory network (any host name; the port 0-65535). */
export function parseMemoryEndpoint(text: string): Endpoint {
  const colon = text.lastIndexOf(":");
  const host = colon > 0 ? text.slice(0, colon) : "";
  const port = Number(text.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`endpoint '${text}': expected host:port with a port from 0 to 65535`);
  }
  return { key: `${host}:${port}`, host, port };
}
