// `corridor nc [--wg-config FILE] HOST PORT`: a TCP connection through the tunnel on stdin and
// stdout, like nc(1); usable as OpenSSH's ProxyCommand. Without --wg-config the local agent
// dials (HOST may be a mesh name): `ssh -o ProxyCommand='corridor nc %h %p' user@web-01`.
// stdin's end closes our sending half (FIN); the peer's end of stream ends the command.

import type { Socket } from "node:net";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { startMeshNet } from "../server/mesh-net.ts";
import { formatIp, parseIp } from "../worker/wireguard/ip-address.ts";
import { AgentError, agentSocketPath, dialThroughAgent, SOCKET_OPTION } from "./agent-client.ts";
import { defineCommand, type ParsedArgs, positiveSeconds, runCommand, UsageError } from "./args.ts";
import { unprotectedFileWarning } from "./files.ts";

/** `corridor nc`: its options, help and summary. */
export const NC_COMMAND = defineCommand({
  name: "nc",
  summary: "a TCP connection through the WireGuard tunnel on stdin and stdout, like nc(1)",
  synopsis: [
    "[-w TIMEOUT] [--socket PATH] HOST PORT",
    "[-w TIMEOUT] --wg-config FILE [--relay URL] HOST PORT",
  ],
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
      description:
        "a wg-quick file: the engine talks UDP straight to its peers' Endpoints (without it, the local agent dials)",
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
    { name: "PORT", description: "a TCP port" },
  ],
  notes:
    "Examples: ssh -o ProxyCommand='corridor nc %h %p' user@web-01 (through the local agent)\n" +
    "          ssh -o ProxyCommand='corridor nc --wg-config wg0.conf %h %p' user@100.64.0.2",
});

interface NcArgs {
  /** The wg-quick file, or undefined to dial through the agent at `socket`. */
  config: string | undefined;
  socket: string | undefined;
  relay: string | undefined;
  hostText: string;
  /** HOST as an address, with --wg-config. */
  host: Uint8Array | null;
  port: number;
  timeoutMs: number;
}

function ncArgs({ values, positionals }: ParsedArgs<typeof NC_COMMAND.options>): NcArgs {
  const timeoutMs = positiveSeconds(values.wait, "-w", 10_000);
  if (values.relay === "") throw new UsageError("--relay needs a URL (ws://host:port/relay)");
  if (values["wg-config"] === "") throw new UsageError("--wg-config needs a FILE");
  const config = values["wg-config"];
  if (config === undefined && values.relay !== undefined) {
    throw new UsageError("--relay needs --wg-config (the agent uses its map's relay)");
  }
  if (config !== undefined && values.socket !== undefined) {
    throw new UsageError("--socket is for the agent; it does not go with --wg-config");
  }
  if (positionals.length !== 2) throw new UsageError("HOST and PORT are required");
  const [hostText, portText] = positionals as [string, string];
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(`PORT '${portText}' is not a port (1-65535)`);
  }
  const common = { socket: values.socket, relay: values.relay, hostText, port, timeoutMs };
  if (config === undefined) return { ...common, config, host: null };
  try {
    return { ...common, config, host: parseIp(hostText, `HOST '${hostText}'`) };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs `corridor nc`; returns the exit status. */
export function ncCommand(argv: string[]): Promise<number> {
  return runCommand(NC_COMMAND, argv, (args) => nc(ncArgs(args)));
}

async function nc(parsed: NcArgs): Promise<number> {
  if (parsed.config === undefined || parsed.host === null) return ncThroughAgent(parsed);
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
  const address = parsed.host;
  const target = `${formatIp(address)} port ${parsed.port}`;
  try {
    const source = mesh.net.sourceFor(address);
    const connection = await mesh.net.tcp.connect(source, address, parsed.port, {
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

/** The agent dials; its socket then is the connection: stdin to it, it to stdout. */
async function ncThroughAgent(parsed: NcArgs): Promise<number> {
  const target = `${parsed.hostText} port ${parsed.port}`;
  let connection: Socket;
  try {
    connection = await dialThroughAgent(
      agentSocketPath(parsed.socket),
      parsed.hostText,
      parsed.port,
      parsed.timeoutMs,
    );
  } catch (error) {
    process.stdin.destroy();
    const message = (error as Error).message;
    const where = error instanceof AgentError && error.code === "no-agent" ? "" : `${target}: `;
    process.stderr.write(`corridor nc: ${where}${message}\n`);
    return 1;
  }
  try {
    // stdin's end half-closes towards the peer (end() sends FIN through the agent); the
    // peer's end finishes us, whatever stdin still does.
    process.stdin.pipe(connection);
    await pipeline(connection, process.stdout, { end: false });
    return 0;
  } catch (error) {
    process.stderr.write(`corridor nc: ${target}: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.stdin.destroy();
    connection.destroy();
  }
}
