// `corridor ssh-known-hosts [--socket PATH] [--port N] [--write FILE]`: the mesh's SSH host
// keys as OpenSSH known_hosts lines, from the local agent's map (docs/cli-agent.md). The lines
// are for port 22; with --port N (agents run with --ssh-port N) each name becomes "[name]:N",
// the pattern OpenSSH looks up for a port other than 22. Printed, or merged
// into FILE: lines that name any of the same hosts are replaced, every other line (comments,
// hashed entries, other hosts) is kept as it was, and the file is replaced atomically. OpenSSH
// then verifies mesh hosts with StrictHostKeyChecking=yes and never asks.

import { existsSync, readFileSync } from "node:fs";
import { AgentError, agentSocketPath, askAgent, SOCKET_OPTION } from "./agent-client.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";
import { writeFileAtomic } from "./files.ts";

/** `corridor ssh-known-hosts`: its options, help and summary. */
export const SSH_KNOWN_HOSTS_COMMAND = defineCommand({
  name: "ssh-known-hosts",
  summary: "the mesh hosts' SSH keys as known_hosts lines (printed, or merged into a file)",
  synopsis: ["[--socket PATH] [--port N] [--write FILE]"],
  options: [
    SOCKET_OPTION,
    {
      name: "port",
      value: "N",
      description:
        "the hosts' SSH port when not 22 (agents run with --ssh-port N): lines name [host]:N",
    },
    {
      name: "write",
      value: "FILE",
      description:
        "merge into FILE (e.g. ~/.ssh/known_hosts): lines for the same names are replaced",
    },
  ],
  notes:
    "Example: corridor ssh-known-hosts --write ~/.ssh/known_hosts\n" +
    "then: ssh -o ProxyCommand='corridor nc %h %p' -o StrictHostKeyChecking=yes user@web-01",
});

/** Runs `corridor ssh-known-hosts`; returns the exit status. */
export function sshKnownHostsCommand(argv: string[]): Promise<number> {
  return runCommand(SSH_KNOWN_HOSTS_COMMAND, argv, (args) => sshKnownHosts(args));
}

async function sshKnownHosts({
  values,
  positionals,
}: ParsedArgs<typeof SSH_KNOWN_HOSTS_COMMAND.options>): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (values.write === "") throw new UsageError("--write needs a FILE");
  const portText = values.port ?? "22";
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(`--port '${portText}': expected a port from 1 to 65535`);
  }
  let lines: string[];
  try {
    ({ lines } = await askAgent(agentSocketPath(values.socket), { op: "knownHosts" }));
  } catch (error) {
    if (!(error instanceof AgentError)) throw error;
    process.stderr.write(`corridor ssh-known-hosts: ${error.message}\n`);
    return 1;
  }
  const fresh = lines.filter(isHostKeyLine).map((line) => withPort(line, port));
  if (fresh.length < lines.length) {
    process.stderr.write(
      `corridor ssh-known-hosts: ignored ${lines.length - fresh.length} malformed line(s) from the agent\n`,
    );
  }
  if (values.write === undefined) {
    process.stdout.write(fresh.map((line) => `${line}\n`).join(""));
    return 0;
  }
  const file = values.write;
  let old = "";
  try {
    if (existsSync(file)) old = readFileSync(file, "utf8");
  } catch (error) {
    process.stderr.write(`corridor ssh-known-hosts: ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  const merged = mergeKnownHosts(old, fresh);
  try {
    // Atomic: OpenSSH reading the file meanwhile sees the old or the new one, never half.
    writeFileAtomic(file, merged.text, { mode: 0o644 });
  } catch (error) {
    process.stderr.write(`corridor ssh-known-hosts: ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  process.stderr.write(
    `corridor ssh-known-hosts: ${file}: ${fresh.length} line(s) written, ${merged.replaced} replaced\n`,
  );
  return 0;
}

/**
 * Whether `line` is one plain known_hosts entry: "names keytype base64" with nothing that could
 * smuggle a second line, a marker or a hashed name in (the names come from the map).
 */
export function isHostKeyLine(line: string): boolean {
  return /^[^\s#@|][^\s]* [a-z0-9][a-z0-9@.-]* [A-Za-z0-9+/]+={0,2}$/.test(line);
}

/**
 * `line` (a plain entry, isHostKeyLine) for hosts whose SSH listens on `port`: each name
 * becomes "[name]:port" (IPv6 addresses too), as OpenSSH looks hosts up on a port other than
 * 22; port 22 leaves the line as it is.
 */
export function withPort(line: string, port: number): string {
  if (port === 22) return line;
  const space = line.indexOf(" ");
  const names = line.slice(0, space).split(",");
  return `${names.map((name) => `[${name}]:${port}`).join(",")}${line.slice(space)}`;
}

/** The host patterns of a known_hosts line (after an optional @marker), or [] for none. */
function namesOf(line: string): string[] {
  const fields = line.trim().split(/\s+/);
  const patterns = fields[0]?.startsWith("@") ? fields[1] : fields[0];
  if (patterns === undefined || patterns.startsWith("#") || patterns.startsWith("|")) return [];
  return patterns.split(",");
}

/**
 * `old` known_hosts text with `fresh` lines merged in: every old line naming one of the fresh
 * lines' hosts (exactly, as written: "[web-01]:2222" is another host than "web-01") is
 * dropped, the fresh lines are appended. Comments, blank and hashed lines stay.
 */
export function mergeKnownHosts(
  old: string,
  fresh: readonly string[],
): { text: string; replaced: number } {
  const names = new Set(fresh.flatMap(namesOf));
  const kept: string[] = [];
  let replaced = 0;
  const oldLines = old === "" ? [] : old.replace(/\n$/, "").split("\n");
  for (const line of oldLines) {
    if (namesOf(line).some((name) => names.has(name))) replaced++;
    else kept.push(line);
  }
  const text = [...kept, ...fresh].map((line) => `${line}\n`).join("");
  return { text, replaced };
}
