// An in-memory network of Binds for tests and benchmarks: datagrams between named endpoints,
// delivered asynchronously (as a socket would) and copied (as a socket would). A filter can
// drop, duplicate or hold back datagrams to simulate a lossy path.

import type { Bind, Endpoint, ReceiveFn } from "./bind.ts";

/** What the filter decides for one datagram. */
export type Verdict = "deliver" | "drop" | "duplicate";

/** A set of connected in-memory Binds. */
export class MemoryNetwork {
  private readonly binds = new Map<string, MemoryBind>();
  /** Decides each datagram's fate; everything is delivered by default. */
  filter: (packet: Uint8Array, from: Endpoint, to: Endpoint) => Verdict = () => "deliver";
  /** Datagrams sent, delivered and dropped. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };

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
    for (let i = 0; i < copies; i++) {
      const copy = packet.slice();
      queueMicrotask(() => {
        if (target.deliver(copy, from)) this.stats.delivered++;
      });
    }
    return true;
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
