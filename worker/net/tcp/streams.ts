// The application's face of a connection: a ReadableStream fed from the receive buffer on
// demand (highWaterMark 0: bytes the application has not read stay in the receive buffer and
// shrink the advertised window) and a WritableStream whose write() resolves once the chunk
// is in the send buffer (backpressure when it is full). close() on the writable sends FIN
// (half-close); the readable ends at the peer's FIN.

import type { Connection } from "./connection.ts";

/** Largest chunk handed to the application at once. */
const READ_CHUNK = 256 * 1024;

export interface StreamState {
  readCancelled: boolean;
  /** Hands buffered data (or the end, or an error) to a pending read. */
  deliver(): void;
  /** Resumes a write waiting for send-buffer space. */
  wakeWriter(): void;
  fail(err: Error): void;
}

export function createStreams(c: Connection): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  io: StreamState;
} {
  let pullDone: (() => void) | undefined;
  let readController: ReadableStreamDefaultController<Uint8Array> | undefined;
  let readEnded = false;
  let writeController: WritableStreamDefaultController | undefined;
  let writeStep: (() => void) | undefined;
  let failure: Error | undefined;

  const io: StreamState = {
    readCancelled: false,
    deliver() {
      if (!pullDone || !readController || readEnded) return;
      if (failure) {
        readEnded = true;
        readController.error(failure);
      } else {
        const chunk = c.rcvBuf.read(READ_CHUNK);
        if (chunk) {
          readController.enqueue(chunk);
          c.afterRead();
        } else if (c.finReceived || c.state === "CLOSED") {
          readEnded = true;
          readController.close();
        } else return;
      }
      const done = pullDone;
      pullDone = undefined;
      done();
    },
    wakeWriter() {
      const step = writeStep;
      writeStep = undefined;
      step?.();
    },
    fail(err) {
      failure = err;
      io.deliver();
      if (!readEnded && readController) {
        readEnded = true;
        try {
          readController.error(err);
        } catch {}
      }
      writeController?.error(err);
      io.wakeWriter();
    },
  };

  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readController = controller;
      },
      pull() {
        return new Promise<void>((resolve) => {
          pullDone = resolve;
          c.ctx.run(() => io.deliver());
        });
      },
      cancel() {
        io.readCancelled = true;
        readEnded = true;
        c.ctx.run(() => {
          c.rcvBuf.discard();
          c.afterRead();
        });
      },
    },
    { highWaterMark: 0 },
  );

  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      writeController = controller;
    },
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        let taken = 0;
        const step = () => {
          if (failure) return reject(failure);
          if (c.finQueued || c.state === "CLOSED") return reject(new Error("connection closed"));
          taken += c.sendBuffer.push(taken === 0 ? chunk : chunk.subarray(taken));
          if (taken < chunk.length) writeStep = () => c.ctx.run(step);
          c.ctx.run(() => c.kick());
          if (taken >= chunk.length) resolve();
        };
        c.ctx.run(step);
      });
    },
    close() {
      if (failure) return Promise.reject(failure);
      c.ctx.run(() => c.shutdown());
    },
    abort(reason) {
      c.abort(reason instanceof Error ? reason.message : String(reason ?? "aborted"));
    },
  });

  return { readable, writable, io };
}
