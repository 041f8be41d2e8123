// A listening port: passive opens create connections in SYN_RECEIVED (bounded: half-open plus
// established-but-not-accepted stays below the backlog; SYNs beyond are dropped and counted),
// established ones wait in the accept queue.

import type { Connection } from "./connection.ts";
import type { TcpConnection, TcpListenOptions } from "./types.ts";

export class TcpListener {
  readonly halfOpen = new Set<Connection>();
  private readonly queue: Connection[] = [];
  private readonly waiters: { resolve: (c: TcpConnection) => void; reject: (e: Error) => void }[] =
    [];
  closedFlag = false;

  constructor(
    /** Local address, or undefined for any. */
    readonly local: Uint8Array | undefined,
    readonly port: number,
    readonly backlog: number,
    readonly options: TcpListenOptions,
    private readonly onClose: (l: TcpListener) => void,
  ) {}

  /** Room for one more passive open? */
  get full(): boolean {
    return this.halfOpen.size + this.queue.length >= this.backlog;
  }

  /** The next established connection. */
  accept(): Promise<TcpConnection> {
    const c = this.queue.shift();
    if (c) return Promise.resolve(c);
    if (this.closedFlag) return Promise.reject(new Error("listener closed"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops listening: pending accepts reject, queued connections are reset. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.onClose(this);
    for (const w of this.waiters.splice(0)) w.reject(new Error("listener closed"));
    for (const c of this.queue.splice(0)) c.abort("listener closed");
    for (const c of [...this.halfOpen]) c.abort("listener closed");
  }

  /** @internal A passive open completed its handshake. */
  established(c: Connection): void {
    this.halfOpen.delete(c);
    const w = this.waiters.shift();
    if (w) w.resolve(c);
    else this.queue.push(c);
  }

  /** @internal A connection ended before accept(). */
  forget(c: Connection): void {
    this.halfOpen.delete(c);
    const i = this.queue.indexOf(c);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
