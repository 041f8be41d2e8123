// `corridor ping [-c N] [-i SECONDS] [-W SECONDS] --wg-config FILE HOST`: ICMP echo through the
// tunnel, like ping(8). Exit 0 when at least one reply came, 1 when none did, 2 on bad usage.

import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { unprotectedFileWarning } from "./files.ts";

export const PING_USAGE = `usage: corridor ping [-c COUNT] [-i INTERVAL] [-W TIMEOUT] --wg-config FILE [--relay URL] HOST

  -c COUNT         echo requests to send (default 4)
  -i INTERVAL      seconds between requests (default 1)
  -W TIMEOUT       seconds to wait for each reply (default 2)
  --wg-config FILE a wg-quick file: the engine talks UDP straight to its peers' Endpoints
  --relay URL      go through a relay instead (ws://host:port/relay): peers without an
                   Endpoint by key, stock hosts with one through the relay's UDP bridge
  HOST             an IPv4 or IPv6 address inside the mesh
`;

interface PingArgs {
  count: number;
  intervalMs: number;
  timeoutMs: number;
  config: string;
  relay: string | undefined;
  host: Uint8Array;
}

function parseArgs(args: string[]): PingArgs | string {
  let count = 4;
  let intervalMs = 1000;
  let timeoutMs = 2000;
  let config: string | undefined;
  let relay: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => args[++i];
    const seconds = (name: string, text: string | undefined): number | string => {
      const n = Number(text);
      return text !== undefined && Number.isFinite(n) && n > 0
        ? n * 1000
        : `${name} needs a positive number of seconds`;
    };
    if (arg === "-c") {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) return "-c needs a positive whole count";
      count = n;
    } else if (arg === "-i" || arg === "-W") {
      const ms = seconds(arg, value());
      if (typeof ms === "string") return ms;
      if (arg === "-i") intervalMs = ms;
      else timeoutMs = ms;
    } else if (arg === "--relay") {
      relay = value();
      if (!relay) return "--relay needs a URL (ws://host:port/relay)";
    } else if (arg === "--wg-config") {
      config = value();
      if (!config) return "--wg-config needs a file";
    } else if (arg.startsWith("-")) {
      return `unknown option ${arg}`;
    } else if (host === undefined) {
      host = arg;
    } else {
      return `unexpected argument ${arg}`;
    }
  }
  if (!config) return "--wg-config FILE is required";
  if (!host) return "HOST is required";
  try {
    return { count, intervalMs, timeoutMs, config, relay, host: parseIp(host, `HOST '${host}'`) };
  } catch (error) {
    return (error as Error).message;
  }
}

/** Runs `corridor ping`; returns the exit status. */
export async function pingCommand(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    process.stderr.write(`corridor ping: ${parsed}\n\n${PING_USAGE}`);
    return 2;
  }
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
