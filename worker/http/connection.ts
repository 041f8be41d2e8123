// One HTTP/1.1 connection over a duplex byte stream: writes a request (head, then its body as
// the connection accepts it), reads the response head (skipping 1xx interim responses, handing
// 101 to the caller) and exposes the body as a pull-based stream, so nothing is read from the
// socket before the consumer asks for it. One exchange at a time (no pipelining). The wire codecs
// in ./wire know nothing of streams; this file knows nothing of pools (it reports its outcome).

import { type BodySource, emptyStream, rawStream, responseBody } from "./body.ts";
import { type ExchangeProgress, type HttpErrorCode, HttpExchangeError } from "./errors.ts";
import { ChunkedDecoder, CRLF, chunkSizeLine, LAST_CHUNK } from "./wire/chunked.ts";
import { HttpParseError } from "./wire/errors.ts";
import { responseFraming } from "./wire/framing.ts";
import { type ResponseHead, ResponseHeadParser } from "./wire/response-head.ts";

/** A reliable byte stream both ways (a TCP connection): the engine's userspace TCP or a test's socket. */
export interface DuplexStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  /** Tears the connection down at once (both directions). */
  close(): void;
}

/** Opens a connection to host:port; rejects when it cannot (or when `signal` aborts). */
export type Dial = (host: string, port: number, signal?: AbortSignal) => Promise<DuplexStream>;

/** Bytes read from connections but not yet taken by consumers, now and at most. */
export interface BufferStats {
  buffered: number;
  peakBuffered: number;
}

/** What happens to a connection after an exchange. */
export type ExchangeOutcome = "reuse" | "close" | "detach";

/** One request as the connection sends it (head already encoded and validated). */
export interface ExchangeRequest {
  method: string;
  head: Uint8Array;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** A stream body is sent with chunked coding; else it must have exactly `bodyLength` bytes. */
  chunked: boolean;
  bodyLength: number | null;
  /** The head carries `Expect: 100-continue`: hold the body until 100 (or 1 s) arrives. */
  expectContinue: boolean;
  /** The head offers Upgrade: only then is a 101 accepted (else it is a protocol error). */
  upgrade: boolean;
  /** Runs from the head sent, restarted by each body write and at the body's end. */
  headTimeoutMs: number;
  bodyIdleTimeoutMs: number;
  signal?: AbortSignal;
}

/** The final response. `upgrade` is set for 101: the raw connection, which leaves the pool. */
export interface ExchangeResponse {
  head: ResponseHead;
  body: ReadableStream<Uint8Array>;
  /** Trailer fields of a chunked body, once it was read to its end ([] otherwise). */
  trailers: () => [string, string][];
  upgrade?: DuplexStream;
}

const CONTINUE_WAIT_MS = 1000;
const SEND_GRACE_MS = 1000;
/** A byte-array body is written in slices, so each restarts the head timer (slow uploads). */
const WRITE_SLICE = 64 * 1024;
const noop = (): void => {};

/** One HTTP/1.1 connection. `onDone` is called once per exchange, after its response body ended. */
export class HttpConnection {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private leftover: Uint8Array | null = null;
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  private failure: Error | null = null;
  private progress: ExchangeProgress = { bytesWritten: 0, bytesRead: 0, bodyTouched: false };
  private held = 0;
  /** True after close(); never reused. */
  closed = false;
  /** True while parked in a pool. */
  idle = false;
  /** Exchanges started on this connection. */
  exchanges = 0;

  constructor(
    private readonly stream: DuplexStream,
    /** "host:port", for error messages and the pool. */
    readonly service: string,
    private readonly stats: BufferStats,
    private readonly onDone: (conn: HttpConnection, outcome: ExchangeOutcome) => void,
  ) {
    this.reader = stream.readable.getReader();
    this.writer = stream.writable.getWriter();
    this.writer.closed.catch(noop);
    this.reader.closed.catch(noop);
  }

  /** Closes the connection; pending reads end. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.account(0);
    try {
      this.stream.close();
    } catch {
      // already torn down
    }
    this.reader.cancel().catch(noop);
    this.writer.abort().catch(noop);
  }

  /** Parks the connection: a read is started so a close (or stray bytes) from the server is seen. */
  watchIdle(onDead: () => void): void {
    this.idle = true;
    if (this.leftover !== null || this.pending !== null) {
      onDead();
      return;
    }
    const p = this.reader.read();
    this.pending = p;
    const check = (): void => {
      if (this.idle && this.pending === p) onDead();
    };
    p.then(check, check);
  }

  private err(code: HttpErrorCode, detail: string, cause?: unknown): HttpExchangeError {
    return new HttpExchangeError(code, this.service, detail, this.progress, { cause });
  }

  /** Records the first failure and closes; later reads throw it. */
  private fail(e: Error): void {
    if (this.failure === null) this.failure = e;
    this.close();
  }

  private account(now: number): void {
    this.stats.buffered += now - this.held;
    this.held = now;
    if (this.stats.buffered > this.stats.peakBuffered)
      this.stats.peakBuffered = this.stats.buffered;
  }

  private async readChunk(): Promise<Uint8Array | null> {
    if (this.failure !== null) throw this.failure;
    if (this.leftover !== null) {
      const l = this.leftover;
      this.leftover = null;
      return l;
    }
    const p = this.pending ?? this.reader.read();
    this.pending = null;
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await p;
    } catch (e) {
      throw this.failure ?? this.err("closed", `connection reset (${String(e)})`, e);
    }
    if (this.failure !== null) throw this.failure;
    if (r.done) return null;
    this.progress.bytesRead += r.value.length;
    return r.value;
  }

  private async put(bytes: Uint8Array, wait: boolean): Promise<void> {
    await this.writer.ready;
    const w = this.writer.write(bytes);
    this.progress.bytesWritten += bytes.length;
    if (wait) await w;
    else w.catch(noop);
  }

  /** Sends `req` and resolves with the final response head; the body streams afterwards. */
  async exchange(req: ExchangeRequest): Promise<ExchangeResponse> {
    this.idle = false;
    this.exchanges++;
    this.progress = { bytesWritten: 0, bytesRead: 0, bodyTouched: false };
    const { signal } = req;
    let headTimer: ReturnType<typeof setTimeout> | undefined;
    let continueTimer: ReturnType<typeof setTimeout> | undefined;
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    let headSeen = false;
    let ended = false;
    let sendDone = req.body === null;
    // Every timer is cleared here, so nothing outlives the exchange (a CLI process exits).
    const end = (outcome: ExchangeOutcome): void => {
      if (ended) return;
      ended = true;
      clearTimeout(headTimer);
      clearTimeout(continueTimer);
      clearTimeout(graceTimer);
      signal?.removeEventListener("abort", onAbort);
      if (outcome !== "close" && this.closed) outcome = "close";
      if (outcome === "close") this.close();
      this.account(0);
      this.onDone(this, outcome);
    };
    // An abort after the head (body unread) must still end the exchange, or its slot leaks.
    const onAbort = (): void => {
      this.fail(
        this.err("aborted", `${req.method} aborted (${String(signal?.reason)})`, signal?.reason),
      );
      end("close");
    };
    if (signal?.aborted) {
      onAbort();
      throw this.failure;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    // The head timeout counts from the last request byte moving: an upload that makes progress
    // never times out, a stalled one (or a silent server) does.
    const armHead = (): void => {
      clearTimeout(headTimer);
      if (headSeen || ended) return;
      headTimer = setTimeout(() => {
        this.fail(this.err("timeout", `no response head within ${req.headTimeoutMs} ms`));
      }, req.headTimeoutMs);
    };
    armHead();
    try {
      try {
        await this.put(req.head, true);
      } catch (e) {
        throw (
          this.failure ?? this.err("closed", "connection closed while sending the request head", e)
        );
      }
      let gate: (go: boolean) => void = noop;
      const gated = new Promise<boolean>((resolve) => {
        gate = resolve;
      });
      if (req.expectContinue) continueTimer = setTimeout(() => gate(true), CONTINUE_WAIT_MS);
      else gate(true);
      const sending = this.sendBody(req, gated, armHead).then(
        () => {
          sendDone = true;
          armHead();
          return true;
        },
        (e: unknown) => {
          // A source or length error fails the exchange; a write error is seen by the reader.
          if (e instanceof HttpExchangeError && e.code === "request") this.fail(e);
          return false;
        },
      );
      let head: ResponseHead;
      for (;;) {
        const got = await this.readHead();
        const s = got.status;
        if (s === 101 && !req.upgrade) {
          const err = this.err("protocol", "101 Switching Protocols to a request without Upgrade");
          this.fail(err);
          throw err;
        }
        if (s === 101) {
          headSeen = true;
          clearTimeout(headTimer);
          clearTimeout(continueTimer);
          signal?.removeEventListener("abort", onAbort);
          ended = true;
          this.onDone(this, "detach");
          return { head: got, body: emptyStream(), trailers: () => [], upgrade: this.detach() };
        }
        if (s >= 200) {
          head = got;
          break;
        }
        if (s === 100) gate(true);
      }
      headSeen = true;
      clearTimeout(headTimer);
      clearTimeout(continueTimer);
      gate(false);
      const { framing, keepAlive } = this.framing(req.method, head);
      const finish = (complete: boolean): void => {
        if (!complete || !keepAlive || this.leftover !== null) {
          end("close");
          return;
        }
        if (sendDone) {
          end("reuse");
          return;
        }
        const grace = new Promise<boolean>((r) => {
          graceTimer = setTimeout(() => r(false), SEND_GRACE_MS);
        });
        void Promise.race([sending, grace]).then((ok) => end(ok ? "reuse" : "close"));
      };
      const decoder = framing.kind === "chunked" ? new ChunkedDecoder() : null;
      const body = responseBody(this.bodySource(), framing, decoder, req.bodyIdleTimeoutMs, finish);
      return { head, body, trailers: () => (decoder?.done ? decoder.trailers : []) };
    } catch (e) {
      const err = this.failure ?? e;
      end("close");
      throw err;
    }
  }

  private framing(method: string, head: ResponseHead): ReturnType<typeof responseFraming> {
    try {
      return responseFraming(method, head);
    } catch (e) {
      const err = this.err("protocol", e instanceof Error ? e.message : String(e), e);
      this.fail(err);
      throw err;
    }
  }

  private async readHead(): Promise<ResponseHead> {
    const parser = new ResponseHeadParser();
    for (;;) {
      const chunk = await this.readChunk();
      if (chunk === null) {
        throw this.err(
          "closed",
          this.progress.bytesRead === 0
            ? "connection closed by the server before any response"
            : "connection closed by the server in the response head",
        );
      }
      let got: ReturnType<ResponseHeadParser["push"]>;
      try {
        got = parser.push(chunk);
      } catch (e) {
        const err = this.err("protocol", e instanceof HttpParseError ? e.message : String(e), e);
        this.fail(err);
        throw err;
      }
      if (got !== null) {
        this.leftover = got.rest.length > 0 ? got.rest : null;
        this.account(got.rest.length);
        return got.head;
      }
      this.account(parser.buffered);
    }
  }

  private async sendBody(
    req: ExchangeRequest,
    gated: Promise<boolean>,
    moved: () => void,
  ): Promise<void> {
    if (req.body === null) return;
    if (!(await gated)) throw this.err("closed", "final response before the body was sent");
    if (req.body instanceof Uint8Array) {
      for (let at = 0; at < req.body.length; at += WRITE_SLICE) {
        await this.put(req.body.subarray(at, at + WRITE_SLICE), true);
        moved();
      }
      return;
    }
    const reader = req.body.getReader();
    this.progress.bodyTouched = true;
    let sent = 0;
    try {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          throw this.err("request", `request body stream failed (${String(e)})`, e);
        }
        if (this.failure !== null) throw this.failure;
        if (r.done) break;
        const value: unknown = r.value;
        // A body stream may come from another realm (an app port's transferred stream): a
        // chunk that is not bytes would move the send buffer by whatever its length says.
        if (!(value instanceof Uint8Array)) {
          throw this.err("request", "request body stream gave a chunk that is not a Uint8Array");
        }
        if (value.length === 0) continue;
        sent += value.length;
        if (req.bodyLength !== null && sent > req.bodyLength) {
          throw this.err(
            "request",
            `request body longer than its Content-Length ${req.bodyLength}`,
          );
        }
        if (req.chunked) await this.put(chunkSizeLine(value.length), false);
        await this.put(value, false);
        if (req.chunked) await this.put(CRLF, false);
        moved();
      }
      if (req.bodyLength !== null && sent !== req.bodyLength) {
        throw this.err(
          "request",
          `request body of ${sent} bytes, Content-Length ${req.bodyLength}`,
        );
      }
      if (req.chunked) await this.put(LAST_CHUNK, true);
      else await this.writer.ready;
    } catch (e) {
      reader.cancel(e).catch(noop);
      throw e;
    }
  }

  private bodySource(): BodySource {
    return {
      read: () => this.readChunk(),
      unread: (bytes) => {
        this.leftover = bytes;
      },
      fail: (e) => this.fail(e),
      failure: () => this.failure,
      err: (code, detail, cause) => this.err(code, detail, cause),
      hold: (queued) => this.account(queued + (this.leftover?.length ?? 0)),
    };
  }

  /** The raw connection after a 101, with any bytes already read put first. */
  private detach(): DuplexStream {
    const first = this.leftover;
    const pending = this.pending;
    this.leftover = null;
    this.pending = null;
    this.account(0);
    return rawStream(first, pending, this.reader, this.writer, () => this.close());
  }
}
