// `corridor` command dispatch. Each subcommand lives in its own module and is added here as
// the issue that brings it lands.

import { readFileSync } from "node:fs";
import { keysCommand } from "./keys.ts";
import { ncCommand } from "./nc.ts";
import { pingCommand } from "./ping.ts";
import { relayCommand } from "./relay.ts";
import { serveCommand } from "./serve.ts";
import { sshCommand } from "./ssh.ts";
import { sshKeygenCommand } from "./ssh-keygen.ts";

const USAGE = `usage: corridor <command> [arguments]

commands:
  help       show this help
  version    print the version
  keys       WireGuard keys, as wg: keys genkey | pubkey | genpsk
  ping       ICMP echo through the tunnel: ping [-c N] --wg-config FILE HOST
  nc         a TCP connection through the tunnel on stdin/stdout: nc --wg-config FILE HOST PORT
  ssh        an SSH session: ssh [-p PORT] [-i KEY] [--wg-config FILE [--relay URL]] [USER@]HOST [-- COMMAND]
  ssh-keygen an SSH user key: ssh-keygen [-t ed25519|ecdsa] [-f FILE] [-N PASSPHRASE]
  relay      the relay server: relay [--listen HOST:PORT] (--allow-keys FILE | --control-key PUB | --open)
  serve      the page and the relay on one port: serve [--listen HOST:PORT] [--port N] [--allow-udp CIDR]...

Corridor is built issue by issue; see README.md for what runs today.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the command line `args` (without node and the script); returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    case "version":
    case "--version":
      if (rest.length > 0) return usageError(`version takes no arguments, got: ${rest.join(" ")}`);
      process.stdout.write(`corridor ${version()}\n`);
      return 0;
    case "keys":
      return keysCommand(rest);
    case "ping":
      return pingCommand(rest);
    case "nc":
      return ncCommand(rest);
    case "relay":
      return relayCommand(rest);
    case "serve":
      return serveCommand(rest);
    case "ssh":
      return sshCommand(rest);
    case "ssh-keygen":
      return sshKeygenCommand(rest);
    default:
      return usageError(`unknown command: ${command}`);
  }
}

function usageError(message: string): number {
  process.stderr.write(`corridor: ${message}\n\n${USAGE}`);
  return 2;
}
