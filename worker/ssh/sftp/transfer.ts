// Pipelined whole-file transfers over an SftpClient, as OpenSSH's sftp does them (-R 64
// -B 32768): up to `maxOutstanding` reads or writes of `chunkSize` bytes in flight at once, so
// throughput is not bound by the round trip. Reads are delivered strictly in file order; a short
// read (fewer bytes than asked, not at EOF) re-requests the remainder at once, and the file ends
// at the first EOF in order. The size from fstat is only a hint: past it the reader probes one
// request at a time, so a file that grew is still read to its end.

import type { SftpClient, SftpHandle } from "./client.ts";

/** Called after each chunk with the bytes transferred so far and the total, when known. */
export type ProgressCallback = (transferred: number, total: number | undefined) => void;

/** Options of SftpClient.readFile. */
export interface ReadFileOptions {
  onProgress?: ProgressCallback;
}

/** Options of SftpClient.createReadStream. */
export interface ReadStreamOptions {
  /** Offset to start reading at (default 0). */
  start?: number;
  onProgress?: ProgressCallback;
}

/** Options of SftpClient.writeFile. */
export interface WriteFileOptions {
  /** Permission bits for a file that is created (default: the server's, usually 0o666 & ~umask). */
  mode?: number;
  onProgress?: ProgressCallback;
}

interface Chunk {
  data: Uint8Array;
  eof: boolean;
}

const EMPTY = new Uint8Array(0);

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** In-order chunks of one open file, with a window of reads in flight. */
class PipelinedReader {
  private readonly window: Promise<Chunk>[] = [];
  private nextOffset: number;
  private finished = false;

  constructor(
    private readonly client: SftpClient,
    private readonly handle: SftpHandle,
    start: number,
    private readonly sizeHint: number | undefined,
  ) {
    this.nextOffset = start;
  }

  /** The next chunk in file order, or null at the end of the file. */
  async next(): Promise<Uint8Array | null> {
    while (!this.finished) {
      this.fill();
      const chunk = await this.window.shift()!;
      if (chunk.eof) this.stop();
      else this.fill();
      if (chunk.data.length > 0) return chunk.data;
    }
    return null;
  }

  /** Stops issuing reads; those in flight are answered and dropped. */
  stop(): void {
    this.finished = true;
    this.window.length = 0;
  }

  private fill(): void {
    const { client } = this;
    for (;;) {
      const pastHint = this.sizeHint !== undefined && this.nextOffset >= this.sizeHint;
      const limit = pastHint ? 1 : client.maxOutstanding;
      if (this.finished || this.window.length >= limit) return;
      const length =
        this.sizeHint !== undefined && !pastHint
          ? Math.min(client.chunkSize, this.sizeHint - this.nextOffset)
          : client.chunkSize;
      const chunk = this.readFull(this.nextOffset, length);
      chunk.catch(() => {}); // Seen when it reaches the head; dropped ones must not be unhandled.
      this.window.push(chunk);
      this.nextOffset += length;
    }
  }

  /** `length` bytes at `offset`, re-requesting after short reads; fewer only at EOF. */
  private async readFull(offset: number, length: number): Promise<Chunk> {
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < length) {
      const data = await this.client.read(this.handle, offset + got, length - got);
      // An empty DATA is taken as EOF: re-asking could loop forever.
      if (data === null || data.length === 0) return { data: concat(parts, got), eof: true };
      parts.push(data);
      got += data.length;
    }
    return { data: parts.length === 0 ? EMPTY : concat(parts, got), eof: false };
  }
}

async function openForRead(client: SftpClient, path: string, start: number) {
  const handle = await client.open(path, "r");
  try {
    const attrs = await client.fstat(handle);
    const size = attrs.size !== undefined && attrs.size > 0 ? attrs.size : undefined;
    return { handle, size, reader: new PipelinedReader(client, handle, start, size) };
  } catch (e) {
    await client.close(handle).catch(() => {});
    throw e;
  }
}

/** Reads a whole file into one buffer (see SftpClient.readFile). */
export async function readFile(
  client: SftpClient,
  path: string,
  { onProgress }: ReadFileOptions,
): Promise<Uint8Array> {
  const { handle, size, reader } = await openForRead(client, path, 0);
  let buffer = new Uint8Array(size ?? 0);
  let length = 0;
  try {
    for (;;) {
      const data = await reader.next();
      if (data === null) break;
      if (length + data.length > buffer.length) {
        const grown = new Uint8Array(Math.max(buffer.length * 2, length + data.length, 65536));
        grown.set(buffer.subarray(0, length));
        buffer = grown;
      }
      buffer.set(data, length);
      length += data.length;
      onProgress?.(length, size);
    }
  } catch (e) {
    reader.stop();
    await client.close(handle).catch(() => {});
    throw e;
  }
  await client.close(handle);
  return length === buffer.length ? buffer : buffer.slice(0, length);
}

/** A ReadableStream of a file (see SftpClient.createReadStream). */
export function readStream(
  client: SftpClient,
  path: string,
  { start = 0, onProgress }: ReadStreamOptions,
): ReadableStream<Uint8Array> {
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`createReadStream ${path}: start ${start} is not a valid offset`);
  }
  let opened: Awaited<ReturnType<typeof openForRead>> | undefined;
  let transferred = 0;
  const closeQuietly = async () => {
    if (opened === undefined) return;
    const { handle, reader } = opened;
    opened = undefined;
    reader.stop();
    await client.close(handle).catch(() => {});
  };
  return new ReadableStream<Uint8Array>(
    {
      async start() {
        opened = await openForRead(client, path, start);
      },
      async pull(controller) {
        if (opened === undefined) return;
        const { handle, reader, size } = opened;
        let data: Uint8Array | null;
        try {
          data = await reader.next();
        } catch (e) {
          await closeQuietly();
          throw e;
        }
        if (data === null) {
          opened = undefined;
          await client.close(handle);
          controller.close();
          return;
        }
        transferred += data.length;
        controller.enqueue(data);
        onProgress?.(transferred, size);
      },
      cancel: closeQuietly,
    },
    { highWaterMark: 0 },
  );
}

/** Writes a whole file from bytes or a stream (see SftpClient.writeFile). */
export async function writeFile(
  client: SftpClient,
  path: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
  { mode, onProgress }: WriteFileOptions,
): Promise<void> {
  const handle = await client.open(path, "w", mode === undefined ? {} : { permissions: mode });
  const total = data instanceof Uint8Array ? data.length : undefined;
  const { chunkSize, maxOutstanding } = client;
  const inFlight: Promise<void>[] = [];
  let offset = 0;
  let acknowledged = 0;
  const send = async (chunk: Uint8Array) => {
    if (inFlight.length >= maxOutstanding) await inFlight.shift();
    const written = client.write(handle, offset, chunk).then(() => {
      acknowledged += chunk.length;
      onProgress?.(acknowledged, total);
    });
    written.catch(() => {}); // Seen when awaited in order.
    inFlight.push(written);
    offset += chunk.length;
  };
  const source = data instanceof Uint8Array ? undefined : data.getReader();
  try {
    if (data instanceof Uint8Array) {
      for (let at = 0; at < data.length; at += chunkSize) {
        await send(data.subarray(at, at + chunkSize));
      }
    } else if (source !== undefined) {
      // Coalesce small chunks and split large ones into chunkSize requests.
      let staging = new Uint8Array(chunkSize);
      let staged = 0;
      for (;;) {
        const { done, value } = await source.read();
        if (done) break;
        let at = 0;
        while (at < value.length) {
          if (staged === 0 && value.length - at >= chunkSize) {
            await send(value.subarray(at, at + chunkSize));
            at += chunkSize;
            continue;
          }
          const take = Math.min(chunkSize - staged, value.length - at);
          staging.set(value.subarray(at, at + take), staged);
          staged += take;
          at += take;
          if (staged === chunkSize) {
            await send(staging);
            staging = new Uint8Array(chunkSize);
            staged = 0;
          }
        }
      }
      if (staged > 0) await send(staging.subarray(0, staged));
    }
    while (inFlight.length > 0) await inFlight.shift();
  } catch (e) {
    await Promise.allSettled(inFlight);
    await source?.cancel(e).catch(() => {});
    await client.close(handle).catch(() => {});
    throw e;
  }
  await client.close(handle);
}
