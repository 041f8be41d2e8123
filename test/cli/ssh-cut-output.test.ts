// `corridor ssh` must not report success for a command whose output did not all arrive. A
// server (the hostile kit's fake shell, over loopback TCP) sends part of the output and the
// command's exit status 0, then the connection breaks before the channel's EOF: the output
// streams fail, and the exit status alone would make a cut-short run look complete. Before
// the fix the command exited 0 with the output truncated (seen once in bench:web's bulk run).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { type FakeShellServer, startFakeShellServer } from "../ssh/fixtures/fake-shell-server.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

function corridorSsh(port: number, knownHosts: string, command: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        bin,
        "ssh",
        "-p",
        String(port),
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "StrictHostKeyChecking=no",
        "someone@127.0.0.1",
        command,
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.end();
  });
}

describe("corridor ssh with a connection cut after the exit status", () => {
  let shells: FakeShellServer;
  let dir = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-cut-"));
    shells = await startFakeShellServer({ core: await loadCryptoCore(), host: "127.0.0.1" });
  });

  afterAll(async () => {
    await shells?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("exits 255 and says the output may be incomplete, never 0", async () => {
    const run = corridorSsh(shells.port, join(dir, "known_hosts"), "cat big-file");
    const session = await shells.nextSession();
    expect(session.requests).toContain("exec");
    session.output("first-part\n");
    session.exitStatus(0);
    session.drop();
    const result = await run;
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/output ended early: .*the command's output may be incomplete/);
    expect(shells.errors).toEqual([]);
  }, 60_000);

  it("a complete run (EOF and CLOSE after the status) still exits with the remote status", async () => {
    const run = corridorSsh(shells.port, join(dir, "known_hosts"), "cat small-file");
    const session = await shells.nextSession();
    session.output("all-of-it\n");
    session.exitStatus(3);
    session.end();
    const result = await run;
    expect(result.stdout).toBe("all-of-it\n");
    expect(result.code).toBe(3);
  }, 60_000);
});
