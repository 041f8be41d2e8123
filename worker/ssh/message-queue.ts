// A pull-style view of the transport's messages for request/response phases (user
// authentication): `next()` waits for the next message or rejects once the connection ends.

import type { SshError } from "./errors.ts";
import type { SshTransport } from "./transport.ts";

/** Buffers the transport's messages until they are asked for. */
export class MessageQueue {
  private readonly buffered: Uint8Array[] = [];
  private waiter: { resolve: (m: Uint8Array) => void; reject: (e: SshError) => void } | null = null;
  private ended: SshError | null = null;

  constructor(transport: SshTransport) {
    transport.setHandler((payload) => this.push(payload));
    void transport.closed.then((error) => {
      this.ended = error;
      this.waiter?.reject(error);
      this.waiter = null;
    });
  }

  private push(payload: Uint8Array): void {
    if (this.waiter !== null) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(payload);
    } else {
      this.buffered.push(payload);
    }
  }

  /** The next message; rejects with the reason the connection ended. */
  next(): Promise<Uint8Array> {
    const queued = this.buffered.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended !== null) return Promise.reject(this.ended);
    if (this.waiter !== null) throw new Error("MessageQueue: next() called twice concurrently");
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Messages received and not yet taken (handed on to the next layer). */
  drain(): Uint8Array[] {
    return this.buffered.splice(0);
  }
}
