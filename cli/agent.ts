// `corridor agent`: this host joins the mesh (docs/agent.md). It keeps its node key in its state
// directory (a restart is the same node), registers with an auth key or waits for a person to
// approve it, and runs the identity SSH server on its mesh addresses, inbound forwarding to
// 127.0.0.1, an optional SOCKS5 proxy and the local socket the CLI asks. Start lines go to standard
// output, structured logs (pino) to standard error; the auth key is never printed or logged.
// SIGTERM and SIGINT leave cleanly (exit 0); a refusal by the control server (a bad auth key, the
// node removed) ends the agent with exit 1 and the server's message, never a silent retry.

import { Agent, type AgentHandle, type AgentOptions } from "../server/agent/agent.ts";
import { TunAgent } from "../server/agent/agent-tun.ts";
import { PortListError, parsePortList } from "../server/agent/ports.ts";
import { parseListenAddress, Socks5ListenError } from "../server/agent/socks5.ts";
import { defaultStateDir } from "../server/agent/state-dir.ts";
import { createLogger } from "../server/log.ts";
import type { ControlRefusal } from "../worker/control/client.ts";
import { CONTROL_PATH } from "../worker/control/messages.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";
import { untilStopSignal } from "./relay-flags.ts";

/** The environment variable that may hold the auth key (kept off the command line and `ps`). */
export const AUTH_KEY_VARIABLE = "CORRIDOR_AUTH_KEY";
/** Longest --server URL accepted. */
const MAX_URL = 2048;
/** Most tags accepted on the command line. */
const MAX_TAGS = 64;

/** `corridor agent`: its options, help and summary. */
export const AGENT_COMMAND = defineCommand({
  name: "agent",
  summary: "this host joins the mesh: its node key, identity SSH on its mesh addresses",
  synopsis: [
    "--server URL [--auth-key KEY] [--hostname NAME] [--tags tag:a,tag:b] [--ephemeral]",
    "[--state DIR] [--ssh-port N] [--socket PATH] [--expose PORTS] [--socks5 [HOST:]PORT]",
    "[--udp-port N] [--no-direct] [--tun IFACE]",
  ],
  options: [
    {
      name: "server",
      value: "URL",
      description:
        "the control server's base URL (https://corridor.example.com, http://127.0.0.1:8080); its map stream is /control there",
    },
    {
      name: "auth-key",
      value: "KEY",
      description: `register with this auth key (or set ${AUTH_KEY_VARIABLE}, which keeps it out of ps); without one, the agent prints an approval URL and waits for a signed-in user to approve it`,
    },
    {
      name: "hostname",
      value: "NAME",
      description: "the name to register (the node's mesh name derives from it)",
      default: "this machine's host name",
    },
    {
      name: "tags",
      value: "TAGS",
      description: "tags to register with, comma-separated (tag:server,tag:ci)",
    },
    {
      name: "ephemeral",
      description: "the control server removes the node once its map stream has ended",
    },
    {
      name: "state",
      value: "DIR",
      description:
        "the node key (node.key) and SSH host key (ssh_host_ed25519_key) live here, made 0700/0600; the same DIR is the same node",
      default: "$XDG_STATE_HOME/corridor/agent or ~/.local/state/corridor/agent",
    },
    {
      name: "ssh-port",
      value: "N",
      description: "the identity SSH server's port on the mesh addresses; 0 turns it off",
      default: "22",
    },
    {
      name: "socket",
      value: "PATH",
      description:
        "the local socket (mode 0600) where corridor status, ping, nc, ssh and ssh-known-hosts reach this agent",
      default: "agent.sock in the state directory",
    },
    {
      name: "expose",
      value: "PORTS",
      description:
        "only these TCP ports (22,80,8000-8100) of 127.0.0.1 are forwarded from the mesh; the policy decides who reaches the node at all",
      default: "every port the policy lets through",
    },
    {
      name: "socks5",
      value: "[HOST:]PORT",
      description:
        "a SOCKS5 proxy into the mesh on this loopback address (curl --socks5-hostname 127.0.0.1:1055 http://web-01/); mesh names resolve through it",
    },
    {
      name: "udp-port",
      value: "N",
      description: "the UDP port of direct paths to peers",
      default: "any free port",
    },
    { name: "no-direct", description: "no direct UDP paths: every packet goes through the relay" },
    {
      name: "tun",
      value: "IFACE",
      description:
        "TUN mode (root): a real WireGuard interface IFACE (kernel module, else wireguard-go) carries the mesh addresses, so the host's own services answer on them; no forwarding and no identity SSH then",
    },
    {
      name: "tun-filter",
      value: "nftables|none",
      description:
        "TUN mode: who enforces the policy's port rules; none: the host firewall enforces the policy (without nft, nftables is refused)",
      default: "nftables",
    },
  ],
  notes:
    "Example: CORRIDOR_AUTH_KEY=... corridor agent --server https://corridor.example.com\n" +
    "SIGTERM and SIGINT leave the mesh cleanly (exit 0); a refusal by the control server exits 1.",
});

/**
 * The map stream's URL for a control server URL: http(s)/ws(s) at the server's root becomes
 * ws(s)://HOST/control; a URL already ending in /control is taken as is. Throws an Error naming
 * the expected form for anything else (another path, a query, credentials).
 */
export function controlStreamUrl(text: string): { base: string; control: string } {
  const expected = "expected the control server's base URL, like https://corridor.example.com";
  if (text.length > MAX_URL) throw new Error(`--server: longer than ${MAX_URL} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--server '${text.slice(0, 80)}' is not a URL: ${expected}`);
  }
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  if (!secure && url.protocol !== "http:" && url.protocol !== "ws:") {
    throw new Error(`--server: ${url.protocol} is not http, https, ws or wss: ${expected}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new Error(`--server: a user name or password has no place in the URL: ${expected}`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new Error(`--server: a query or fragment has no place in the URL: ${expected}`);
  }
  const path = url.pathname.replace(/\/+$/, "");
  if (path !== "" && path !== CONTROL_PATH) {
    throw new Error(
      `--server: path ${url.pathname} is not the control server's: ${expected} (or .../control)`,
    );
  }
  const base = `${secure ? "https" : "http"}://${url.host}`;
  return { base, control: `${secure ? "wss" : "ws"}://${url.host}${CONTROL_PATH}` };
}

/** The tags of `--tags`: comma-separated, each "tag:NAME"; throws UsageError otherwise. */
export function parseTags(text: string): string[] {
  const tags = text.split(",").map((t) => t.trim());
  if (tags.length > MAX_TAGS) throw new UsageError(`--tags: more than ${MAX_TAGS} tags`);
  for (const tag of tags) {
    if (!/^tag:[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(tag)) {
      throw new UsageError(
        `--tags: '${tag.slice(0, 70)}' is not a tag (tag:NAME, letters, digits, - and _)`,
      );
    }
  }
  return [...new Set(tags)];
}

/**
 * Reads $CORRIDOR_AUTH_KEY and removes it from `env`, so no child the agent starts (identity
 * SSH sessions, host tools) ever inherits the key.
 */
export function takeAuthKeyVariable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[AUTH_KEY_VARIABLE];
  delete env[AUTH_KEY_VARIABLE];
  return value;
}

type AgentArgs = Omit<AgentOptions, "log" | "onWaiting" | "onControlState"> & {
  tun?: string;
  tunFilter?: "nftables" | "none";
};

function agentArgs({ values, positionals }: ParsedArgs<typeof AGENT_COMMAND.options>): AgentArgs {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (values.server === undefined) throw new UsageError("--server URL is required");
  let urls: { base: string; control: string };
  try {
    urls = controlStreamUrl(values.server);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const sshPortText = values["ssh-port"] ?? "22";
  const sshPort = Number(sshPortText);
  if (!/^\d{1,5}$/.test(sshPortText) || sshPort > 65535) {
    throw new UsageError(`--ssh-port '${sshPortText}': expected a port from 0 to 65535`);
  }
  // An empty variable is an unset one (as shells and CI templates leave it); an empty
  // --auth-key is a mistake worth saying.
  const fromEnv = takeAuthKeyVariable();
  const authKey = values["auth-key"] ?? (fromEnv === "" ? undefined : fromEnv);
  if (authKey !== undefined && authKey.trim() === "") throw new UsageError("--auth-key is empty");
  const udpPortText = values["udp-port"];
  const udpPort = udpPortText === undefined ? 0 : Number(udpPortText);
  if (udpPortText !== undefined && (!/^\d{1,5}$/.test(udpPortText) || udpPort > 65535)) {
    throw new UsageError(`--udp-port '${udpPortText}': expected a port from 0 to 65535`);
  }
  if (udpPortText !== undefined && values["no-direct"]) {
    throw new UsageError("--udp-port and --no-direct: choose one (no direct paths, no UDP port)");
  }
  if (
    values.tun !== undefined &&
    (values["ssh-port"] !== undefined || values.expose !== undefined)
  ) {
    // The host's own services answer on the interface: nothing of ours listens or forwards.
    throw new UsageError(
      "--tun: the host's own services answer; --ssh-port and --expose do not apply",
    );
  }
  const tunFilter = values["tun-filter"];
  if (tunFilter !== undefined && values.tun === undefined) {
    throw new UsageError("--tun-filter applies to TUN mode only (--tun IFACE)");
  }
  if (tunFilter !== undefined && tunFilter !== "nftables" && tunFilter !== "none") {
    throw new UsageError(`--tun-filter '${tunFilter.slice(0, 40)}': expected nftables or none`);
  }
  let expose: AgentArgs["expose"] = null;
  let socks5: AgentArgs["socks5"];
  try {
    if (values.expose !== undefined) expose = parsePortList(values.expose);
    if (values.socks5 !== undefined) socks5 = parseListenAddress(values.socks5);
  } catch (error) {
    if (error instanceof PortListError || error instanceof Socks5ListenError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
  return {
    serverUrl: urls.base,
    controlUrl: urls.control,
    authKey,
    hostname: values.hostname,
    tags: values.tags === undefined ? undefined : parseTags(values.tags),
    ephemeral: values.ephemeral,
    stateDir: values.state ?? defaultStateDir(),
    sshPort,
    socketPath: values.socket,
    expose,
    socks5,
    direct: values["no-direct"] ? { disabled: true } : { port: udpPort },
    tun: values.tun,
    tunFilter,
  };
}

/** Runs `corridor agent` until SIGTERM/SIGINT or a refusal; returns the exit status. */
export function agentCommand(argv: string[]): Promise<number> {
  return runCommand(AGENT_COMMAND, argv, (args) => runAgent(agentArgs(args)));
}

function say(line: string): void {
  process.stdout.write(`corridor agent: ${line}\n`);
}

async function runAgent(args: AgentArgs): Promise<number> {
  const log = createLogger().child({ component: "agent" });
  // Listen for the stop signal first: a SIGTERM while joining must still leave cleanly.
  const stopped = untilStopSignal().then(() => "stop" as const);
  let agent: AgentHandle | undefined;
  let saidUnreachable = false;
  const onWaiting = (url: string) => say(`waiting for approval: a signed-in user must open ${url}`);
  try {
    agent =
      args.tun === undefined
        ? await Agent.start({
            ...args,
            log,
            onWaiting,
            onControlState: (state) => {
              // Say once when the control server cannot be reached, and once when it is back.
              if (state === "backoff" && !saidUnreachable) {
                saidUnreachable = true;
                const why = agent?.lastControlError() ?? "no answer";
                process.stderr.write(
                  `corridor agent: control server ${args.serverUrl} unreachable (${why}); retrying\n`,
                );
              }
              if (state === "ready" && saidUnreachable) {
                saidUnreachable = false;
                say("control server reachable again");
              }
            },
          })
        : TunAgent.start({ ...args, tun: args.tun, log, onWaiting });
  } catch (error) {
    process.stderr.write(`corridor agent: ${(error as Error).message}\n`);
    return 1;
  }
  for (const warning of agent.state.warnings) process.stderr.write(`corridor agent: ${warning}\n`);
  // The socket answers from now on (`corridor status` while waiting for approval, too).
  if (agent.localApi !== undefined) say(`local socket ${agent.localApi.path}`);
  const refused = agent.refused.then((refusal) => ({ refusal }));
  let joinError: Error | undefined;
  const joined = agent.joined.then(
    () => "joined" as const,
    (error: Error) => {
      joinError = error;
      return "failed" as const;
    },
  );
  const first = await Promise.race([stopped, refused, joined]);
  if (first === "joined") {
    for (const line of agent.startLines()) say(line);
    const end = await Promise.race([stopped, refused]);
    return finish(agent, end);
  }
  if (first === "failed") {
    // Refused before the first map (the refusal is on its way), or the first map was bad.
    const end = await Promise.race([stopped, refused, Promise.resolve("failed" as const)]);
    if (end === "failed") {
      await agent.stop();
      process.stderr.write(`corridor agent: ${joinError?.message ?? "the first map failed"}\n`);
      return 1;
    }
    return finish(agent, end);
  }
  return finish(agent, first);
}

async function finish(
  agent: AgentHandle,
  end: "stop" | { refusal: ControlRefusal },
): Promise<number> {
  await agent.stop();
  if (end === "stop") {
    say("left the mesh");
    return 0;
  }
  const { refusal } = end;
  process.stderr.write(
    `corridor agent: the control server refused this node: ${refusal.message} (${refusal.code})\n`,
  );
  return 1;
}
