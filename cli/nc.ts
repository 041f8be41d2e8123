// `corridor nc --wg-config FILE HOST PORT`: a TCP connection through the tunnel on stdin and
// stdout, like nc(1); usable as OpenSSH's ProxyCommand. stdin's end closes our sending half
// (FIN); the peer's end of stream ends the command.

import { Readable, Writable } from "node:stream";
import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { defineCommand, type ParsedArgs, positiveSeconds, runCommand, UsageError } from "./args.ts";
import { unprotectedFileWarning } from "./files.ts";

/** `corridor nc`: its options, help and summary. */
export const NC_COMMAND = defineCommand({
  name: "nc",
  summary: "a TCP connection through the WireGuard tunnel on stdin and stdout, like nc(1)",
  synopsis: ["[-w TIMEOUT] --wg-config FILE [--relay URL] HOST PORT"],
  options: [
    {
      name: "wait",
      short: "w",
      value: "TIMEOUT",
      description: "seconds to wait for the connection",
      default: "10",
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
  operands: [
    { name: "HOST", description: "an IPv4 or IPv6 address inside the mesh" },
    { name: "PORT", description: "a TCP port" },
  ],
  notes: "Example: ssh -o ProxyCommand='corridor nc --wg-config wg0.conf %h %p' user@100.64.0.2",
});

interface NcArgs {
  config: string;
  relay: string | undefined;
  host: Uint8Array;
  port: number;
  timeoutMs: number;
}

function ncArgs({ values, positionals }: ParsedArgs<typeof NC_COMMAND.options>): NcArgs {
  const timeoutMs = positiveSeconds(values.wait, "-w", 10_000);
  if (values.relay === "") throw new UsageError("--relay needs a URL (ws://host:port/relay)");
  if (!values["wg-config"]) throw new UsageError("--wg-config FILE is required");
  if (positionals.length !== 2) throw new UsageError("HOST and PORT are required");
  const [hostText, portText] = positionals as [string, string];
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(`PORT '${portText}' is not a port (1-65535)`);
  }
  try {
    const host = parseIp(hostText, `HOST '${hostText}'`);
    return { config: values["wg-config"], relay: values.relay, host, port, timeoutMs };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs `corridor nc`; returns the exit status. */
export function ncCommand(argv: string[]): Promise<number> {
  return runCommand(NC_COMMAND, argv, (args) => nc(ncArgs(args)));
}

async function nc(parsed: NcArgs): Promise<number> {
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
