// Where `corridor curl` puts a response: its status line and headers first with -i (as curl
// prints them: the protocol line, each field as received, a blank line), then the body byte for
// byte to stdout or to -o FILE (written as it streams, never held whole in memory).

import { createWriteStream } from "node:fs";
import { Writable } from "node:stream";
import type { HttpResponse } from "../worker/http/index.ts";

/** Where and how to write one response. */
export interface OutputOptions {
  /** -o FILE, or undefined for stdout. */
  output: string | undefined;
  /** -i: the status line and headers before the body (on stdout, as curl does). */
  include: boolean;
  stdout: WritableStream<Uint8Array>;
}

/** The response head as curl -i prints it. */
export function headText(response: HttpResponse): string {
  const lines = [`HTTP/1.1 ${response.status} ${response.statusText}`.trimEnd()];
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Writes the head (with -i) and streams the body; resolves with the body's byte count. */
export async function writeOutput(response: HttpResponse, options: OutputOptions): Promise<number> {
  if (options.include) {
    const writer = options.stdout.getWriter();
    await writer.write(new TextEncoder().encode(headText(response)));
    writer.releaseLock();
  }
  const sink =
    options.output === undefined
      ? options.stdout
      : (Writable.toWeb(createWriteStream(options.output)) as WritableStream<Uint8Array>);
  let size = 0;
  const counted = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      size += chunk.length;
      controller.enqueue(chunk);
    },
  });
  // stdout stays open for -w after the body; a file is closed (flushed) when the body ends.
  await response.body
    .pipeThrough(counted)
    .pipeTo(sink, { preventClose: options.output === undefined });
  return size;
}
