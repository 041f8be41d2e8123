// An SFTP version 3 client (draft-ietf-secsh-filexfer-02) over an SSH "sftp" subsystem channel,
// which the connection layer hands over as a pair of WHATWG streams. It runs in a Web Worker and
// in Node. This file is the API: one method per operation, each a request through the
// dispatcher (dispatcher.ts: ids, the map of pending requests, failing them all when the server
// breaks the protocol or the stream ends), plus the pipelined transfers of transfer.ts. Like
// OpenSSH's sftp (9.x), a session asks a server that offers limits@openssh.com for its limits
// and then reads and writes in requests of its max-read-length (OpenSSH's: 255 KiB), else 32 KiB;
// 8 MiB of requests stay in flight (at most 64), where 32 KiB requests cost eight times the
// packets, promises and framing for the same bytes.

import type { SftpAttrs } from "./attrs.ts";
import { SftpDispatcher } from "./dispatcher.ts";
import { SftpError } from "./errors.ts";
import {
  encodeExtended,
  encodeHandleRequest,
  encodeMkdir,
  encodeOpen,
  encodePathRequest,
  encodeRead,
  encodeRename,
  encodeSetstat,
  encodeWrite,
  LIMITS_EXTENSION,
  parseLimits,
  type SftpLimits,
  type SftpName,
  SSH_FX_EOF,
  SSH_FXF_APPEND,
  SSH_FXF_CREAT,
  SSH_FXF_EXCL,
  SSH_FXF_READ,
  SSH_FXF_TRUNC,
  SSH_FXF_WRITE,
  SSH_FXP_CLOSE,
  SSH_FXP_FSTAT,
  SSH_FXP_LSTAT,
  SSH_FXP_OPENDIR,
  SSH_FXP_READDIR,
  SSH_FXP_REALPATH,
  SSH_FXP_REMOVE,
  SSH_FXP_RMDIR,
  SSH_FXP_STAT,
} from "./messages.ts";
import {
  type ReadFileOptions,
  type ReadStreamOptions,
  readFile,
  readStream,
  type WriteFileOptions,
  writeFile,
} from "./transfer.ts";

export type { SftpAttrs } from "./attrs.ts";
export { SftpError, SftpProtocolError } from "./errors.ts";
export type { SftpLimits, SftpName } from "./messages.ts";

/** The byte streams of an SSH "sftp" subsystem channel (or of a local sftp-server's stdio). */
export interface SftpTransport {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
}

/** Tuning for an SftpClient. */
export interface SftpClientOptions {
  /**
   * Bytes per read or write request of the pipelined transfers (max 261120). Default: the
   * server's max-read-length and max-write-length when it offers limits@openssh.com (the
   * smaller, capped at 261120), else 32768.
   */
  chunkSize?: number;
  /** Requests a pipelined transfer keeps in flight (default: 8 MiB of chunks, at most 64). */
  maxOutstanding?: number;
}

/** An open file or directory: the server's opaque handle and the path it was opened as. */
export interface SftpHandle {
  readonly handle: Uint8Array;
  readonly path: string;
}

const OPEN_FLAGS = {
  r: SSH_FXF_READ,
  "r+": SSH_FXF_READ | SSH_FXF_WRITE,
  w: SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC,
  wx: SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL,
  "w+": SSH_FXF_READ | SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_TRUNC,
  "wx+": SSH_FXF_READ | SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL,
  a: SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_APPEND,
  ax: SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_APPEND | SSH_FXF_EXCL,
  "a+": SSH_FXF_READ | SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_APPEND,
  "ax+": SSH_FXF_READ | SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_APPEND | SSH_FXF_EXCL,
} as const;

/**
 * How to open a file, as in Node's fs: "r", "r+", "w", "wx", "w+", "wx+", "a", "ax", "a+",
 * "ax+", or raw SSH_FXF_* bits.
 */
export type SftpOpenFlags = keyof typeof OPEN_FLAGS | number;

/** Largest read or write length: OpenSSH's SFTP_MAX_READ_LENGTH (256 KiB - 1 KiB). */
export const MAX_IO_LENGTH = 256 * 1024 - 1024;
/** Request size without the server's limits: OpenSSH's sftp -B default. */
const DEFAULT_CHUNK = 32768;
/** Most requests in flight, as OpenSSH's sftp -R default. */
const MAX_OUTSTANDING = 64;
/** Bytes of requests in flight: twice the 4 MiB SSH window the engine's SFTP sessions grant. */
const IN_FLIGHT_BYTES = 8 << 20;

/** The request size a server's limits allow: the smaller of read and write, in 1..MAX_IO_LENGTH. */
function chunkFor(limits: SftpLimits | null): number {
  if (limits === null) return DEFAULT_CHUNK;
  let size = MAX_IO_LENGTH;
  // 0 means "no limit given"; a packet limit also bounds a write's data (its header: 32 bytes
  // plus a handle of at most 256).
  if (limits.maxReadLength > 0) size = Math.min(size, limits.maxReadLength);
  if (limits.maxWriteLength > 0) size = Math.min(size, limits.maxWriteLength);
  if (limits.maxPacketLength > 0) size = Math.min(size, limits.maxPacketLength - 300);
  return Math.max(1, size);
}

/** An SFTP version 3 session. Create with SftpClient.open; finish with end(). */
export class SftpClient {
  /** Extensions the server announced in VERSION, by name (e.g. "posix-rename@openssh.com"). */
  readonly extensions = new Map<string, Uint8Array>();
  /** The server's limits@openssh.com answer, or null when it offers no such extension. */
  limits: SftpLimits | null = null;

  private readonly dispatcher: SftpDispatcher;
  private chunk = DEFAULT_CHUNK;
  private outstanding = MAX_OUTSTANDING;

  private constructor(transport: SftpTransport, options: SftpClientOptions) {
    const { chunkSize, maxOutstanding } = options;
    if (
      chunkSize !== undefined &&
      (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_IO_LENGTH)
    ) {
      throw new RangeError(`chunkSize ${chunkSize} is not in 1..${MAX_IO_LENGTH}`);
    }
    if (maxOutstanding !== undefined && (!Number.isInteger(maxOutstanding) || maxOutstanding < 1)) {
      throw new RangeError(`maxOutstanding ${maxOutstanding} is not a positive integer`);
    }
    this.dispatcher = new SftpDispatcher(transport);
  }

  /** Bytes per request of the pipelined transfers. */
  get chunkSize(): number {
    return this.chunk;
  }

  /** Requests a pipelined transfer keeps in flight. */
  get maxOutstanding(): number {
    return this.outstanding;
  }

  /**
   * Starts a session: sends INIT for version 3 and waits for the server's VERSION, which must
   * be 3 (else SftpProtocolError); then, when the server offers limits@openssh.com and no
   * chunkSize was given, asks for its limits and sizes requests by them. Rejects with SftpError
   * SSH_FX_CONNECTION_LOST if the transport ends first.
   */
  static async open(transport: SftpTransport, options: SftpClientOptions = {}) {
    const client = new SftpClient(transport, options);
    for (const [name, data] of await client.dispatcher.hello()) {
      client.extensions.set(name, data);
    }
    if (client.extensions.has(LIMITS_EXTENSION)) {
      const reply = await client.dispatcher.request(
        LIMITS_EXTENSION,
        undefined,
        "extended-reply",
        (id) => encodeExtended(id, LIMITS_EXTENSION),
      );
      client.limits = parseLimits(reply.data);
    }
    client.chunk = options.chunkSize ?? chunkFor(client.limits);
    client.outstanding =
      options.maxOutstanding ??
      Math.max(1, Math.min(MAX_OUTSTANDING, Math.floor(IN_FLIGHT_BYTES / client.chunk)));
    return client;
  }

  /** Whether the session has ended (end(), the stream closing, or a protocol error). */
  get closed(): boolean {
    return this.dispatcher.closed;
  }

  /** The canonical absolute form of `path` (SSH_FXP_REALPATH); "." is the start directory. */
  async realpath(path: string): Promise<string> {
    const names = await this.names("realpath", path, (id) =>
      encodePathRequest(SSH_FXP_REALPATH, id, path),
    );
    if (names.length !== 1)
      throw this.dispatcher.violation(`realpath: expected 1 name, got ${names.length}`);
    return names[0]!.filename;
  }

  /** Attributes of `path`, following symbolic links. */
  stat(path: string): Promise<SftpAttrs> {
    return this.attrs("stat", path, (id) => encodePathRequest(SSH_FXP_STAT, id, path));
  }

  /** Attributes of `path` itself, not following a symbolic link. */
  lstat(path: string): Promise<SftpAttrs> {
    return this.attrs("lstat", path, (id) => encodePathRequest(SSH_FXP_LSTAT, id, path));
  }

  /** Attributes of an open file. */
  fstat(handle: SftpHandle): Promise<SftpAttrs> {
    return this.attrs("fstat", handle.path, (id) =>
      encodeHandleRequest(SSH_FXP_FSTAT, id, handle.handle),
    );
  }

  /** Sets attributes of `path` (size truncates, permissions chmods, uid/gid chowns, times). */
  setstat(path: string, attrs: SftpAttrs): Promise<void> {
    return this.status("setstat", path, (id) => encodeSetstat(id, path, attrs));
  }

  /** Sets attributes of an open file (SSH_FXP_FSETSTAT). */
  fsetstat(handle: SftpHandle, attrs: SftpAttrs): Promise<void> {
    return this.status("fsetstat", handle.path, (id) => encodeSetstat(id, handle.handle, attrs));
  }

  /**
   * Lists a directory: OPENDIR, READDIR until SSH_FX_EOF, CLOSE. The entries "." and ".." are
   * left out; the order is the server's.
   */
  async readdir(path: string): Promise<SftpName[]> {
    const handle = await this.handleOf("opendir", path, (id) =>
      encodePathRequest(SSH_FXP_OPENDIR, id, path),
    );
    const entries: SftpName[] = [];
    try {
      for (;;) {
        const batch = await this.names("readdir", path, (id) =>
          encodeHandleRequest(SSH_FXP_READDIR, id, handle.handle),
        ).catch((e: unknown) => {
          if (e instanceof SftpError && e.code === SSH_FX_EOF) return null;
          throw e;
        });
        if (batch === null) break;
        for (const entry of batch) {
          if (entry.filename !== "." && entry.filename !== "..") entries.push(entry);
        }
      }
    } catch (e) {
      await this.close(handle).catch(() => {});
      throw e;
    }
    await this.close(handle);
    return entries;
  }

  /** Opens a file; `attrs` (e.g. { permissions: 0o600 }) apply when it is created. */
  open(path: string, flags: SftpOpenFlags = "r", attrs?: SftpAttrs): Promise<SftpHandle> {
    const pflags: number | undefined = typeof flags === "number" ? flags : OPEN_FLAGS[flags];
    if (pflags === undefined) {
      return Promise.reject(new RangeError(`open ${path}: unknown flags ${JSON.stringify(flags)}`));
    }
    return this.handleOf("open", path, (id) => encodeOpen(id, path, pflags, attrs));
  }

  /**
   * Reads up to `length` bytes at `offset`; null at end of file. A server may return fewer
   * bytes than asked (a short read) without being at the end. The result is a view of the
   * received packet, which the client does not reuse.
   */
  async read(handle: SftpHandle, offset: number, length: number): Promise<Uint8Array | null> {
    if (!Number.isInteger(length) || length < 0 || length > MAX_IO_LENGTH) {
      throw new RangeError(`read ${handle.path}: length ${length} is not in 0..${MAX_IO_LENGTH}`);
    }
    const response = await this.dispatcher
      .request("read", handle.path, "data", (id) => encodeRead(id, handle.handle, offset, length))
      .catch((e: unknown) => {
        if (e instanceof SftpError && e.code === SSH_FX_EOF) return null;
        throw e;
      });
    if (response === null) return null;
    if (response.data.length > length) {
      throw this.dispatcher.violation(
        `read ${handle.path}: DATA of ${response.data.length} bytes for a read of ${length}`,
      );
    }
    return response.data;
  }

  /** Writes `data` (at most MAX_IO_LENGTH bytes) at `offset`. */
  write(handle: SftpHandle, offset: number, data: Uint8Array): Promise<void> {
    if (data.length > MAX_IO_LENGTH) {
      return Promise.reject(
        new RangeError(`write ${handle.path}: ${data.length} bytes exceed ${MAX_IO_LENGTH}`),
      );
    }
    return this.status("write", handle.path, (id) => encodeWrite(id, handle.handle, offset, data));
  }

  /** Closes a file or directory handle. */
  close(handle: SftpHandle): Promise<void> {
    return this.status("close", handle.path, (id) =>
      encodeHandleRequest(SSH_FXP_CLOSE, id, handle.handle),
    );
  }

  /** Creates a directory, with `attrs` (e.g. { permissions: 0o755 }). */
  mkdir(path: string, attrs?: SftpAttrs): Promise<void> {
    return this.status("mkdir", path, (id) => encodeMkdir(id, path, attrs));
  }

  /** Removes an empty directory. */
  rmdir(path: string): Promise<void> {
    return this.status("rmdir", path, (id) => encodePathRequest(SSH_FXP_RMDIR, id, path));
  }

  /** Removes a file. */
  remove(path: string): Promise<void> {
    return this.status("remove", path, (id) => encodePathRequest(SSH_FXP_REMOVE, id, path));
  }

  /** Renames `from` to `to` (version 3 semantics: OpenSSH fails if `to` exists). */
  rename(from: string, to: string): Promise<void> {
    return this.status("rename", `${from} -> ${to}`, (id) => encodeRename(id, from, to));
  }

  /** Downloads a whole file with pipelined reads; `onProgress(bytes, total?)` per chunk. */
  readFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    return readFile(this, path, options);
  }

  /** A stream of a file's bytes, in order, read with pipelined requests; cancel closes it. */
  createReadStream(path: string, options: ReadStreamOptions = {}): ReadableStream<Uint8Array> {
    return readStream(this, path, options);
  }

  /**
   * Creates or truncates `path` and writes `data` with pipelined writes, then closes it (a
   * failed close is reported: the data may not be stored). A stream source is cancelled on
   * error.
   */
  writeFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: WriteFileOptions = {},
  ): Promise<void> {
    return writeFile(this, path, data, options);
  }

  /**
   * Ends the session: requests still outstanding reject with SftpError SSH_FX_NO_CONNECTION,
   * the writable side is closed and the readable side cancelled.
   */
  end(): Promise<void> {
    return this.dispatcher.end();
  }

  private async status(op: string, path: string, build: (id: number) => Uint8Array) {
    await this.dispatcher.request(op, path, "status", build);
  }

  private async attrs(op: string, path: string, build: (id: number) => Uint8Array) {
    return (await this.dispatcher.request(op, path, "attrs", build)).attrs;
  }

  private async names(op: string, path: string, build: (id: number) => Uint8Array) {
    return (await this.dispatcher.request(op, path, "name", build)).names;
  }

  private async handleOf(op: string, path: string, build: (id: number) => Uint8Array) {
    const response = await this.dispatcher.request(op, path, "handle", build);
    return { handle: response.handle.slice(), path };
  }
}
