// `corridor` command dispatch. Each command lives in its own module with its option table
// (cli/args.ts explains how to add one) and is listed in COMMAND_LOADERS, from which `corridor
// help` is made; a command's module is imported only when that command runs.

import { readFileSync } from "node:fs";
import { type CommandSpec, formatUsage } from "./args.ts";

/** A command of `corridor`: its table (name, summary, options) and what runs it. */
export interface CommandEntry {
  spec: CommandSpec;
  run(argv: string[]): Promise<number>;
}

/**
 * Every command but `help` and `version`, in the order `corridor help` lists them, each loaded
 * on first use: a command's module graph (the engine, the servers, their packages) costs up to
 * ~0.9 s to load, and `corridor keys genkey` or `corridor nc --help` needs only its own.
 */
export const COMMAND_LOADERS: readonly (readonly [
  name: string,
  load: () => Promise<CommandEntry>,
])[] = [
  [
    "keys",
    async () => {
      const m = await import("./keys.ts");
      return { spec: m.KEYS_COMMAND, run: m.keysCommand };
    },
  ],
  [
    "ping",
    async () => {
      const m = await import("./ping.ts");
      return { spec: m.PING_COMMAND, run: m.pingCommand };
    },
  ],
  [
    "nc",
    async () => {
      const m = await import("./nc.ts");
      return { spec: m.NC_COMMAND, run: m.ncCommand };
    },
  ],
  [
    "curl",
    async () => {
      const m = await import("./curl.ts");
      return { spec: m.CURL_COMMAND, run: m.curlCommand };
    },
  ],
  [
    "ssh",
    async () => {
      const [m, a] = await Promise.all([import("./ssh.ts"), import("./ssh-args.ts")]);
      return { spec: a.SSH_COMMAND, run: m.sshCommand };
    },
  ],
  [
    "ssh-keygen",
    async () => {
      const m = await import("./ssh-keygen.ts");
      return { spec: m.SSH_KEYGEN_COMMAND, run: m.sshKeygenCommand };
    },
  ],
  [
    "status",
    async () => {
      const m = await import("./status.ts");
      return { spec: m.STATUS_COMMAND, run: m.statusCommand };
    },
  ],
  [
    "ssh-known-hosts",
    async () => {
      const m = await import("./ssh-known-hosts.ts");
      return { spec: m.SSH_KNOWN_HOSTS_COMMAND, run: m.sshKnownHostsCommand };
    },
  ],
  [
    "relay",
    async () => {
      const m = await import("./relay.ts");
      return { spec: m.RELAY_COMMAND, run: m.relayCommand };
    },
  ],
  [
    "serve",
    async () => {
      const m = await import("./serve.ts");
      return { spec: m.SERVE_COMMAND, run: m.serveCommand };
    },
  ],
  [
    "control",
    async () => {
      const m = await import("./control.ts");
      return { spec: m.CONTROL_COMMAND, run: m.controlCommand };
    },
  ],
  [
    "agent",
    async () => {
      const m = await import("./agent.ts");
      return { spec: m.AGENT_COMMAND, run: m.agentCommand };
    },
  ],
  [
    "admin",
    async () => {
      const m = await import("./admin.ts");
      return { spec: m.ADMIN_COMMAND, run: m.adminCommand };
    },
  ],
  [
    "migrate",
    async () => {
      const m = await import("./migrate.ts");
      return { spec: m.MIGRATE_COMMAND, run: m.migrateCommand };
    },
  ],
];

/** Every command, loaded (what `corridor help` lists; tests check each one's table). */
export function loadCommands(): Promise<CommandEntry[]> {
  return Promise.all(COMMAND_LOADERS.map(([, load]) => load()));
}

const BUILT_IN: readonly [name: string, summary: string][] = [
  ["help", "show this help, or a command's: help COMMAND (as COMMAND --help)"],
  ["version", "print the version"],
];

/** The top-level help: every command with its summary. */
export async function mainUsage(): Promise<string> {
  const commands = await loadCommands();
  const rows = [...BUILT_IN, ...commands.map((c) => [c.spec.name, c.spec.summary] as const)];
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

function findCommand(name: string): Promise<CommandEntry> | undefined {
  return COMMAND_LOADERS.find(([known]) => known === name)?.[1]();
}

/** Runs the command line `args` (without node and the script); returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
      process.stdout.write(await mainUsage());
      return 0;
    case "help": {
      if (rest.length === 0) {
        process.stdout.write(await mainUsage());
        return 0;
      }
      const [name, ...extra] = rest as [string, ...string[]];
      const loading = findCommand(name);
      if (loading === undefined) return usageError(`help: unknown command: ${name}`);
      if (extra.length > 0) return usageError(`help takes one command, got: ${rest.join(" ")}`);
      process.stdout.write(formatUsage((await loading).spec));
      return 0;
    }
    case "version":
    case "--version":
      if (rest.length > 0) return usageError(`version takes no arguments, got: ${rest.join(" ")}`);
      process.stdout.write(`corridor ${version()}\n`);
      return 0;
    default: {
      const loading = findCommand(command);
      if (loading === undefined) return usageError(`unknown command: ${command}`);
      return (await loading).run(rest);
    }
  }
}

async function usageError(message: string): Promise<number> {
  process.stderr.write(`corridor: ${message}\n\n${await mainUsage()}`);
  return 2;
}
