// helpers/ports.ts: a Node server's port read from the server itself; ports for external
// programs from this process's block, each probed free, with a retry when one is taken.

import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { listenOnLoopback, PortInUseError, reservedPort, withPortRetry } from "./ports.ts";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
});

async function listening(port?: number): Promise<{ server: Server; port: number }> {
  const server = createServer();
  servers.push(server);
  if (port === undefined) return { server, port: await listenOnLoopback(server) };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { server, port };
}

describe("ports", () => {
  it("listenOnLoopback gives the port the server holds", async () => {
    const { server, port } = await listening();
    expect(port).toBeGreaterThan(0);
    expect(server.address()).toMatchObject({ address: "127.0.0.1", port });
  });

  it("reservedPort hands out distinct free ports below the ephemeral range", async () => {
    const ports = [await reservedPort(), await reservedPort(), await reservedPort()];
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
    }
    // A port someone listens on is never handed out: hold the next few and ask again.
    const held: number[] = [];
    for (let i = 0; i < 3; i++) held.push((await listening(await reservedPort())).port);
    const next = await reservedPort();
    expect(held).not.toContain(next);
  });

  it("withPortRetry moves on when the program finds its port taken, and passes other errors", async () => {
    const tried: number[] = [];
    const port = await withPortRetry(async (candidate) => {
      tried.push(candidate);
      if (tried.length < 3) throw new PortInUseError(candidate, "taken meanwhile");
      return candidate;
    });
    expect(tried).toHaveLength(3);
    expect(new Set(tried).size).toBe(3);
    expect(port).toBe(tried[2]);
    await expect(
      withPortRetry(async () => {
        throw new Error("bad config");
      }),
    ).rejects.toThrow("bad config");
    await expect(
      withPortRetry(
        async (candidate) => {
          throw new PortInUseError(candidate, "always");
        },
        "127.0.0.1",
        2,
      ),
    ).rejects.toThrow(/^no free port after 2 attempts; last: port \d+ is in use: always$/);
  });
});
