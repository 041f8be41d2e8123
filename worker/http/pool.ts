// Keep-alive pool: at most `maxPerService` connections per "host:port" (browsers use 6), idle
// ones reused most-recent first and closed after `idleTimeoutMs`. A request waits for a free
// connection or a free slot; waiters are served in order. The pool dials through the injected
// `Dial`, so the engine supplies its userspace TCP and tests supply Node sockets.

import { type BufferStats, type Dial, type ExchangeOutcome, HttpConnection } from "./connection.ts";
import { HttpError } from "./errors.ts";

/** Pool settings; every field has a default. */
export interface PoolOptions {
  dial: Dial;
  /** Connections per service, default 6. */
  maxPerService?: number;
  /** Idle keep-alive connections are closed after this, default 30 s. */
  idleTimeoutMs?: number;
  /** Dial deadline, default 10 s. */
  connectTimeoutMs?: number;
  /** From the request head sent to the response head received, default 60 s. */
  headTimeoutMs?: number;
  /** Longest wait for the next response body bytes, default 60 s. */
  bodyIdleTimeoutMs?: number;
}

/** A connection lent to one exchange; `reused` tells whether it carried an exchange before. */
export interface Lease {
  conn: HttpConnection;
  reused: boolean;
}

interface Waiter {
  resolve: (lease: Lease | null) => void;
  reject: (e: unknown) => void;
}

interface Service {
  idle: HttpConnection[];
  open: number;
  waiters: Waiter[];
  timers: Map<HttpConnection, ReturnType<typeof setTimeout>>;
}

/** What the pool holds now and has done, for tests and diagnostics. */
export interface PoolStats extends BufferStats {
  /** Connections dialed since the pool was made. */
  dialed: number;
  /** Open connections now (busy and idle), per service. */
  open: Record<string, number>;
}

/** A keep-alive pool of HTTP/1.1 connections, per service. */
export class HttpPool {
  readonly maxPerService: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly headTimeoutMs: number;
  readonly bodyIdleTimeoutMs: number;
  private readonly dial: Dial;
  private readonly services = new Map<string, Service>();
  private readonly buffers: BufferStats = { buffered: 0, peakBuffered: 0 };
  private dialed = 0;

  constructor(options: PoolOptions) {
    this.dial = options.dial;
    this.maxPerService = options.maxPerService ?? 6;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.headTimeoutMs = options.headTimeoutMs ?? 60_000;
    this.bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? 60_000;
  }

  /** Counters: bytes buffered (now and peak), connections dialed and open. */
  stats(): PoolStats {
    const open: Record<string, number> = {};
    for (const [k, s] of this.services) open[k] = s.open;
    return { ...this.buffers, dialed: this.dialed, open };
  }

  private service(key: string): Service {
    let s = this.services.get(key);
    if (s === undefined) {
      s = { idle: [], open: 0, waiters: [], timers: new Map() };
      this.services.set(key, s);
    }
    return s;
  }

  /**
   * A connection to host:port: an idle one, a new one if under the limit, else the next one
   * released. `fresh` skips idle connections (the retry after a stale one).
   */
  async acquire(host: string, port: number, signal?: AbortSignal, fresh = false): Promise<Lease> {
    const key = `${host}:${port}`;
    const s = this.service(key);
    for (;;) {
      if (signal?.aborted) {
        throw new HttpError("aborted", key, `aborted (${String(signal.reason)})`, {
          cause: signal.reason,
        });
      }
      while (!fresh && s.idle.length > 0) {
        const conn = s.idle.pop()!;
        clearTimeout(s.timers.get(conn));
        s.timers.delete(conn);
        if (!conn.closed) {
          conn.idle = false;
          return { conn, reused: true };
        }
        s.open--;
      }
      if (fresh && s.idle.length > 0 && s.open >= this.maxPerService) {
        this.drop(s, s.idle.shift()!);
      }
      if (s.open < this.maxPerService) {
        s.open++;
        try {
          return { conn: await this.connect(key, host, port, s, signal), reused: false };
        } catch (e) {
          s.open--;
          this.wake(s);
          throw e;
        }
      }
      const lease = await new Promise<Lease | null>((resolve, reject) => {
        const onAbort = (): void => {
          const i = s.waiters.indexOf(waiter);
          if (i < 0) return;
          s.waiters.splice(i, 1);
          reject(new HttpError("aborted", key, "aborted while waiting for a connection"));
        };
        // Served waiters drop their listener: a long-lived signal must not collect them.
        const waiter: Waiter = {
          resolve: (lease) => {
            signal?.removeEventListener("abort", onAbort);
            resolve(lease);
          },
          reject,
        };
        s.waiters.push(waiter);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      if (lease !== null) return lease;
    }
  }

  private async connect(
    key: string,
    host: string,
    port: number,
    s: Service,
    signal?: AbortSignal,
  ): Promise<HttpConnection> {
    const timeout = AbortSignal.timeout(this.connectTimeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let stream: Awaited<ReturnType<Dial>>;
    try {
      stream = await this.dial(host, port, both);
    } catch (e) {
      if (signal?.aborted)
        throw new HttpError("aborted", key, "aborted while connecting", { cause: e });
      if (timeout.aborted) {
        throw new HttpError("timeout", key, `connect timed out after ${this.connectTimeoutMs} ms`, {
          cause: e,
        });
      }
      throw new HttpError("connect", key, `cannot connect (${errText(e)})`, { cause: e });
    }
    this.dialed++;
    return new HttpConnection(stream, key, this.buffers, (conn, outcome) =>
      this.release(s, conn, outcome),
    );
  }

  private release(s: Service, conn: HttpConnection, outcome: ExchangeOutcome): void {
    if (outcome === "reuse" && !conn.closed) {
      const waiter = s.waiters.shift();
      if (waiter !== undefined) {
        waiter.resolve({ conn, reused: true });
        return;
      }
      s.idle.push(conn);
      const timer = setTimeout(() => this.drop(s, conn), this.idleTimeoutMs);
      // In Node, an idle connection's timer must not keep the process alive (corridor curl).
      (timer as { unref?: () => void }).unref?.();
      s.timers.set(conn, timer);
      conn.watchIdle(() => this.drop(s, conn));
      return;
    }
    if (outcome === "close") conn.close();
    s.open--;
    this.wake(s);
  }

  /** Closes an idle connection (timed out, or closed by the server) and frees its slot. */
  private drop(s: Service, conn: HttpConnection): void {
    const i = s.idle.indexOf(conn);
    if (i < 0) return;
    s.idle.splice(i, 1);
    clearTimeout(s.timers.get(conn));
    s.timers.delete(conn);
    conn.close();
    s.open--;
    this.wake(s);
  }

  /** A slot freed: the first waiter goes round again (and dials). */
  private wake(s: Service): void {
    s.waiters.shift()?.resolve(null);
  }

  /** Closes every idle connection; busy ones close when their exchange ends. */
  closeIdle(): void {
    for (const s of this.services.values()) for (const c of [...s.idle]) this.drop(s, c);
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
