// A Bind whose transport can be replaced while the device runs: the map may move this node to
// another relay (a new home relay, a relay's new URL or key), and a Device keeps the Bind it was
// created with. Endpoints are plain "peer:<key>" / "ip:port" values that every relay Bind
// addresses alike, so the device's peers keep working across the switch; WireGuard sessions
// survive it (they do not depend on the path).

import { parseRelayEndpoint } from "../relay/endpoint.ts";
import type { Bind, Endpoint, ReceiveFn } from "../wireguard/bind.ts";

/** Delegates to the current inner Bind; {@link SwitchBind.use} replaces it. */
export class SwitchBind implements Bind {
  private inner: Bind;
  private onReceive: ReceiveFn | undefined;
  private closed = false;

  constructor(
    first: Bind,
    /** Parses endpoints; the relay's syntax by default. */
    private readonly parse: (text: string) => Endpoint = parseRelayEndpoint,
  ) {
    this.inner = first;
  }

  /** The Bind in use. */
  get current(): Bind {
    return this.inner;
  }

  open(onReceive: ReceiveFn): Promise<void> {
    this.onReceive = onReceive;
    return this.inner.open(onReceive);
  }

  /**
   * Opens `next`, then sends through it and closes the previous Bind. Rejects (keeping the
   * previous one) when `next` fails to open.
   */
  async use(next: Bind): Promise<void> {
    if (this.closed) throw new Error("SwitchBind: closed");
    const receive = this.onReceive;
    if (receive === undefined) throw new Error("SwitchBind: use() before open()");
    await next.open(receive);
    if (this.closed) {
      await next.close();
      return;
    }
    const previous = this.inner;
    this.inner = next;
    await previous.close();
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    return this.inner.send(packet, to);
  }

  parseEndpoint(text: string): Endpoint {
    return this.parse(text);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }
}
