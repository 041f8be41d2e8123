// A response body as a pull-based ReadableStream over a connection's reads: nothing is read
// from the connection before the consumer asks (highWaterMark 0), so buffering is bounded by
// one read of the underlying stream. Framing per RFC 9112 §6.3 (length, chunked, close).

import type { DuplexStream } from "./connection.ts";
import type { HttpErrorCode, HttpExchangeError } from "./errors.ts";
import type { ChunkedDecoder } from "./wire/chunked.ts";
import type { BodyFraming } from "./wire/framing.ts";

/** What a body needs from its connection. */
export interface BodySource {
  /** The next bytes, or null at end of stream; throws the connection's failure. */
  read(): Promise<Uint8Array | null>;
  /** Puts back bytes read past the body's end. */
  unread(bytes: Uint8Array): void;
  /** Records a failure and closes the connection. */
  fail(e: Error): void;
  /** The failure recorded, if any. */
  failure(): Error | null;
  err(code: HttpErrorCode, detail: string, cause?: unknown): HttpExchangeError;
  /** Bytes the stream holds for its consumer now (for the pool's buffer counters). */
  hold(queued: number): void;
}

/**
 * The body of one response; `finish(complete)` is called once, when it ended (complete) or
 * failed or was cancelled.
 */
export function responseBody(
  src: BodySource,
  framing: BodyFraming,
  decoder: ChunkedDecoder | null,
  idleMs: number,
  finish: (complete: boolean) => void,
): ReadableStream<Uint8Array> {
  let remaining = framing.kind === "length" ? framing.length : 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closedEarly = (): HttpExchangeError =>
    src.err(
      "closed",
      framing.kind === "length"
        ? `connection closed with ${remaining} of ${framing.length} body bytes unread`
        : "connection closed inside a chunked body",
    );
  return new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        if (framing.kind === "none" || (framing.kind === "length" && remaining === 0)) {
          c.close();
          finish(true);
        }
      },
      pull: async (c) => {
        timer = setTimeout(() => {
          src.fail(src.err("timeout", `no response body bytes for ${idleMs} ms`));
        }, idleMs);
        try {
          for (;;) {
            const chunk = await src.read();
            if (chunk === null) {
              if (framing.kind !== "close") throw closedEarly();
              c.close();
              finish(true);
              return;
            }
            if (framing.kind === "length") {
              const take = Math.min(remaining, chunk.length);
              if (take < chunk.length) src.unread(chunk.subarray(take));
              c.enqueue(chunk.subarray(0, take));
              remaining -= take;
              if (remaining === 0) {
                c.close();
                finish(true);
                return;
              }
              break;
            }
            if (decoder !== null) {
              let out: ReturnType<ChunkedDecoder["push"]>;
              try {
                out = decoder.push(chunk);
              } catch (e) {
                throw src.err("protocol", e instanceof Error ? e.message : String(e), e);
              }
              for (const d of out.data) if (d.length > 0) c.enqueue(d);
              if (out.done) {
                if (out.rest.length > 0) src.unread(out.rest);
                c.close();
                finish(true);
                return;
              }
              if (out.data.some((d) => d.length > 0)) break;
              continue;
            }
            c.enqueue(chunk);
            break;
          }
          src.hold(-(c.desiredSize ?? 0));
        } catch (e) {
          const err = src.failure() ?? e;
          src.fail(err instanceof Error ? err : new Error(String(err)));
          finish(false);
          throw err;
        } finally {
          clearTimeout(timer);
        }
      },
      cancel: (reason) => {
        clearTimeout(timer);
        src.fail(src.err("aborted", `response body cancelled (${String(reason)})`, reason));
        finish(false);
      },
    },
    { highWaterMark: 0, size: (chunk) => chunk.byteLength },
  );
}

/** An empty, closed body (a 101's). */
export function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/**
 * A connection's raw byte streams after a 101: `first` (bytes read past the head) and a
 * `pending` read come before anything else; cancelling or aborting tears it down.
 */
export function rawStream(
  first: Uint8Array | null,
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | null,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  close: () => void,
): DuplexStream {
  let waiting = pending;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => {
      if (first !== null) c.enqueue(first);
    },
    pull: async (c) => {
      const r = await (waiting ?? reader.read());
      waiting = null;
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: close,
  });
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk),
    close: () => writer.close(),
    abort: close,
  });
  return { readable, writable, close };
}
