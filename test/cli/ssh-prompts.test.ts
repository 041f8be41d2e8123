// `corridor ssh`'s questions (issue 15): on a terminal the password prompt (sshd's PAM asks
// through keyboard-interactive, the same askSecret path as a password) appears with echo
// already off, so a password typed the moment the prompt shows is never echoed (node-pty,
// answered on the prompt's appearance, against OpenSSH's sshd); with nobody to ask (no
// controlling terminal, no SSH_ASKPASS) an unknown host key is refused with the fingerprint
// and the option that goes on, `-o StrictHostKeyChecking=accept-new`.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pty from "node-pty";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_PASSWORD,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** The environment without SSH_ASKPASS, so only the terminal (if any) can be asked. */
function noAskpass(): Record<string, string> {
  const env = { ...process.env } as Record<string, string>;
  delete env.SSH_ASKPASS;
  delete env.SSH_ASKPASS_REQUIRE;
  return env;
}

describeWithPrereq(sshdPrereq, "corridor ssh prompts", () => {
  let server: SshServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-ssh-prompts-"));
    ensureTestUser([]);
    server = await startSshd();
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("without a terminal, refuses an unknown host key naming StrictHostKeyChecking=accept-new", async () => {
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      // detached: a new session, so the child has no controlling terminal (/dev/tty fails).
      const child = spawn(
        process.execPath,
        [
          bin,
          "ssh",
          "-p",
          String(server.port),
          "-o",
          `UserKnownHostsFile=${join(dir, "known_hosts_none")}`,
          `${TEST_USER}@127.0.0.1`,
          "true",
        ],
        { env: noAskpass(), stdio: ["ignore", "ignore", "pipe"], detached: true },
      );
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(run.code).toBe(255);
    expect(run.stderr).toMatch(
      /host key ssh-ed25519 SHA256:\S+ for \[127\.0\.0\.1\]:\d+ is not known and was not accepted: there is no terminal to ask on/,
    );
    expect(run.stderr).toContain("-o StrictHostKeyChecking=accept-new");
  });

  it("turns echo off before the password prompt: an answer typed at once is not echoed", async () => {
    const screen = await new Promise<{ code: number; text: string }>((resolve) => {
      const term = pty.spawn(
        process.execPath,
        [
          bin,
          "ssh",
          "-p",
          String(server.port),
          "-o",
          "StrictHostKeyChecking=accept-new",
          "-o",
          `UserKnownHostsFile=${join(dir, "known_hosts")}`,
          `${TEST_USER}@127.0.0.1`,
          "echo",
          "prompt-$((6*7))",
        ],
        { cols: 100, rows: 30, env: noAskpass() },
      );
      let text = "";
      let answered = false;
      term.onData((d) => {
        text += d;
        // Answer in the same turn the prompt arrives: echo must already be off by then.
        // sshd asks through keyboard-interactive ("Password: ") or password ("…'s password: ").
        if (!answered && /assword: $/.test(text)) {
          answered = true;
          term.write(`${TEST_PASSWORD}\r`);
        }
      });
      const guard = setTimeout(() => term.kill(), 40_000);
      term.onExit(({ exitCode }) => {
        clearTimeout(guard);
        resolve({ code: exitCode, text });
      });
    });
    expect(screen.text).toMatch(/assword: /);
    expect(screen.text).not.toContain(TEST_PASSWORD);
    expect(screen.text).toContain("prompt-42");
    expect(screen.code).toBe(0);
  }, 60_000);
});
