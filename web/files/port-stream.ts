// A download's bytes as a ReadableStream, read from its transfer port (TransferMessage in
// worker/api.ts). The page uses it to write into a file picked with the File System Access
// API; the download service worker (web/download-sw.ts) uses it as a Response body. Each
// chunk is acknowledged to the engine only when the stream's reader takes it, so the engine
// never has more than TRANSFER_WINDOW bytes ahead of the disk: memory stays flat for any size.

import type { TransferMessage } from "../../worker/api.ts";

/** Options of downloadStream. */
export interface DownloadStreamOptions {
  /** Called with the bytes handed to the reader so far. */
  onBytes?: (bytes: number) => void;
  /** Called once with how it ended: "done", or the reason of a failure or cancel. */
  onEnd?: (outcome: { ok: true; bytes: number } | { ok: false; message: string }) => void;
}

/**
 * The stream of a download: closes after "done" (when every byte arrived), errors on "error"
 * or "cancel" (so a browser or file writer never takes a partial file as complete). Cancelling
 * the stream (the person stopped the download) sends "cancel" to the engine.
 */
export function downloadStream(
  port: MessagePort,
  options: DownloadStreamOptions = {},
): ReadableStream<Uint8Array> {
  const queue: TransferMessage[] = [];
  let wake: (() => void) | undefined;
  let delivered = 0;
  let ended = false;
  const end = (outcome: { ok: true; bytes: number } | { ok: false; message: string }) => {
    if (ended) return;
    ended = true;
    port.onmessage = null;
    port.close();
    options.onEnd?.(outcome);
  };
  port.onmessage = (event: MessageEvent<TransferMessage>) => {
    queue.push(event.data);
    wake?.();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          const message = queue.shift();
          if (message === undefined) {
            await new Promise<void>((go) => (wake = go));
            wake = undefined;
            continue;
          }
          if (message.type === "data" && message.data instanceof Uint8Array) {
            const bytes = message.data.length;
            controller.enqueue(message.data);
            delivered += bytes;
            port.postMessage({ type: "ack", bytes } satisfies TransferMessage);
            options.onBytes?.(delivered);
            return;
          }
          if (message.type === "done") {
            if (message.bytes !== delivered) {
              const text = `the engine sent ${delivered} bytes but reported ${message.bytes}`;
              controller.error(new Error(text));
              end({ ok: false, message: text });
            } else {
              controller.close();
              end({ ok: true, bytes: delivered });
            }
            return;
          }
          if (message.type === "error" || message.type === "cancel") {
            const text =
              message.type === "error" ? message.message : `cancelled (${message.reason})`;
            controller.error(new Error(text));
            end({ ok: false, message: text });
            return;
          }
        }
      },
      cancel(reason) {
        port.postMessage({
          type: "cancel",
          reason: reason instanceof Error ? reason.message : String(reason ?? "cancelled"),
        } satisfies TransferMessage);
        end({ ok: false, message: "cancelled" });
      },
    },
    { highWaterMark: 0 },
  );
}
