// What `corridor relay` writes for log collectors: pino's JSON lines on standard error (the
// start line for people stays on standard output), at the level $CORRIDOR_LOG_LEVEL names.

import { spawn } from "node:child_process";
import { describe, expect, it, onTestFinished } from "vitest";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** Runs `corridor relay` until it listens, stops it with SIGTERM, returns its output. */
async function runRelay(
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [bin, "relay", "--open", "--listen", "127.0.0.1:0", "--relay-id", "logs"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("listening on")) resolve();
    });
    void exited.then((code) =>
      reject(new Error(`relay exited (${code}) before listening: ${stdout}${stderr}`)),
    );
  });
  child.kill("SIGTERM");
  return { code: await exited, stdout, stderr };
}

describe("corridor relay's logs", () => {
  it("writes JSON lines of component relay to stderr, and only warnings at CORRIDOR_LOG_LEVEL=warn", async () => {
    const [plain, quiet] = await Promise.all([
      runRelay({ CORRIDOR_LOG_LEVEL: undefined }),
      runRelay({ CORRIDOR_LOG_LEVEL: "warn" }),
    ]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain("corridor relay logs listening on ws://127.0.0.1:");
    const lines = plain.stderr.trimEnd().split("\n");
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((e) => [e.level, e.component, e.event])).toEqual([
      ["info", "relay", "listening"],
      ["info", "relay", "restarting"],
      ["info", "relay", "closed_relay"],
    ]);
    expect(events[0]).toMatchObject({ relay: "logs", auth: "open" });
    expect(events.every((e) => !Number.isNaN(Date.parse(String(e.ts))))).toBe(true);

    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toContain("corridor relay logs listening on");
    expect(quiet.stderr).toBe("");
  });
});
