// `corridor` command dispatch. Each command lives in its own module with its option table
// (cli/args.ts explains how to add one) and is listed in COMMANDS, from which `corridor help`
// is made.

import { readFileSync } from "node:fs";
import { ADMIN_COMMAND, adminCommand } from "./admin.ts";
import { AGENT_COMMAND, agentCommand } from "./agent.ts";
import { type CommandSpec, formatUsage } from "./args.ts";
import { CONTROL_COMMAND, controlCommand } from "./control.ts";
import { CURL_COMMAND, curlCommand } from "./curl.ts";
import { KEYS_COMMAND, keysCommand } from "./keys.ts";
import { NC_COMMAND, ncCommand } from "./nc.ts";
import { PING_COMMAND, pingCommand } from "./ping.ts";
import { RELAY_COMMAND, relayCommand } from "./relay.ts";
import { SERVE_COMMAND, serveCommand } from "./serve.ts";
import { sshCommand } from "./ssh.ts";
import { SSH_COMMAND } from "./ssh-args.ts";
import { SSH_KEYGEN_COMMAND, sshKeygenCommand } from "./ssh-keygen.ts";
import { SSH_KNOWN_HOSTS_COMMAND, sshKnownHostsCommand } from "./ssh-known-hosts.ts";
import { STATUS_COMMAND, statusCommand } from "./status.ts";

/** A command of `corridor`: its table (name, summary, options) and what runs it. */
export interface CommandEntry {
  spec: CommandSpec;
  run(argv: string[]): Promise<number>;
}

/** Every command but `help` and `version`, in the order `corridor help` lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { spec: KEYS_COMMAND, run: keysCommand },
  { spec: PING_COMMAND, run: pingCommand },
  { spec: NC_COMMAND, run: ncCommand },
  { spec: CURL_COMMAND, run: curlCommand },
  { spec: SSH_COMMAND, run: sshCommand },
  { spec: SSH_KEYGEN_COMMAND, run: sshKeygenCommand },
  { spec: STATUS_COMMAND, run: statusCommand },
  { spec: SSH_KNOWN_HOSTS_COMMAND, run: sshKnownHostsCommand },
  { spec: RELAY_COMMAND, run: relayCommand },
  { spec: SERVE_COMMAND, run: serveCommand },
  { spec: CONTROL_COMMAND, run: controlCommand },
  { spec: AGENT_COMMAND, run: agentCommand },
  { spec: ADMIN_COMMAND, run: adminCommand },
];

const BUILT_IN: readonly [name: string, summary: string][] = [
  ["help", "show this help, or a command's: help COMMAND (as COMMAND --help)"],
  ["version", "print the version"],
];

/** The top-level help: every command with its summary. */
export function mainUsage(): string {
  const rows = [...BUILT_IN, ...COMMANDS.map((c) => [c.spec.name, c.spec.summary] as const)];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return (
    "usage: corridor <command> [arguments]\n\ncommands:\n" +
    rows.map(([name, summary]) => `  ${name.padEnd(width)}${summary}\n`).join("") +
    "\n`corridor COMMAND --help` shows a command's options. Corridor is built issue by issue;\n" +
    "see README.md for what runs today.\n"
  );
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.spec.name === name);
}

/** Runs the command line `args` (without node and the script); returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(mainUsage());
      return 0;
    case "help": {
      if (rest.length === 0) {
        process.stdout.write(mainUsage());
        return 0;
      }
      const [name, ...extra] = rest as [string, ...string[]];
      const entry = findCommand(name);
      if (entry === undefined) return usageError(`help: unknown command: ${name}`);
      if (extra.length > 0) return usageError(`help takes one command, got: ${rest.join(" ")}`);
      process.stdout.write(formatUsage(entry.spec));
      return 0;
    }
    case "version":
    case "--version":
      if (rest.length > 0) return usageError(`version takes no arguments, got: ${rest.join(" ")}`);
      process.stdout.write(`corridor ${version()}\n`);
      return 0;
    default: {
      const entry = findCommand(command);
      if (entry === undefined) return usageError(`unknown command: ${command}`);
      return entry.run(rest);
    }
  }
}

function usageError(message: string): number {
  process.stderr.write(`corridor: ${message}\n\n${mainUsage()}`);
  return 2;
}
