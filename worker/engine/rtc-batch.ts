// Datagrams between the engine and the page that runs its WebRTC (rtc-port.ts, web/direct/
// rtc-host.ts) travel in batches: one transferred ArrayBuffer holding several datagrams, each as
// a 2-byte big-endian length and its bytes. A postMessage between a page and its SharedWorker
// costs far more than copying a 1.4 KB datagram (bench:direct measured ~1 CPU-ms per datagram
// one at a time), so a burst of them goes as one message. A batch is checked as it is read: a
// page is another realm, and a malformed batch yields the datagrams before the fault only.

/** Largest datagram carried (a WireGuard message over a 1500-byte link fits well inside). */
export const MAX_DATAGRAM = 65_535;
/** A batch is sent once it holds this much, without waiting for its flush. */
export const BATCH_BYTES = 64 * 1024;

/** Collects datagrams and hands each full or flushed batch to `post`. */
export class BatchWriter {
  private buffer = new Uint8Array(BATCH_BYTES + 2 + MAX_DATAGRAM);
  private length = 0;
  private scheduled = false;

  constructor(
    /** Receives each batch (its buffer may be transferred: the writer never touches it again). */
    private readonly post: (batch: ArrayBuffer) => void,
    /** Runs `flush` soon (a microtask in the engine, a timer on the page). */
    private readonly schedule: (flush: () => void) => void,
  ) {}

  /** Adds one datagram (copied); false for an empty or oversized one. */
  add(datagram: Uint8Array): boolean {
    if (datagram.length === 0 || datagram.length > MAX_DATAGRAM) return false;
    const at = this.length;
    this.buffer[at] = datagram.length >>> 8;
    this.buffer[at + 1] = datagram.length & 0xff;
    this.buffer.set(datagram, at + 2);
    this.length = at + 2 + datagram.length;
    if (this.length >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        this.flush();
      });
    }
    return true;
  }

  /** Posts what is collected (nothing when empty). */
  flush(): void {
    if (this.length === 0) return;
    const batch = this.buffer.slice(0, this.length).buffer;
    this.length = 0;
    this.post(batch);
  }
}

/**
 * The datagrams of `batch`, in order, as views into it. Reading stops at the first malformed
 * record (a zero length or one running past the end); `complete` says whether it got to the end.
 */
export function readBatch(batch: ArrayBuffer): {
  datagrams: Uint8Array<ArrayBuffer>[];
  complete: boolean;
} {
  const bytes = new Uint8Array(batch);
  const datagrams: Uint8Array<ArrayBuffer>[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) return { datagrams, complete: false };
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (length === 0 || at + 2 + length > bytes.length) return { datagrams, complete: false };
    datagrams.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return { datagrams, complete: true };
}
