// A body stream for crossing a realm (docs/private-urls.md, "The engine side"): reads its source
// ahead into a bounded queue and hands over everything queued as one chunk per pull. A
// ReadableStream transferred with postMessage carries one chunk per round trip in Chromium (the
// sending side waits for a "pull" message from the reading side before each chunk), so the
// number of round trips is the number of chunks: an HTTP body read as a few KiB at a time would
// cost one round trip between processes per few KiB. Here each pull takes whatever arrived while
// the previous chunk was on its way (up to `maxChunk`), and waits for the next source chunk only
// when nothing is queued, so an event stream's lone event is never held back for more.
// Shared by the engine (response bodies) and the app origin's service worker (upload bodies):
// no imports.

/** Read ahead while fewer bytes than this are queued (the memory bound, plus one source chunk). */
export const COALESCE_MAX_QUEUED = 1024 * 1024;
/** Most bytes handed over in one chunk. */
export const COALESCE_MAX_CHUNK = 512 * 1024;

/** How a coalescing stream reads and hands over. */
export interface CoalesceOptions {
  /** Reading ahead stops while this many bytes are queued (default COALESCE_MAX_QUEUED). */
  maxQueued?: number;
  /** Most bytes in one chunk handed over (default COALESCE_MAX_CHUNK); a bigger source chunk is split. */
  maxChunk?: number;
  /** Called once when the stream ended (all handed over), failed, or was cancelled. */
  onEnd?: () => void;
}

/**
 * `source` read ahead (at most `maxQueued` bytes plus one source chunk queued) and handed over
 * in chunks of everything queued (at most `maxChunk`). Every chunk handed over owns its whole
 * ArrayBuffer (a view into a bigger buffer would be cloned whole by postMessage). Order and bytes
 * are kept; empty source chunks are dropped. A source error reaches the reader after the bytes
 * read before it, as through a pipe; cancelling the stream cancels the source.
 */
export function coalescingStream(
  source: ReadableStream<Uint8Array>,
  options: CoalesceOptions = {},
): ReadableStream<Uint8Array> {
  const maxQueued = options.maxQueued ?? COALESCE_MAX_QUEUED;
  const maxChunk = options.maxChunk ?? COALESCE_MAX_CHUNK;
  const reader = source.getReader();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let sourceDone = false;
  /** The source's error, handed over once the bytes before it are. */
  let failure: { error: unknown } | null = null;
  let over = false;
  let pumping = false;
  let wake: (() => void) | null = null;

  const finish = (): void => {
    if (over) return;
    over = true;
    queue.length = 0;
    queued = 0;
    options.onEnd?.();
  };
  const notify = (): void => {
    const waiting = wake;
    wake = null;
    waiting?.();
  };
  const pump = async (): Promise<void> => {
    if (pumping || sourceDone || failure !== null || over) return;
    pumping = true;
    try {
      while (!over && queued < maxQueued) {
        const { done, value } = await reader.read();
        if (over) return;
        if (done) {
          sourceDone = true;
          break;
        }
        if (value.byteLength === 0) continue;
        queue.push(value);
        queued += value.byteLength;
        notify();
      }
    } catch (error) {
      failure = { error };
    } finally {
      pumping = false;
      notify();
    }
  };
  /** Up to maxChunk bytes from the front of the queue, as one chunk owning its buffer. */
  const take = (): Uint8Array => {
    let size = 0;
    let count = 0;
    for (const chunk of queue) {
      if (size + chunk.byteLength > maxChunk) break;
      size += chunk.byteLength;
      count++;
    }
    if (count <= 1) {
      // One chunk that fits, or a first one bigger than maxChunk: its front part.
      const first = queue[0] as Uint8Array;
      const part = first.byteLength > maxChunk ? first.subarray(0, maxChunk) : first;
      if (part === first) queue.shift();
      else queue[0] = first.subarray(maxChunk);
      queued -= part.byteLength;
      return owned(part);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const chunk of queue.splice(0, count)) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    queued -= size;
    return out;
  };

  return new ReadableStream<Uint8Array>(
    {
      start() {
        void pump();
      },
      async pull(c) {
        while (!over && queue.length === 0 && !sourceDone && failure === null) {
          const arrived = new Promise<void>((resolve) => {
            wake = resolve;
          });
          void pump();
          await arrived;
        }
        if (over) return; // cancelled
        if (queue.length > 0) {
          c.enqueue(take());
          void pump();
          return;
        }
        if (failure !== null) {
          c.error(failure.error);
          finish();
          return;
        }
        c.close();
        finish();
      },
      cancel(reason) {
        finish();
        notify();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** `bytes` itself when it spans its whole buffer, else a copy that does. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}
