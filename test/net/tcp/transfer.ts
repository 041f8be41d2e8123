// Test helper: bulk transfers over TcpConnections with SHA-256 on both ends.

import { createHash } from "node:crypto";
import type { TcpConnection } from "../../../worker/net/tcp/stack.ts";
import { seededBytes } from "../../helpers/seeded.ts";

export interface Sent {
  done: boolean;
  bytes: number;
  sha: string;
}

export interface Received {
  done: boolean;
  bytes: number;
  sha: string;
}

/** Writes `total` seeded bytes in 64 KiB chunks, then closes the writable (FIN). */
export function sendAll(c: TcpConnection, total: number, seed: number): Sent {
  const out: Sent = { done: false, bytes: 0, sha: "" };
  const gen = seededBytes(seed);
  const hash = createHash("sha256");
  (async () => {
    const w = c.writable.getWriter();
    while (out.bytes < total) {
      const chunk = gen(Math.min(65536, total - out.bytes));
      hash.update(chunk);
      await w.write(chunk);
      out.bytes += chunk.length;
    }
    await w.close();
    out.sha = hash.digest("hex");
    out.done = true;
  })();
  return out;
}

/** Reads until the peer's FIN, hashing. */
export function receiveAll(c: TcpConnection): Received {
  const out: Received = { done: false, bytes: 0, sha: "" };
  const hash = createHash("sha256");
  (async () => {
    const r = c.readable.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) break;
      hash.update(value);
      out.bytes += value.length;
    }
    out.sha = hash.digest("hex");
    out.done = true;
  })();
  return out;
}
