// Handing the private key to `wg set IFACE private-key PATH` without a command line or a file
// with the key in it. `/dev/stdin` does not work from Node: libuv gives a child a UNIX socket
// as its standard input, and wg's fopen() of /dev/stdin on a socket fails (ENXIO). A named
// pipe does: it is made in a fresh 0700 directory (mode 0600), wg opens it for reading, we
// write the key into the pipe (the kernel's buffer, never the disk) and the directory is
// removed at once, whatever happened.

import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** coreutils' mkfifo (Node has no mkfifo of its own). */
export const MKFIFO = "/usr/bin/mkfifo";

/**
 * Runs `use(path)` with `path` a named pipe from which the first reader gets `secret` (then
 * end of file). `done` tells whether the reader can still come (false once `use`'s command
 * exited): the writer stops waiting then. Rejects after `timeoutMs` without a reader.
 */
export async function withSecretFifo<T>(
  secret: string,
  use: (path: string) => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "corridor-key-"));
  try {
    const path = join(dir, "key");
    await new Promise<void>((resolve, reject) => {
      execFile(MKFIFO, ["-m", "0600", path], { timeout: 5000 }, (error, _out, stderr) => {
        if (error)
          reject(new Error(`\`mkfifo ${path}\` failed: ${stderr.trim() || error.message}`));
        else resolve();
      });
    });
    let finished = false;
    const result = use(path).finally(() => {
      finished = true;
    });
    const written = writeWhenRead(path, secret, () => finished, timeoutMs);
    const [value] = await Promise.all([result, written]);
    return value;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Opens the pipe for writing without blocking (ENXIO until a reader has it open: tried again
 * every 10 ms), writes `secret` and closes. Resolves without writing if the reader's command
 * finished first (it failed before reading; its error is the one to report).
 */
async function writeWhenRead(
  path: string,
  secret: string,
  finished: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        await handle.write(secret);
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENXIO") throw error;
    }
    if (finished()) return;
    if (Date.now() > deadline) throw new Error(`no reader opened ${path} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
