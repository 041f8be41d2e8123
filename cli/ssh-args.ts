// Command-line parsing for `corridor ssh`, in OpenSSH's spelling where it has one: the
// options before the destination go through the shared parser (cli/args.ts), what follows the
// destination is the remote command, as ssh(1) has it.

import { defineCommand, type OptionSpec, parseCommandArgs, UsageError } from "./args.ts";

/** `corridor ssh`: its options (OpenSSH's letters), help and summary. */
export const SSH_COMMAND = defineCommand({
  name: "ssh",
  summary: "an SSH session over TCP or through the mesh, with OpenSSH's flags and known_hosts",
  synopsis: [
    "[-tT] [-l USER] [-p PORT] [-i KEYFILE] [-c CIPHER] [-m MAC]",
    "[-o Option=value] [--socket PATH | --wg-config FILE [--relay URL]]",
    "[USER@]HOST [--] [COMMAND ...]",
  ],
  options: [
    {
      name: "login",
      short: "l",
      shortOnly: true,
      value: "USER",
      description: "user to log in as",
      default: "$USER",
    },
    {
      name: "port",
      short: "p",
      shortOnly: true,
      value: "PORT",
      description: "port",
      default: "22",
    },
    {
      name: "identity",
      short: "i",
      shortOnly: true,
      value: "KEYFILE",
      multiple: true,
      description:
        "an OpenSSH private key (ed25519 or ecdsa); default ~/.ssh/id_ed25519 and ~/.ssh/id_ecdsa when they exist",
    },
    {
      name: "cipher",
      short: "c",
      shortOnly: true,
      value: "CIPHER",
      description: "cipher list (chacha20-poly1305@openssh.com, aes256-gcm@openssh.com, …)",
    },
    {
      name: "mac",
      short: "m",
      shortOnly: true,
      value: "MAC",
      description: "MAC list for CTR ciphers (hmac-sha2-256-etm@openssh.com, …)",
    },
    {
      name: "option",
      short: "o",
      shortOnly: true,
      value: "Option=value",
      multiple: true,
      description: "an ssh_config option, from the list below",
    },
    { name: "tty", short: "t", shortOnly: true, description: "force a pseudo-terminal" },
    { name: "no-tty", short: "T", shortOnly: true, description: "disable a pseudo-terminal" },
    {
      name: "wg-config",
      value: "FILE",
      description: "connect through the WireGuard mesh of this wg-quick file",
    },
    {
      name: "relay",
      value: "URL",
      description: "… via a relay (ws://host:port/relay, #key= pins its key) instead of UDP",
    },
    {
      name: "socket",
      value: "PATH",
      description:
        "go through the agent at this socket (default: $CORRIDOR_SOCKET, else the agent's state dir) even for a host its map does not list",
    },
  ],
  operands: [
    { name: "[USER@]HOST", description: "where to log in; options stop here" },
    { name: "COMMAND", description: "the rest of the line: run it instead of a shell" },
  ],
  notes: `-o options:
  UserKnownHostsFile=FILE             known hosts (default ~/.ssh/known_hosts)
  StrictHostKeyChecking=ask|yes|accept-new|no
                   what to do with a host that has no key in known_hosts (default ask,
                   which needs a terminal); a changed key, or one of another type than
                   the host's known keys, is always refused
  ServerAliveInterval=SECONDS         keepalive@openssh.com after silence (0: off)
  ConnectTimeout=SECONDS              give up connecting after this long (default 15)
  KexAlgorithms=… HostKeyAlgorithms=… Ciphers=… MACs=…   algorithm lists; Port=… User=…

Without --wg-config, a HOST the local agent's map lists (a mesh name or address) is reached
through the agent, its host key checked against the key the map publishes (no prompt; a
mismatch is refused); any other HOST over ordinary TCP. With COMMAND, runs it and exits with
its status; without, opens an interactive shell. Passwords and passphrases are asked on the
terminal, or through SSH_ASKPASS (with SSH_ASKPASS_REQUIRE=force, or when there is no
terminal), as ssh(1) does. Exit status 255 means the connection failed.`,
});

/** An ssh command line cut where ssh(1) cuts it. */
export interface SshCommandLine {
  /** The arguments before the destination: options and their values. */
  options: string[];
  destination: string | null;
  /** Everything after the destination (one leading "--" dropped): the remote command. */
  command: string[];
}

/**
 * Cuts `argv` at the destination, the first argument that is neither an option nor an
 * option's value (by SSH_COMMAND's table), or the one after "--": util.parseArgs would take
 * options from anywhere, while ssh(1) passes everything after the destination to the remote
 * command (`corridor ssh host ls -l` runs `ls -l`).
 */
export function splitSshCommandLine(argv: readonly string[]): SshCommandLine {
  const takesValue = (option: OptionSpec | undefined) => option?.value !== undefined;
  const table: readonly OptionSpec[] = SSH_COMMAND.options;
  const byShort = new Map(table.map((o) => [o.short, o]));
  const byLong = new Map(table.map((o) => [o.name, o]));
  const options: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      const destination = argv[i + 1] ?? null;
      return { options, destination, command: argv.slice(i + 2) };
    }
    if (arg === "-" || !arg.startsWith("-")) {
      const rest = argv.slice(i + 1);
      return { options, destination: arg, command: rest[0] === "--" ? rest.slice(1) : rest };
    }
    options.push(arg);
    let consumesNext = false;
    if (arg.startsWith("--")) {
      consumesNext = !arg.includes("=") && takesValue(byLong.get(arg.slice(2)));
    } else {
      // A group of switches ends at the first letter that takes a value: the rest of the
      // word is its value (-p2222), or else the next argument is (-p 2222).
      for (let j = 1; j < arg.length; j++) {
        const option = byShort.get(arg[j]);
        if (option === undefined) break;
        if (takesValue(option)) {
          consumesNext = j === arg.length - 1;
          break;
        }
      }
    }
    if (consumesNext && i + 1 < argv.length) options.push(argv[++i]!);
  }
  return { options, destination: null, command: [] };
}

/** What the command line asked for. */
export interface SshArgs {
  user: string;
  host: string;
  port: number;
  identityFiles: string[];
  command: string | null;
  tty: "auto" | "force" | "never";
  knownHostsFile: string | null;
  strictHostKeyChecking: "ask" | "yes" | "accept-new" | "no";
  keepaliveSeconds: number;
  /** -o ConnectTimeout: how long a TCP connect may take, seconds. */
  connectTimeoutSeconds: number;
  kex?: string[];
  hostKey?: string[];
  ciphers?: string[];
  macs?: string[];
  wgConfig: string | null;
  relay: string | null;
  /** --socket: go through the agent at this path, whether or not its map lists HOST. */
  socket: string | null;
}

const list = (value: string) => value.split(",").filter((s) => s !== "");

/**
 * Reads an ssh command line: options in the order given (a later -p or -l wins), then the
 * destination and the command. Returns "help" for -h/--help among the options; throws
 * UsageError for a bad command line.
 */
export function parseSshArgs(argv: readonly string[], defaultUser: string): SshArgs | "help" {
  const line = splitSshCommandLine(argv);
  const parsed = parseCommandArgs(SSH_COMMAND, line.options);
  if (parsed === "help") return parsed;
  const out: SshArgs = {
    user: "",
    host: "",
    port: 22,
    identityFiles: [],
    command: null,
    tty: "auto",
    knownHostsFile: null,
    strictHostKeyChecking: "ask",
    keepaliveSeconds: 15,
    connectTimeoutSeconds: 15,
    wgConfig: null,
    relay: null,
    socket: null,
  };
  let user: string | null = null;
  for (const { name, value = "" } of parsed.given) {
    let problem: string | null = null;
    if (name === "login") user = value;
    else if (name === "port") problem = applyPort(out, value);
    else if (name === "identity") out.identityFiles.push(value);
    else if (name === "cipher") out.ciphers = list(value);
    else if (name === "mac") out.macs = list(value);
    else if (name === "tty") out.tty = "force";
    else if (name === "no-tty") out.tty = "never";
    else if (name === "wg-config") out.wgConfig = value;
    else if (name === "relay") out.relay = value;
    else if (name === "socket") out.socket = value;
    else if (name === "option") problem = applyOption(out, value);
    if (problem !== null) throw new UsageError(problem);
  }
  let destination = line.destination;
  if (destination === null) throw new UsageError("HOST is required");
  const at = destination.lastIndexOf("@");
  if (at >= 0) {
    user ??= destination.slice(0, at);
    destination = destination.slice(at + 1);
  }
  if (destination === "") throw new UsageError("HOST is empty");
  out.host =
    destination.startsWith("[") && destination.endsWith("]")
      ? destination.slice(1, -1)
      : destination;
  out.user = user ?? (out.user || defaultUser);
  if (out.user === "") throw new UsageError("no user name: give USER@HOST or -l USER");
  out.command = line.command.length > 0 ? line.command.join(" ") : null;
  if (out.relay !== null && out.wgConfig === null)
    throw new UsageError("--relay needs --wg-config");
  if (out.socket !== null && out.wgConfig !== null)
    throw new UsageError("--socket is for the agent; it does not go with --wg-config");
  return out;
}

function applyOption(out: SshArgs, option: string): string | null {
  const eq = option.indexOf("=");
  const [name, value] =
    eq < 0 ? option.split(/\s+/, 2) : [option.slice(0, eq), option.slice(eq + 1)];
  if (name === undefined || value === undefined || value === "")
    return `-o ${option}: expected Option=value`;
  switch (name.toLowerCase()) {
    case "userknownhostsfile":
      out.knownHostsFile = value;
      return null;
    case "stricthostkeychecking": {
      const v = value.toLowerCase();
      if (v === "yes" || v === "no" || v === "accept-new" || v === "ask")
        out.strictHostKeyChecking = v;
      else if (v === "off") out.strictHostKeyChecking = "no";
      else return `-o StrictHostKeyChecking: expected yes, accept-new, no or ask, got ${value}`;
      return null;
    }
    case "serveraliveinterval": {
      const seconds = Number(value);
      if (!Number.isFinite(seconds) || seconds < 0)
        return `-o ServerAliveInterval: bad number ${value}`;
      out.keepaliveSeconds = seconds;
      return null;
    }
    case "connecttimeout": {
      const seconds = Number(value);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600)
        return `-o ConnectTimeout: expected whole seconds from 1 to 3600, got ${value}`;
      out.connectTimeoutSeconds = seconds;
      return null;
    }
    case "kexalgorithms":
      out.kex = list(value);
      return null;
    case "hostkeyalgorithms":
      out.hostKey = list(value);
      return null;
    case "ciphers":
      out.ciphers = list(value);
      return null;
    case "macs":
      out.macs = list(value);
      return null;
    case "port":
      return applyPort(out, value);
    case "user":
      out.user = value;
      return null;
    default:
      return `-o ${name}: unsupported option`;
  }
}

function applyPort(out: SshArgs, value: string): string | null {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `bad port ${value}`;
  out.port = port;
  return null;
}
