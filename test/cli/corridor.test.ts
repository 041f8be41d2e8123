import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

function corridor(...args: string[]) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("the corridor command", () => {
  it("prints the package version", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    const run = corridor("version");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`corridor ${pkg.version}\n`);
  });

  it("prints usage for help and for no command", () => {
    for (const args of [["help"], []]) {
      const run = corridor(...args);
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/^usage: corridor <command>/);
    }
  });

  it("rejects an unknown command with exit status 2, naming it", () => {
    const run = corridor("frobnicate");
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("corridor: unknown command: frobnicate");
    expect(run.stdout).toBe("");
  });
});
