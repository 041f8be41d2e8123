// `--help` and `-h` wherever a person types them (issue 15): after a subcommand
// (`corridor admin nodes --help`, `corridor keys genkey -h`), after other options
// (`corridor serve --port 8080 --help`, once "--help needs a value"), after an operand
// (`corridor ping 10.0.0.1 -h`), and before ssh's destination (after it, as in ssh(1), words
// are the remote command). Each prints the command's usage on stdout and exits 0, for every
// command of the table (args-commands.test.ts covers the bare `CMD --help`). The command lines
// go through `main` in this process (run-main.ts: a start of the binary per line cost ~1 s in
// CI); the real binary runs two of them and must print the same.

import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadCommands } from "../../cli/main.ts";
import { runMain } from "./run-main.ts";

const COMMANDS = await loadCommands();

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** `corridor ARGS` as the real binary. */
function binary(args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout }));
  });
}

/** Per command, command lines with --help or -h somewhere past the command name. */
const PLACES: Record<string, string[][]> = {
  keys: [
    ["genkey", "--help"],
    ["pubkey", "-h"],
  ],
  ping: [
    ["-c", "2", "--help"],
    ["10.0.0.1", "-h"],
  ],
  nc: [
    ["-w", "3", "--help"],
    ["10.0.0.1", "22", "-h"],
  ],
  curl: [
    ["-X", "POST", "--help"],
    ["http://web-01/", "-h"],
  ],
  ssh: [
    ["-p", "2222", "--help", "root@host"],
    ["-h", "root@host"],
  ],
  "ssh-keygen": [
    ["-t", "ed25519", "--help"],
    ["-f", "/nonexistent/key", "-h"],
  ],
  status: [["--json", "--help"], ["-h"]],
  "ssh-known-hosts": [["--port", "22", "--help"], ["-h"]],
  relay: [
    ["--listen", "127.0.0.1:0", "--help"],
    ["--open", "-h"],
  ],
  serve: [
    ["--port", "8080", "--help"],
    ["--data", "/nonexistent", "-h"],
  ],
  control: [["--database", "x.db", "--help"], ["-h"]],
  migrate: [
    ["--to", "postgres://x/y", "--help"],
    ["--dry-run", "-h"],
  ],
  agent: [
    ["--server", "http://x", "--help"],
    ["--hostname", "a", "-h"],
  ],
  admin: [
    ["nodes", "--help"],
    ["users", "-h"],
    ["authkey", "create", "--help"],
  ],
};

describe("--help and -h anywhere on the command line", () => {
  it("covers every command of the table", () => {
    expect(Object.keys(PLACES).sort()).toEqual(COMMANDS.map((c) => c.spec.name).sort());
  });

  for (const [name, places] of Object.entries(PLACES)) {
    it(`corridor ${name}: usage on stdout, exit 0`, async () => {
      const runs = await Promise.all(places.map((rest) => runMain([name, ...rest])));
      for (const [i, run] of runs.entries()) {
        const line = [name, ...places[i]!].join(" ");
        expect(run.status, line).toBe(0);
        expect(run.stdout.startsWith(`usage: corridor ${name}`), line).toBe(true);
      }
    });
  }

  it("the real binary prints what main prints", async () => {
    const lines = [
      ["serve", "--port", "8080", "--help"],
      ["admin", "nodes", "-h"],
    ];
    const real = await Promise.all(lines.map((args) => binary(args)));
    for (const [i, args] of lines.entries()) {
      const { status, stdout } = await runMain(args);
      expect(real[i], args.join(" ")).toEqual({ status, stdout });
    }
  });
});
