import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it, onTestFinished } from "vitest";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

describe("corridor relay", () => {
  it("is closed by default: without an auth choice it explains and exits 2", () => {
    const run = spawnSync(process.execPath, [bin, "relay", "--listen", "127.0.0.1:0"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      "closed by default: choose --allow-keys FILE, --control-key PUB or --open",
    );
  });

  it("refuses two auth choices and bad --listen values", () => {
    const two = spawnSync(process.execPath, [bin, "relay", "--open", "--control-key", "x"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(two.status).toBe(2);
    const listen = spawnSync(process.execPath, [bin, "relay", "--open", "--listen", "nowhere"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(listen.status).toBe(2);
    expect(listen.stderr).toContain("--listen 'nowhere'");
  });

  it("prints its startup line, and on SIGTERM tells clients to come back and exits 0", async () => {
    const child = spawn(
      process.execPath,
      [bin, "relay", "--open", "--listen", "127.0.0.1:0", "--relay-id", "r1"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    // However the test ends, the relay does not outlive it.
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
    expect(stdout).toMatch(
      /corridor relay r1 listening on ws:\/\/127\.0\.0\.1:\d+\/relay \(auth: open;/,
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stdout).toContain("shutting down; clients are told to come back");
  });
});
