// Response bodies on an app port (docs/private-urls.md, "The engine side"). A ReadableStream
// transferred with postMessage carries one chunk per round trip between the engine and the
// service worker (Chromium's cross-realm stream waits for a "pull" before each chunk), and
// setting one up costs round trips too. So a small body (Content-Length <= INLINE_BODY_MAX) is
// read whole and sent in the reply as bytes, and a bigger one is read ahead and coalesced
// (worker/http/coalesce.ts): each round trip carries everything that arrived meanwhile.

import { coalescingStream } from "../http/coalesce.ts";

/** Bodies whose Content-Length is at most this are sent in the reply, not as a stream. */
export const INLINE_BODY_MAX = 64 * 1024;

/** The response's Content-Length when it is one plain number, else null. */
export function declaredLength(headers: readonly (readonly [string, string])[]): number | null {
  let found: number | null = null;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== "content-length") continue;
    const trimmed = value.trim();
    if (found !== null || !/^\d{1,15}$/.test(trimmed)) return null;
    found = Number(trimmed);
  }
  return found;
}

/**
 * The body as the app gets it: read ahead and coalesced, `done` called once when it ended,
 * failed or was cancelled (the exchange is over).
 */
export function streamedBody(
  source: ReadableStream<Uint8Array>,
  done: () => void,
): ReadableStream<Uint8Array> {
  return coalescingStream(source, { onEnd: done });
}

/** What reading a small body whole came to. */
export type WholeBody =
  /** Read to its end: the bytes, owning their buffer (to be transferred). */
  | { kind: "whole"; bytes: Uint8Array }
  /**
   * The body failed after `bytes`, or held more than the limit: `body` gives everything read
   * and then the rest of the source (its error, or its further bytes), as streaming would have.
   */
  | { kind: "stream"; body: ReadableStream<Uint8Array>; error?: unknown };

/**
 * Reads `source` to its end when it holds at most `limit` bytes (its Content-Length said so;
 * the HTTP client's framing holds it to that). Never throws.
 */
export async function readWhole(
  source: ReadableStream<Uint8Array>,
  limit: number,
): Promise<WholeBody> {
  const reader = source.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size > limit) {
        // Not what the head said: stream it after all, nothing lost.
        return { kind: "stream", body: prefixed(chunks, reader) };
      }
    }
  } catch (error) {
    return { kind: "stream", body: prefixed(chunks, reader, { error }), error };
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { kind: "whole", bytes };
}

/** `chunks`, then what `reader` still gives (or `failed.error`). */
function prefixed(
  chunks: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
  failed?: { error: unknown },
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = chunks.shift();
        if (next !== undefined) return controller.enqueue(next);
        if (failed !== undefined) return controller.error(failed.error);
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel(reason) {
        chunks.length = 0;
        return failed === undefined ? reader.cancel(reason) : undefined;
      },
    },
    { highWaterMark: 0 },
  );
}
