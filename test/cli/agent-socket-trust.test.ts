// The CLI talks only to an agent socket it can trust (cli/agent-client.ts): a socket, not a
// symlink or a file, owned by the current user or root; and the agent's socket is never
// reachable with wider permissions while it starts (server/agent/local-api.ts binds it inside a
// fresh 0700 directory before linking it into place).

import {
  chmodSync,
  chownSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { askAgent, checkAgentSocket } from "../../cli/agent-client.ts";
import { listenPrivately } from "../../server/agent/local-api.ts";

let dir: string;
const servers: Server[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "corridor-sock-trust-"));
  chmodSync(dir, 0o755);
});
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Unix socket at `path` that answers every request line with a status claim. */
function fakeAgent(path: string): Promise<Server> {
  const server = createServer((s) => s.end('{"ok":true}\n'));
  servers.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe("the CLI checks the agent's socket before trusting it", () => {
  it("refuses a socket owned by another user (not root)", async () => {
    const path = join(dir, "agent.sock");
    await fakeAgent(path);
    const uid = process.getuid?.() ?? 1000;
    if (uid === 0) {
      chownSync(path, 12345, 12345);
      await expect(askAgent(path, { op: "status" })).rejects.toThrow(
        /belongs to another user \(uid 12345\).*not trusting it/,
      );
    } else {
      await expect(checkAgentSocket(path, uid + 1)).rejects.toThrow(/belongs to another user/);
    }
  });

  it("accepts a socket owned by the current user or by root", async () => {
    const path = join(dir, "agent.sock");
    await fakeAgent(path);
    const owner = statSync(path).uid;
    await expect(checkAgentSocket(path, owner)).resolves.toBeUndefined();
    if (owner === 0) await expect(checkAgentSocket(path, 4242)).resolves.toBeUndefined();
  });

  it("refuses a symlink to a socket and a plain file; a missing path is 'no agent'", async () => {
    const real = join(dir, "real.sock");
    await fakeAgent(real);
    const link = join(dir, "agent.sock");
    symlinkSync(real, link);
    await expect(askAgent(link, { op: "status" })).rejects.toThrow(
      /not a socket \(a symbolic link\)/,
    );
    const file = join(dir, "file.sock");
    writeFileSync(file, "");
    await expect(askAgent(file, { op: "status" })).rejects.toThrow(/is not a socket/);
    await expect(askAgent(join(dir, "none.sock"), { op: "status" })).rejects.toThrow(
      /no agent is running/,
    );
  });
});

describe("the agent's socket is bound privately", () => {
  it("is bound inside a fresh 0700 directory, then linked into place 0600", async () => {
    const path = join(dir, "agent.sock");
    const server = createServer((s) => s.end());
    servers.push(server);
    let bound: { dir: string; mode: number } | undefined;
    server.once("listening", () => {
      const at = dirname(server.address() as string);
      bound = { dir: at, mode: statSync(at).mode & 0o777 };
    });
    await listenPrivately(server, path);
    expect(bound).toBeDefined();
    expect(bound!.dir).not.toBe(dir);
    expect(dirname(bound!.dir)).toBe(dir);
    expect(bound!.mode).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // The temporary directory is gone.
    expect(() => statSync(bound!.dir)).toThrow();
  });
});
