// `corridor ping [-c N] [-i SECONDS] [-W SECONDS] [--wg-config FILE] HOST`: ICMP echo through the
// tunnel, like ping(8). Without --wg-config the local agent sends the echoes (HOST may then be a
// mesh name). Exit 0 when at least one reply came, 1 when none did, 2 on bad usage.

import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { AgentError, agentSocketPath, askAgent, SOCKET_OPTION } from "./agent-client.ts";
import { defineCommand, type ParsedArgs, positiveSeconds, runCommand, UsageError } from "./args.ts";
import { unprotectedFileWarning } from "./files.ts";

/** `corridor ping`: its options, help and summary. */
export const PING_COMMAND = defineCommand({
  name: "ping",
  summary: "ICMP echo requests through the WireGuard tunnel, like ping(8)",
  synopsis: [
    "[-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--socket PATH] HOST",
    "[-c COUNT] [-i INTERVAL] [-W TIMEOUT] --wg-config FILE [--relay URL] HOST",
  ],
  options: [
    {
      name: "count",
      short: "c",
      value: "COUNT",
      description: "echo requests to send",
      default: "4",
    },
    {
      name: "interval",
      short: "i",
      value: "INTERVAL",
      description: "seconds between requests",
      default: "1",
    },
    {
      name: "timeout",
      short: "W",
      value: "TIMEOUT",
      description: "seconds to wait for each reply",
      default: "2",
    },
    {
      name: "wg-config",
      value: "FILE",
      description:
        "a wg-quick file: the engine talks UDP straight to its peers' Endpoints (without it, the local agent pings)",
    },
    SOCKET_OPTION,
    {
      name: "relay",
      value: "URL",
      description:
        "go through a relay instead (ws://host:port/relay, #key= pins its key): peers without an Endpoint by key, stock hosts with one through the relay's UDP bridge",
    },
  ],
  operands: [
    {
      name: "HOST",
      description: "a mesh name or address (through the agent); an IP address with --wg-config",
    },
  ],
  notes: "Exit status: 0 when at least one reply came, 1 when none did, 2 for a bad command line.",
});

interface PingArgs {
  count: number;
  intervalMs: number;
  timeoutMs: number;
  /** The wg-quick file, or undefined to go through the agent at `socket`. */
  config: string | undefined;
  socket: string | undefined;
  relay: string | undefined;
  /** HOST as given (a name is only valid through the agent). */
  hostText: string;
  /** HOST as an address, with --wg-config. */
  host: Uint8Array | null;
}

function pingArgs({ values, positionals }: ParsedArgs<typeof PING_COMMAND.options>): PingArgs {
  let count = 4;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (values.count.trim() === "" || !Number.isInteger(count) || count < 1) {
      throw new UsageError(`-c needs a positive whole count, got '${values.count}'`);
    }
  }
  const intervalMs = positiveSeconds(values.interval, "-i", 1000);
  const timeoutMs = positiveSeconds(values.timeout, "-W", 2000);
  if (values.relay === "") throw new UsageError("--relay needs a URL (ws://host:port/relay)");
  if (values["wg-config"] === "") throw new UsageError("--wg-config needs a FILE");
  const config = values["wg-config"];
  if (config === undefined && values.relay !== undefined) {
    throw new UsageError("--relay needs --wg-config (the agent uses its map's relay)");
  }
  if (config !== undefined && values.socket !== undefined) {
    throw new UsageError("--socket is for the agent; it does not go with --wg-config");
  }
  const [host, ...extra] = positionals;
  if (host === undefined) throw new UsageError("HOST is required");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  const common = { count, intervalMs, timeoutMs, socket: values.socket, relay: values.relay };
  if (config === undefined) return { ...common, config, hostText: host, host: null };
  try {
    return { ...common, config, hostText: host, host: parseIp(host, `HOST '${host}'`) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs `corridor ping`; returns the exit status. */
export function pingCommand(argv: string[]): Promise<number> {
  return runCommand(PING_COMMAND, argv, (args) => ping(pingArgs(args)));
}

/** One echo: resolves with the RTT in ms, rejects with NoReply (or a fatal error to stop). */
type Echo = () => Promise<number>;

/** An echo that got no reply; any other error ends the command. */
class NoReply extends Error {}

async function ping(parsed: PingArgs): Promise<number> {
  if (parsed.config === undefined || parsed.host === null) return pingThroughAgent(parsed);
  // The config holds the WireGuard private key: say so when others can read it.
  const unprotected = unprotectedFileWarning(parsed.config, "WireGuard config");
  if (unprotected !== null) process.stderr.write(`corridor ping: ${unprotected}\n`);
  let mesh: Awaited<ReturnType<typeof startMeshNet>>;
  try {
    mesh = await startMeshNet(parsed.config, { relay: parsed.relay });
  } catch (error) {
    process.stderr.write(`corridor ping: ${(error as Error).message}\n`);
    return 1;
  }
  const address = parsed.host;
  try {
    return await echoes(parsed, formatIp(address), "through WireGuard", () =>
      mesh.net.ping(address, { timeoutMs: parsed.timeoutMs }).catch((error: Error) => {
        throw new NoReply(error.message);
      }),
    );
  } finally {
    await mesh.close();
  }
}

/** Pings through the local agent: HOST may be a name; the agent's refusals end the command. */
function pingThroughAgent(parsed: PingArgs): Promise<number> {
  const socket = agentSocketPath(parsed.socket);
  return echoes(parsed, parsed.hostText, "through the agent", async () => {
    try {
      const answer = await askAgent(socket, {
        op: "ping",
        host: parsed.hostText,
        timeoutMs: parsed.timeoutMs,
      });
      return answer.rttMs;
    } catch (error) {
      if (error instanceof AgentError && error.code === "timeout") throw new NoReply();
      throw error;
    }
  });
}

/** Sends `count` echoes `intervalMs` apart, printing each and the statistics. */
async function echoes(parsed: PingArgs, host: string, how: string, echo: Echo): Promise<number> {
  const rtts: number[] = [];
  process.stdout.write(`PING ${host} ${how}\n`);
  for (let seq = 1; seq <= parsed.count; seq++) {
    const started = Date.now();
    try {
      const rtt = await echo();
      rtts.push(rtt);
      process.stdout.write(`reply from ${host}: icmp_seq=${seq} time=${rtt.toFixed(2)} ms\n`);
    } catch (error) {
      if (!(error instanceof NoReply)) {
        process.stderr.write(`corridor ping: ${(error as Error).message}\n`);
        return 1;
      }
      process.stdout.write(`no reply from ${host}: icmp_seq=${seq}\n`);
    }
    const wait = parsed.intervalMs - (Date.now() - started);
    if (seq < parsed.count && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  const loss = Math.round((100 * (parsed.count - rtts.length)) / parsed.count);
  process.stdout.write(`--- ${host} ping statistics ---\n`);
  process.stdout.write(
    `${parsed.count} packets transmitted, ${rtts.length} received, ${loss}% packet loss\n`,
  );
  if (rtts.length > 0) {
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    const fmt = (n: number) => n.toFixed(2);
    process.stdout.write(
      `rtt min/avg/max = ${fmt(Math.min(...rtts))}/${fmt(avg)}/${fmt(Math.max(...rtts))} ms\n`,
    );
  }
  return rtts.length > 0 ? 0 : 1;
}
