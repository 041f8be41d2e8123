// The request/response engine under SftpClient: it frames and parses what the server sends,
// gives each request an id, keeps the requests waiting for an answer in a map, and hands each
// response to the request with its id, in whatever order the server answers. It also owns the
// session's end: a malformed or unexpected packet fails every waiting request with
// SftpProtocolError, the stream ending fails them with SftpError SSH_FX_CONNECTION_LOST
// ("connection closed"), and both close the transport, so no request is ever left waiting.

import type { SftpTransport } from "./client.ts";
import { SftpError, SftpProtocolError } from "./errors.ts";
import { SftpFramer } from "./framer.ts";
import {
  encodeInit,
  parseResponse,
  SFTP_VERSION,
  type SftpResponse,
  SSH_FX_CONNECTION_LOST,
  SSH_FX_NO_CONNECTION,
  SSH_FX_OK,
} from "./messages.ts";

/** The response kind a request wants: "status" (SSH_FX_OK only), "handle", "data", ... */
export type Expected = Exclude<SftpResponse["kind"], "version">;

interface Pending {
  resolve(response: SftpResponse): void;
  reject(error: Error): void;
  operation: string;
  path: string | undefined;
}

/** Matches responses to requests by id over one transport. */
export class SftpDispatcher {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly framer = new SftpFramer();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closedBy: Error | null = null;
  private versionWaiter: Pending | null = null;
  private readonly readLoopDone: Promise<void>;

  /** Locks both streams of `transport` and starts reading. */
  constructor(transport: SftpTransport) {
    this.reader = transport.readable.getReader();
    this.writer = transport.writable.getWriter();
    this.readLoopDone = this.readLoop();
  }

  /** Whether the session has ended (end(), the stream closing, or a protocol error). */
  get closed(): boolean {
    return this.closedBy !== null;
  }

  /**
   * Sends INIT for version 3 and returns the extensions of the server's VERSION, which must be
   * the first packet and say version 3 (else SftpProtocolError).
   */
  async hello(): Promise<Map<string, Uint8Array>> {
    const hello = await new Promise<SftpResponse>((resolve, reject) => {
      this.versionWaiter = { resolve, reject, operation: "init", path: undefined };
      this.send(encodeInit(SFTP_VERSION));
    });
    if (hello.kind !== "version" || hello.version !== SFTP_VERSION) {
      const version = hello.kind === "version" ? hello.version : "?";
      throw this.violation(
        `server speaks SFTP version ${version}; only version ${SFTP_VERSION} is supported`,
      );
    }
    return new Map(hello.extensions.map(({ name, data }) => [name, data]));
  }

  /**
   * Sends the request `build(id)` makes and waits for its response, which must be STATUS or of
   * kind `expect`. STATUS SSH_FX_OK resolves only when `expect` is "status"; another code
   * rejects with SftpError naming `operation` and `path`; any other packet is a violation.
   */
  async request<K extends Expected>(
    operation: string,
    path: string | undefined,
    expect: K,
    build: (id: number) => Uint8Array,
  ): Promise<Extract<SftpResponse, { kind: K }>> {
    if (this.closedBy !== null) {
      throw new SftpError(SSH_FX_NO_CONNECTION, "session is closed", operation, path, {
        cause: this.closedBy,
      });
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0;
    this.nextId = (id + 1) >>> 0;
    const bytes = build(id);
    const response = await new Promise<SftpResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, operation, path });
      this.send(bytes);
    });
    if (response.kind === "status" && response.code !== SSH_FX_OK) {
      throw new SftpError(response.code, response.message, operation, path);
    }
    if (response.kind === expect) return response as Extract<SftpResponse, { kind: K }>;
    const wanted = expect === "status" ? "STATUS" : `STATUS or ${expect.toUpperCase()}`;
    const got = response.kind === "status" ? "STATUS OK" : response.kind.toUpperCase();
    throw this.violation(`${operation}: expected ${wanted}, got ${got}`);
  }

  /** Fails the session with a protocol violation and returns the error to throw. */
  violation(message: string): SftpProtocolError {
    const error = new SftpProtocolError(message);
    this.fail(error);
    return error;
  }

  /**
   * Ends the session: waiting requests reject with SftpError SSH_FX_NO_CONNECTION, the
   * writable side is closed and the readable side cancelled.
   */
  async end(): Promise<void> {
    if (this.closedBy === null) {
      this.closedBy = new Error("session ended");
      this.rejectAll(() => null);
      // Not awaited: a peer that stops reading must not make end() hang.
      this.writer.close().catch(() => {});
      this.reader.cancel().catch(() => {});
    }
    await this.readLoopDone;
  }

  private send(bytes: Uint8Array): void {
    this.writer.write(bytes).catch((e: unknown) => {
      this.fail(new Error(`connection closed: write failed: ${errorText(e)}`));
    });
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) {
          try {
            this.framer.end();
            this.fail(new Error("connection closed"));
          } catch (e) {
            this.fail(new Error(`connection closed: ${errorText(e)}`));
          }
          return;
        }
        for (const payload of this.framer.push(value)) {
          if (this.closedBy !== null) return;
          this.dispatch(parseResponse(payload));
        }
      }
    } catch (e) {
      if (e instanceof SftpProtocolError) this.fail(e);
      else this.fail(new Error(`connection closed: ${errorText(e)}`));
    }
  }

  private dispatch(response: SftpResponse): void {
    const waiter = this.versionWaiter;
    if (waiter !== null) {
      this.versionWaiter = null;
      if (response.kind !== "version") {
        throw new SftpProtocolError(`expected VERSION, got ${response.kind.toUpperCase()}`);
      }
      waiter.resolve(response);
      return;
    }
    if (response.kind === "version") throw new SftpProtocolError("unexpected second VERSION");
    const pending = this.pending.get(response.id);
    if (pending === undefined) {
      throw new SftpProtocolError(
        `${response.kind.toUpperCase()} response for unknown request id ${response.id}`,
      );
    }
    this.pending.delete(response.id);
    pending.resolve(response);
  }

  /**
   * Ends the session because of `cause`: a protocol error is handed to every waiting request
   * as is; anything else becomes SftpError SSH_FX_CONNECTION_LOST naming the request.
   */
  private fail(cause: Error): void {
    if (this.closedBy !== null) return;
    this.closedBy = cause;
    this.rejectAll((p) =>
      cause instanceof SftpProtocolError
        ? cause
        : new SftpError(SSH_FX_CONNECTION_LOST, cause.message, p.operation, p.path, { cause }),
    );
    this.reader.cancel(cause).catch(() => {});
    this.writer.abort(cause).catch(() => {});
  }

  /** Rejects every waiter with `errorFor(p)`, or SSH_FX_NO_CONNECTION when that is null. */
  private rejectAll(errorFor: (p: Pending) => Error | null): void {
    const waiters = [...this.pending.values()];
    if (this.versionWaiter !== null) waiters.push(this.versionWaiter);
    this.pending.clear();
    this.versionWaiter = null;
    for (const p of waiters) {
      p.reject(
        errorFor(p) ?? new SftpError(SSH_FX_NO_CONNECTION, "session ended", p.operation, p.path),
      );
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
