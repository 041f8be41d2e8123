// The engine's end of a file transfer's MessagePort (TransferMessage in worker/api.ts): the
// decoder for what the page (or the download service worker) sends, which is checked as
// hostile input, a send window that waits for the receiver's acks (backpressure toward the
// SFTP reads), and a ReadableStream of uploaded chunks that acks each one as the SFTP writer
// takes it (backpressure toward the page's file reads).

import { TRANSFER_MAX_CHUNK, TRANSFER_WINDOW, type TransferMessage } from "../api.ts";

/** A message on a transfer port that is not a TransferMessage. */
export class TransferPortError extends Error {
  override readonly name = "TransferPortError";
}

/** A transfer stopped on purpose (the page, cancelTransfer), not by a failure. */
export class TransferCancelled extends Error {
  override readonly name = "TransferCancelled";
}

const MAX_TEXT = 4096;

function text(value: unknown, field: string): string {
  if (typeof value !== "string")
    throw new TransferPortError(`transfer message: ${field} is not a string`);
  return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
}

function count(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TransferPortError(`transfer message: ${field} is not a non-negative integer`);
  }
  return value;
}

/**
 * Checks a value received on a transfer port and returns it as a TransferMessage (fresh object,
 * only the known fields); throws TransferPortError saying what was wrong.
 */
export function decodeTransferMessage(value: unknown): TransferMessage {
  if (typeof value !== "object" || value === null) {
    throw new TransferPortError("transfer message: not an object");
  }
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "data": {
      if (!(m.data instanceof Uint8Array)) {
        throw new TransferPortError("transfer message: data is not a Uint8Array");
      }
      if (m.data.length > TRANSFER_MAX_CHUNK) {
        throw new TransferPortError(
          `transfer message: a data chunk of ${m.data.length} bytes exceeds ${TRANSFER_MAX_CHUNK}`,
        );
      }
      return { type: "data", data: m.data };
    }
    case "ack":
      return { type: "ack", bytes: count(m.bytes, "ack bytes") };
    case "end":
      return { type: "end" };
    case "done":
      return { type: "done", bytes: count(m.bytes, "done bytes") };
    case "cancel":
      return { type: "cancel", reason: m.reason === undefined ? "" : text(m.reason, "reason") };
    case "error":
      return { type: "error", message: text(m.message, "message") };
    default:
      throw new TransferPortError(
        `transfer message: unknown type ${JSON.stringify(String(m.type)).slice(0, 40)}`,
      );
  }
}

/**
 * How long a transfer waits for the page (an ack, the next chunk) before it gives up: a page that
 * went away without a word (a closed tab: a MessagePort tells nobody) must not hold a transfer,
 * its SFTP handle and an upload's temporary file for the engine's life.
 */
export const TRANSFER_STALL_MS = 120_000;

/** Resolves after `ms` with "stalled" (the timer is cleared when `other` settles first). */
function raceStall<T>(other: Promise<T>, ms: number): Promise<T | "stalled"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<"stalled">((resolve) => {
    timer = setTimeout(() => resolve("stalled"), ms);
  });
  return Promise.race([other, stall]).finally(() => clearTimeout(timer));
}

/** Bytes sent and not yet acknowledged; send() waits while TRANSFER_WINDOW are out. */
export class SendWindow {
  private unacked = 0;
  private waiting: (() => void)[] = [];

  constructor(
    private readonly window = TRANSFER_WINDOW,
    private readonly stallMs = TRANSFER_STALL_MS,
  ) {}

  /** Counts `bytes` as sent. */
  sent(bytes: number): void {
    this.unacked += bytes;
  }

  /** The receiver consumed `bytes`. */
  ack(bytes: number): void {
    this.unacked = Math.max(0, this.unacked - bytes);
    if (this.unacked < this.window) this.wake();
  }

  /**
   * Resolves once there is room in the window (or release() was called); rejects when no ack
   * came for `stallMs`.
   */
  async room(): Promise<void> {
    while (this.unacked >= this.window) {
      const acked = new Promise<void>((go) => this.waiting.push(go));
      if ((await raceStall(acked, this.stallMs)) === "stalled") {
        throw new Error(`the page acknowledged nothing for ${this.stallMs / 1000} s`);
      }
    }
  }

  /** Wakes every waiter for good (the transfer ended). */
  release(): void {
    this.unacked = 0;
    this.wake();
  }

  private wake(): void {
    const go = this.waiting;
    this.waiting = [];
    for (const wake of go) wake();
  }
}

/** An upload's incoming bytes and the way to stop them from the engine's side. */
export interface UploadSource {
  readonly stream: ReadableStream<Uint8Array>;
  /** Errors the stream with TransferCancelled(`reason`) (cancelTransfer). */
  cancel(reason: string): void;
  /**
   * Errors the stream with `error` at once (the SSH session ended): the writer may be waiting
   * for the page's next chunk, and a page that is gone would hold it for `stallMs`.
   */
  fail(error: Error): void;
}

/**
 * The chunks an upload's port brings, as a stream the SFTP writer reads; each chunk is acked to
 * the page when the writer takes it. "end" closes the stream; "cancel", a malformed message or
 * nothing for `stallMs` errors it.
 */
export function uploadSource(port: MessagePort, stallMs = TRANSFER_STALL_MS): UploadSource {
  const queue: TransferMessage[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const push = (message: TransferMessage) => {
    queue.push(message);
    wake?.();
  };
  port.onmessage = (event: MessageEvent<unknown>) => {
    try {
      push(decodeTransferMessage(event.data));
    } catch (error) {
      push({ type: "cancel", reason: (error as Error).message });
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          if (failure !== undefined) {
            controller.error(failure);
            return;
          }
          const message = queue.shift();
          if (message === undefined) {
            const next = new Promise<void>((go) => (wake = go));
            const stalled = (await raceStall(next, stallMs)) === "stalled";
            wake = undefined;
            if (stalled && queue.length === 0) {
              controller.error(
                new TransferCancelled(`the page sent nothing for ${stallMs / 1000} s`),
              );
              return;
            }
            continue;
          }
          if (message.type === "data") {
            if (message.data.length === 0) continue;
            controller.enqueue(message.data);
            port.postMessage({ type: "ack", bytes: message.data.length } satisfies TransferMessage);
            return;
          }
          if (message.type === "end") {
            controller.close();
            return;
          }
          if (message.type === "cancel") {
            controller.error(
              new TransferCancelled(message.reason || "the page cancelled the upload"),
            );
            return;
          }
          // ack/done/error are not the page's to send on an upload: ignored.
        }
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    cancel: (reason) => push({ type: "cancel", reason }),
    fail: (error) => {
      failure ??= error;
      wake?.();
    },
  };
}
