// `corridor nc --wg-config FILE HOST PORT`: a TCP connection through the tunnel on stdin and
// stdout, like nc(1); usable as OpenSSH's ProxyCommand. stdin's end closes our sending half
// (FIN); the peer's end of stream ends the command.

import { Readable, Writable } from "node:stream";
import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { unprotectedFileWarning } from "./files.ts";

export const NC_USAGE = `usage: corridor nc [-w TIMEOUT] --wg-config FILE [--relay URL] HOST PORT

  -w TIMEOUT       seconds to wait for the connection (default 10)
  --wg-config FILE a wg-quick file: the engine talks UDP straight to its peers' Endpoints
  --relay URL      go through a relay instead (ws://host:port/relay): peers without an
                   Endpoint by key, stock hosts with one through the relay's UDP bridge
  HOST PORT        an IPv4 or IPv6 address inside the mesh, and a TCP port

Example: ssh -o ProxyCommand='corridor nc --wg-config wg0.conf %h %p' user@100.64.0.2
`;

interface NcArgs {
  config: string;
  relay: string | undefined;
  host: Uint8Array;
  port: number;
  timeoutMs: number;
}

function parseArgs(args: string[]): NcArgs | string {
  let config: string | undefined;
  let relay: string | undefined;
  let timeoutMs = 10_000;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--wg-config") {
      config = args[++i];
      if (!config) return "--wg-config needs a file";
    } else if (arg === "--relay") {
      relay = args[++i];
      if (!relay) return "--relay needs a URL (ws://host:port/relay)";
    } else if (arg === "-w") {
      const seconds = Number(args[++i]);
      if (!Number.isFinite(seconds) || seconds <= 0) return "-w needs a positive number of seconds";
      timeoutMs = seconds * 1000;
    } else if (arg.startsWith("-") && arg !== "-") {
      return `unknown option ${arg}`;
    } else {
      positional.push(arg);
    }
  }
  if (!config) return "--wg-config FILE is required";
  if (positional.length !== 2) return "HOST and PORT are required";
  const [hostText, portText] = positional as [string, string];
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return `PORT '${portText}' is not a port (1-65535)`;
  try {
    return { config, relay, host: parseIp(hostText, `HOST '${hostText}'`), port, timeoutMs };
  } catch (error) {
    return (error as Error).message;
  }
}

/** Runs `corridor nc`; returns the exit status. */
export async function ncCommand(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    process.stderr.write(`corridor nc: ${parsed}\n\n${NC_USAGE}`);
    return 2;
  }
  // The config holds the WireGuard private key: say so when others can read it.
  const unprotected = unprotectedFileWarning(parsed.config, "WireGuard config");
  if (unprotected !== null) process.stderr.write(`corridor nc: ${unprotected}\n`);
  let mesh: Awaited<ReturnType<typeof startMeshNet>>;
  try {
    mesh = await startMeshNet(parsed.config, { relay: parsed.relay });
  } catch (error) {
    process.stderr.write(`corridor nc: ${(error as Error).message}\n`);
    return 1;
  }
  const target = `${formatIp(parsed.host)} port ${parsed.port}`;
  try {
    const source = mesh.net.sourceFor(parsed.host);
    const connection = await mesh.net.tcp.connect(source, parsed.host, parsed.port, {
      timeoutMs: parsed.timeoutMs,
    });
    // stdin -> connection (its end sends FIN); connection -> stdout (its end finishes us).
    const upload = (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>).pipeTo(
      connection.writable,
    );
    await connection.readable.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>, {
      preventClose: true,
    });
    upload.catch(() => {});
    return 0;
  } catch (error) {
    process.stderr.write(`corridor nc: ${target}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    // stdin may still be open (nothing more to send): release it so the process can exit.
    process.stdin.destroy();
    await mesh.close();
  }
}
