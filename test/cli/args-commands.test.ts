// Every `corridor` command on the one parser (cli/args.ts): `--help` and `-h` print that
// command's usage on stdout and exit 0 without doing anything; an unknown option, a missing
// value and a value given to a switch exit 2 with `corridor CMD: <what>` and the usage on
// stderr; `corridor help` lists every command of the table, and `corridor help CMD` is
// `CMD --help`. The ~100 command lines go through `main` (cli/main.ts, what the binary runs)
// in this process, stdout and stderr captured: each run of the real binary costs a second or
// more of tsx start-up. The real binary runs one command line of each kind and must print
// byte for byte what `main` printed, with the same exit status.

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadCommands } from "../../cli/main.ts";
import { runMain } from "./run-main.ts";

const COMMANDS = await loadCommands();

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `corridor ARGS` as the real binary with stdin closed (no command here may wait for input). */
function binary(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `corridor ARGS` through `main` in this process (run-main.ts). */
const corridor = (...args: string[]): Promise<Run> => runMain(args);

/** What each command's usage must say besides its synopsis: a few of its own options. */
const MENTIONS: Record<string, string[]> = {
  keys: ["genkey", "pubkey", "genpsk"],
  migrate: ["--from URL", "--to URL", "--dry-run", "postgres://"],
  ping: ["-c, --count COUNT", "--wg-config FILE", "(default: 4)"],
  nc: ["-w, --wait TIMEOUT", "HOST", "PORT"],
  curl: ["-X, --request METHOD", "-w, --write-out FORMAT", "--data-binary DATA", "URL"],
  ssh: ["-p PORT", "-o Option=value", "StrictHostKeyChecking", "-t ", "-T "],
  "ssh-keygen": ["-t TYPE", "--passphrase-fd N", "-y "],
  status: ["--socket PATH", "--json", "CORRIDOR_SOCKET"],
  "ssh-known-hosts": ["--socket PATH", "--write FILE", "StrictHostKeyChecking=yes"],
  relay: ["--key-file FILE", "--allow-udp SPEC", "(repeatable)", "--open"],
  serve: [
    "--data DIR",
    "$XDG_STATE_HOME/corridor",
    "--web DIR",
    "--database URL",
    "--oidc-issuer URL",
  ],
  control: ["--database URL", "--relay-url URL", "--relay-key KEY", "--public-url URL"],
  admin: ["--server URL", "authkey create", "--tag TAG", "(repeatable)", "CORRIDOR_API_KEY"],
  agent: ["--server URL", "--auth-key KEY", "CORRIDOR_AUTH_KEY", "--state DIR", "(default: 22)"],
};

describe("every corridor command has --help from its table", () => {
  it("the table holds exactly the commands this test knows", () => {
    expect(COMMANDS.map((c) => c.spec.name).sort()).toEqual(Object.keys(MENTIONS).sort());
  });

  for (const name of Object.keys(MENTIONS)) {
    it(`corridor ${name} --help, -h and corridor help ${name} print its usage and exit 0`, async () => {
      const runs = await Promise.all([
        corridor(name, "--help"),
        corridor(name, "-h"),
        corridor("help", name),
      ]);
      for (const run of runs) {
        expect(run.status, run.stderr).toBe(0);
        expect(run.stderr).toBe("");
        expect(run.stdout).toMatch(new RegExp(`^usage: corridor ${name} `));
        expect(run.stdout).toContain("  -h, --help              show this help and exit\n");
        for (const mention of MENTIONS[name]!) expect(run.stdout).toContain(mention);
      }
      expect(runs[1]!.stdout).toBe(runs[0]!.stdout);
      expect(runs[2]!.stdout).toBe(runs[0]!.stdout);
    });

    it(`corridor ${name} with an unknown option exits 2 naming it, with the usage`, async () => {
      for (const flag of ["--frobnicate", "-Z", "--frobnicate=1"]) {
        const run = await corridor(name, flag);
        expect(run.status).toBe(2);
        expect(run.stdout).toBe("");
        const shown = flag.replace(/=.*/, "");
        expect(run.stderr).toMatch(
          new RegExp(`^corridor ${name}: unknown option ${shown}\n\nusage: corridor ${name} `),
        );
      }
    });
  }

  it("a missing value and a value given to a switch are named, exit 2", async () => {
    const cases: [string[], string][] = [
      [["ping", "--wg-config"], "corridor ping: --wg-config needs a value (FILE)\n"],
      [["nc", "-w"], "corridor nc: -w needs a value (TIMEOUT)\n"],
      [["ssh", "-p"], "corridor ssh: -p needs a value (PORT)\n"],
      [["ssh-keygen", "-f"], "corridor ssh-keygen: -f needs a value (FILE)\n"],
      [["relay", "--open=yes"], "corridor relay: --open takes no value\n"],
      [["serve", "--data"], "corridor serve: --data needs a value (DIR)\n"],
      [["control", "--database"], "corridor control: --database needs a value (URL)\n"],
      [["admin", "users", "--json=yes"], "corridor admin: --json takes no value\n"],
    ];
    for (const [args, first] of cases) {
      const run = await corridor(...args);
      expect(run.status, args.join(" ")).toBe(2);
      expect(run.stderr.slice(0, first.length)).toBe(first);
      expect(run.stderr).toContain(`usage: corridor ${args[0]} `);
    }
  });

  it("corridor help lists every command of the table with its summary", async () => {
    const run = await corridor("help");
    expect(run.status).toBe(0);
    // Names padded to the longest name (help and version included) plus two spaces.
    const width =
      Math.max(...["version", ...COMMANDS.map((c) => c.spec.name)].map((n) => n.length)) + 2;
    for (const { spec } of COMMANDS) {
      expect(run.stdout).toContain(`  ${spec.name.padEnd(width)}${spec.summary}\n`);
    }
    const unknown = await corridor("help", "frobnicate");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^corridor: help: unknown command: frobnicate\n/);
  });

  it("the real binary prints what main prints, with the same status", async () => {
    const lines = [
      ["ssh", "--help"],
      ["ping", "--frobnicate"],
      ["control", "--database"],
      ["help"],
    ];
    const real = await Promise.all(lines.map((args) => binary(...args)));
    for (const [i, args] of lines.entries()) {
      expect(real[i], args.join(" ")).toEqual(await corridor(...args));
    }
  });
});
