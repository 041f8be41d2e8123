// A Dial for tests: Node TCP sockets as DuplexStreams. The readable pauses the socket when the
// consumer is not reading (backpressure to the kernel); the writable resolves each write once
// Node has flushed it. `queued` counts bytes held by the adapter, to bound memory in tests.

import { connect } from "node:net";
import type { Dial, DuplexStream } from "../../worker/http/connection.ts";

/** Bytes the adapter holds (read from sockets but not yet taken), now and at most. */
export interface DialStats {
  queued: number;
  peakQueued: number;
  /** Sockets opened. */
  dialed: number;
}

/** A Dial over node:net, with counters. */
export function nodeDial(stats: DialStats = { queued: 0, peakQueued: 0, dialed: 0 }): Dial {
  return (host, port, signal) =>
    new Promise<DuplexStream>((resolve, reject) => {
      const socket = connect({ host, port });
      const onAbort = (): void => {
        socket.destroy();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      });
      socket.once("connect", () => {
        signal?.removeEventListener("abort", onAbort);
        stats.dialed++;
        socket.pause();
        const readable = new ReadableStream<Uint8Array>(
          {
            start(c) {
              socket.on("data", (b: Buffer) => {
                stats.queued += b.length;
                stats.peakQueued = Math.max(stats.peakQueued, stats.queued);
                c.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.length));
                if ((c.desiredSize ?? 0) <= 0) socket.pause();
              });
              socket.on("end", () => {
                try {
                  c.close();
                } catch {
                  // cancelled
                }
              });
              socket.on("error", (e) => {
                try {
                  c.error(e);
                } catch {
                  // cancelled
                }
              });
            },
            pull() {
              socket.resume();
            },
            cancel() {
              socket.destroy();
            },
          },
          {
            highWaterMark: 64 * 1024,
            size: (chunk) => chunk.byteLength,
          },
        );
        const counted = readable.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, c) {
              stats.queued -= chunk.length;
              c.enqueue(chunk);
            },
          }),
        );
        const writable = new WritableStream<Uint8Array>(
          {
            write: (chunk) =>
              new Promise<void>((res, rej) => {
                socket.write(chunk, (e) => (e ? rej(e) : res()));
              }),
            close: () =>
              new Promise<void>((res) => {
                socket.end(res);
              }),
            abort: () => {
              socket.destroy();
            },
          },
          { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
        );
        resolve({ readable: counted, writable, close: () => socket.destroy() });
      });
    });
}
