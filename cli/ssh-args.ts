// Command-line parsing for `corridor ssh`, in OpenSSH's spelling where it has one.

export const SSH_USAGE = `usage: corridor ssh [-tT] [-l USER] [-p PORT] [-i KEYFILE] [-c CIPHER] [-m MAC]
                    [-o Option=value] [--wg-config FILE [--relay URL]]
                    [USER@]HOST [--] [COMMAND ...]

  -l USER          user to log in as (default: $USER)
  -p PORT          port (default 22)
  -i KEYFILE       an OpenSSH private key (ed25519 or ecdsa; repeatable); default
                   ~/.ssh/id_ed25519 and ~/.ssh/id_ecdsa when they exist
  -c CIPHER        cipher list (chacha20-poly1305@openssh.com, aes256-gcm@openssh.com, …)
  -m MAC           MAC list for CTR ciphers (hmac-sha2-256-etm@openssh.com, …)
  -t / -T          force / disable a pseudo-terminal
  -o UserKnownHostsFile=FILE          known hosts (default ~/.ssh/known_hosts)
  -o StrictHostKeyChecking=ask|yes|accept-new|no
                   what to do with a host that has no key in known_hosts (default ask,
                   which needs a terminal); a changed key, or one of another type than
                   the host's known keys, is always refused
  -o ServerAliveInterval=SECONDS      keepalive@openssh.com after silence (0: off)
  -o KexAlgorithms=… HostKeyAlgorithms=… Ciphers=… MACs=…   algorithm lists
  --wg-config FILE connect through the WireGuard mesh of this wg-quick file
  --relay URL      … via a relay (ws://host:port/relay) instead of UDP

Without --wg-config, HOST is reached over ordinary TCP. With COMMAND, runs it and exits with
its status; without, opens an interactive shell. Passwords and passphrases are asked on the
terminal, or through SSH_ASKPASS (with SSH_ASKPASS_REQUIRE=force, or when there is no
terminal), as ssh(1) does. Exit status 255 means the connection failed.
`;

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
  kex?: string[];
  hostKey?: string[];
  ciphers?: string[];
  macs?: string[];
  wgConfig: string | null;
  relay: string | null;
}

const list = (value: string) => value.split(",").filter((s) => s !== "");

/** Parses `args`; returns an error message for a bad command line. */
export function parseSshArgs(args: readonly string[], defaultUser: string): SshArgs | string {
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
    wgConfig: null,
    relay: null,
  };
  let user: string | null = null;
  let destination: string | null = null;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (what: string): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs ${what}`);
      return v;
    };
    try {
      if (destination !== null) {
        // Everything after HOST is the command (ssh(1) style), an optional "--" first.
        rest.push(...args.slice(arg === "--" ? i + 1 : i));
        break;
      }
      if (arg === "-l") user = value("a user name");
      else if (arg === "-p") {
        const port = Number(value("a port"));
        if (!Number.isInteger(port) || port < 1 || port > 65535) return `bad port ${args[i]}`;
        out.port = port;
      } else if (arg === "-i") out.identityFiles.push(value("a key file"));
      else if (arg === "-c") out.ciphers = list(value("a cipher list"));
      else if (arg === "-m") out.macs = list(value("a MAC list"));
      else if (arg === "-t") out.tty = "force";
      else if (arg === "-T") out.tty = "never";
      else if (arg === "--wg-config") out.wgConfig = value("a wg-quick file");
      else if (arg === "--relay") out.relay = value("a relay URL");
      else if (arg === "-o") {
        const error = applyOption(out, value("Option=value"));
        if (error !== null) return error;
      } else if (arg.startsWith("-")) return `unknown option ${arg}`;
      else destination = arg;
    } catch (error) {
      return (error as Error).message;
    }
  }
  if (destination === null) return "HOST is required";
  const at = destination.lastIndexOf("@");
  if (at >= 0) {
    user ??= destination.slice(0, at);
    destination = destination.slice(at + 1);
  }
  if (destination === "") return "HOST is empty";
  out.host =
    destination.startsWith("[") && destination.endsWith("]")
      ? destination.slice(1, -1)
      : destination;
  out.user = user ?? (out.user || defaultUser);
  if (out.user === "") return "no user name: give USER@HOST or -l USER";
  out.command = rest.length > 0 ? rest.join(" ") : null;
  if (out.relay !== null && out.wgConfig === null) return "--relay needs --wg-config";
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
