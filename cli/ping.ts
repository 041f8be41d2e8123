// `corridor ping [-c N] [-i SECONDS] [-W SECONDS] --wg-config FILE HOST`: ICMP echo through the
// tunnel, like ping(8). Exit 0 when at least one reply came, 1 when none did, 2 on bad usage.

import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { defineCommand, type ParsedArgs, positiveSeconds, runCommand, UsageError } from "./args.ts";
import { unprotectedFileWarning } from "./files.ts";

/** `corridor ping`: its options, help and summary. */
export const PING_COMMAND = defineCommand({
  name: "ping",
  summary: "ICMP echo requests through the WireGuard tunnel, like ping(8)",
  synopsis: ["[-c COUNT] [-i INTERVAL] [-W TIMEOUT] --wg-config FILE [--relay URL] HOST"],
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
      description: "a wg-quick file: the engine talks UDP straight to its peers' Endpoints",
    },
    {
      name: "relay",
      value: "URL",
      description:
        "go through a relay instead (ws://host:port/relay, #key= pins its key): peers without an Endpoint by key, stock hosts with one through the relay's UDP bridge",
    },
  ],
  operands: [{ name: "HOST", description: "an IPv4 or IPv6 address inside the mesh" }],
  notes: "Exit status: 0 when at least one reply came, 1 when none did, 2 for a bad command line.",
});

interface PingArgs {
  count: number;
  intervalMs: number;
  timeoutMs: number;
  config: string;
  relay: string | undefined;
  host: Uint8Array;
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
  if (!values["wg-config"]) throw new UsageError("--wg-config FILE is required");
  const [host, ...extra] = positionals;
  if (host === undefined) throw new UsageError("HOST is required");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  try {
    return {
      count,
      intervalMs,
      timeoutMs,
      config: values["wg-config"],
      relay: values.relay,
      host: parseIp(host, `HOST '${host}'`),
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs `corridor ping`; returns the exit status. */
export function pingCommand(argv: string[]): Promise<number> {
  return runCommand(PING_COMMAND, argv, (args) => ping(pingArgs(args)));
}

async function ping(parsed: PingArgs): Promise<number> {
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
  const host = formatIp(parsed.host);
  const rtts: number[] = [];
  try {
    process.stdout.write(`PING ${host} through WireGuard\n`);
    for (let seq = 1; seq <= parsed.count; seq++) {
      const started = Date.now();
      try {
        const rtt = await mesh.net.ping(parsed.host, { timeoutMs: parsed.timeoutMs });
        rtts.push(rtt);
        process.stdout.write(`reply from ${host}: icmp_seq=${seq} time=${rtt.toFixed(2)} ms\n`);
      } catch {
        process.stdout.write(`no reply from ${host}: icmp_seq=${seq}\n`);
      }
      const wait = parsed.intervalMs - (Date.now() - started);
      if (seq < parsed.count && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  } finally {
    await mesh.close();
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
