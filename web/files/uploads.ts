// Sends one File to the engine for upload (engine.upload), reading it in slices of 1 MiB
// (file.slice) with at most TRANSFER_WINDOW bytes ahead of the engine's acks: a 1 GiB file is
// never read into memory, and a slow host slows the reading down instead of filling the page.

import { proxy, transfer } from "comlink";
import { TRANSFER_MAX_CHUNK, TRANSFER_WINDOW, type TransferMessage } from "../../worker/api.ts";
import type { Engine } from "../engine.ts";

/** How a transfer ended. */
export type TransferOutcome =
  | { ok: true; bytes: number }
  | { ok: false; cancelled: boolean; message: string };

/** A running transfer as the panel follows it. */
export interface RunningTransfer {
  /** The engine's id (cancelTransfer); set once the engine accepted the transfer. */
  id: string | undefined;
  /** Settles with how it ended (never rejects). */
  done: Promise<TransferOutcome>;
  cancel(): void;
}

/** Uploads `file` to `path` on the session; `onBytes` hears the bytes the host has stored. */
export function uploadFile(
  engine: Engine,
  sessionId: string,
  file: Blob,
  path: string,
  onBytes: (bytes: number) => void,
): RunningTransfer {
  const channel = new MessageChannel();
  const port = channel.port1;
  let acked = 0;
  let wake: (() => void) | undefined;
  let finished: TransferOutcome | undefined;
  let settle!: (outcome: TransferOutcome) => void;
  const done = new Promise<TransferOutcome>((resolve) => (settle = resolve));
  const finish = (outcome: TransferOutcome) => {
    if (finished !== undefined) return;
    finished = outcome;
    port.onmessage = null;
    port.close();
    wake?.();
    settle(outcome);
  };
  const running: RunningTransfer = {
    id: undefined,
    done,
    cancel() {
      if (finished !== undefined) return;
      port.postMessage({
        type: "cancel",
        reason: "cancelled by the person",
      } satisfies TransferMessage);
      if (running.id !== undefined) void engine.cancelTransfer(running.id).catch(() => undefined);
      else finish({ ok: false, cancelled: true, message: "cancelled" });
    },
  };
  port.onmessage = (event: MessageEvent<TransferMessage>) => {
    const m = event.data;
    if (m.type === "ack") {
      acked += m.bytes;
      wake?.();
    } else if (m.type === "done") finish({ ok: true, bytes: m.bytes });
    else if (m.type === "cancel") finish({ ok: false, cancelled: true, message: "cancelled" });
    else if (m.type === "error") finish({ ok: false, cancelled: false, message: m.message });
  };
  void (async () => {
    try {
      const started = await engine.upload(
        sessionId,
        path,
        file.size,
        transfer(channel.port2, [channel.port2]),
        proxy({ onProgress: (bytes: number) => onBytes(bytes) }),
      );
      running.id = started.id;
      let sent = 0;
      while (sent < file.size && finished === undefined) {
        while (sent - acked >= TRANSFER_WINDOW && finished === undefined) {
          await new Promise<void>((go) => (wake = go));
          wake = undefined;
        }
        if (finished !== undefined) break;
        const end = Math.min(file.size, sent + TRANSFER_MAX_CHUNK);
        const data = new Uint8Array(await file.slice(sent, end).arrayBuffer());
        sent = end; // before the transfer detaches the buffer
        port.postMessage({ type: "data", data } satisfies TransferMessage, [data.buffer]);
      }
      if (finished === undefined) port.postMessage({ type: "end" } satisfies TransferMessage);
    } catch (error) {
      finish({
        ok: false,
        cancelled: false,
        message: error instanceof Error ? error.message : String(error),
      });
    }
  })();
  return running;
}
