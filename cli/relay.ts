// `corridor relay`: the relay server (DESIGN §4). Closed by default: the operator chooses who
// may connect (--allow-keys, --control-key, or --open). SIGTERM and SIGINT send RESTARTING to
// every client before the relay closes, so they come back when it does.

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { type RelayAuth, startRelay } from "../server/relay/index.ts";
import { UdpBridge } from "../server/relay/udp-bridge.ts";
import { keyFromBase64, keyToBase64 } from "../worker/wireguard/keys.ts";

export const RELAY_USAGE = `usage: corridor relay [--listen HOST:PORT] (--allow-keys FILE | --control-key PUB | --open)
                      [--allow-udp CIDR[:PORTS]]... [--origin ORIGIN]... [--relay-id ID]

  --listen HOST:PORT   where to listen (default 127.0.0.1:8080); WebSocket path /relay
  --allow-keys FILE    WireGuard public keys (base64, one per line, # comments) that may connect
  --control-key PUB    the control server's Ed25519 public key (base64): connect with its tokens
  --open               anyone may connect (say so only where that is meant)
  --allow-udp SPEC     stock WireGuard endpoints the UDP bridge may reach: CIDR, CIDR:PORT or
                       CIDR:LO-HI (repeatable); tokens may add their own
  --origin ORIGIN      accept browser pages only from this Origin (repeatable)
  --relay-id ID        the relay's id in WELCOME and tokens (default: the host name)
`;

interface RelayArgs {
  host: string;
  port: number;
  auth: RelayAuth;
  allowUdp: string[];
  origins: string[];
  relayId: string;
}

function parseArgs(args: string[]): RelayArgs | string {
  let listen = "127.0.0.1:8080";
  let auth: RelayAuth | undefined;
  const allowUdp: string[] = [];
  const origins: string[] = [];
  let relayId = hostname();
  const choose = (next: RelayAuth): string | undefined => {
    if (auth) return "choose one of --allow-keys, --control-key and --open";
    auth = next;
    return undefined;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--open") {
      const problem = choose({ mode: "open" });
      if (problem) return problem;
      continue;
    }
    const value = args[++i];
    if (value === undefined) return `${arg} needs a value`;
    let problem: string | undefined;
    if (arg === "--listen") listen = value;
    else if (arg === "--allow-keys") problem = choose({ mode: "keys", allowed: readKeys(value) });
    else if (arg === "--control-key") {
      problem = choose({ mode: "token", controlPublicKey: keyFromBase64(value, "--control-key") });
    } else if (arg === "--allow-udp") allowUdp.push(value);
    else if (arg === "--origin") origins.push(value);
    else if (arg === "--relay-id") relayId = value;
    else problem = `unknown argument ${arg}`;
    if (problem) return problem;
  }
  if (!auth)
    return "the relay is closed by default: choose --allow-keys FILE, --control-key PUB or --open";
  const colon = listen.lastIndexOf(":");
  const port = Number(listen.slice(colon + 1));
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  if (colon < 1 || !Number.isInteger(port) || port < 0 || port > 65535) {
    return `--listen '${listen}': expected HOST:PORT with a port from 0 to 65535`;
  }
  return { host, port, auth, allowUdp, origins, relayId };
}

/** Reads an allow-list of base64 WireGuard public keys (one per line, '#' comments). */
function readKeys(file: string): Uint8Array[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line, i) => [line.replace(/#.*/, "").trim(), i + 1] as const)
    .filter(([line]) => line.length > 0)
    .map(([line, n]) => keyFromBase64(line, `${file}: line ${n}`));
}

/** Runs `corridor relay` until SIGTERM/SIGINT; returns the exit status. */
export async function relayCommand(args: string[]): Promise<number> {
  let parsed: RelayArgs | string;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    parsed = (error as Error).message;
  }
  if (typeof parsed === "string") {
    process.stderr.write(`corridor relay: ${parsed}\n\n${RELAY_USAGE}`);
    return 2;
  }
  let bridge: UdpBridge;
  try {
    bridge = new UdpBridge({ allow: parsed.allowUdp });
  } catch (error) {
    process.stderr.write(`corridor relay: --allow-udp: ${(error as Error).message}\n`);
    return 2;
  }
  const relay = await startRelay({
    host: parsed.host,
    port: parsed.port,
    auth: parsed.auth,
    relayId: parsed.relayId,
    udpBridge: bridge,
    origins: parsed.origins.length > 0 ? parsed.origins : undefined,
  });
  const mode =
    parsed.auth.mode === "keys" ? `${parsed.auth.allowed.length} allowed keys` : parsed.auth.mode;
  process.stdout.write(
    `corridor relay ${parsed.relayId} listening on ${relay.url} (auth: ${mode}; udp bridge: ${
      parsed.allowUdp.length > 0 ? parsed.allowUdp.join(", ") : "token allowances only"
    }); relay key ${keyToBase64(relay.relayPublicKey)}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  process.stdout.write("corridor relay: shutting down; clients are told to come back\n");
  await relay.close({ restarting: { reconnectInMs: 1000, tryForMs: 60_000 } });
  bridge.close();
  return 0;
}
