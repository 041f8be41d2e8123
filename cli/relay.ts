// `corridor relay`: the relay server (DESIGN §4). Closed by default: the operator chooses who
// may connect (--allow-keys, --control-key, or --open). SIGTERM and SIGINT send RESTARTING to
// every client before the relay closes, so they come back when it does.

import { type RelayAuth, startRelay } from "../server/relay/index.ts";
import { UdpBridge } from "../server/relay/udp-bridge.ts";
import { pinnedRelayUrl } from "../worker/relay/relay-url.ts";
import { keyToBase64 } from "../worker/wireguard/keys.ts";
import {
  applyRelayFlag,
  defaultRelayFlags,
  describeRelay,
  isRelaySwitch,
  type RelayFlags,
  untilStopSignal,
} from "./relay-flags.ts";
import { loadOrCreateRelayKey } from "./relay-key.ts";

export const RELAY_USAGE = `usage: corridor relay [--listen HOST:PORT] (--allow-keys FILE | --control-key PUB | --open)
                      [--allow-udp CIDR[:PORTS]]... [--origin ORIGIN]... [--allow-host NAME]...
                      [--relay-id ID] [--key-file FILE]

  --listen HOST:PORT   where to listen (default 127.0.0.1:8080); WebSocket path /relay
  --allow-keys FILE    WireGuard public keys (base64, one per line, # comments) that may connect
  --control-key PUB    the control server's Ed25519 public key (base64): connect with its tokens
  --open               anyone may connect (say so only where that is meant)
  --allow-udp SPEC     stock WireGuard endpoints the UDP bridge may reach: CIDR, CIDR:PORT or
                       CIDR:LO-HI (repeatable); tokens may add their own. Loopback,
                       link-local, multicast and broadcast addresses only when SPEC lies
                       inside them (127.0.0.1/32:51820, not 0.0.0.0/0)
  --origin ORIGIN      let web pages of this origin (https://example.com) use the relay
                       (repeatable); without it, no browser page can (clients that send no
                       Origin, like agents and the CLI, are not affected)
  --allow-host NAME    a host name /healthz and /metrics answer to besides IP addresses,
                       localhost and the listen host (repeatable; a DNS rebinding defence)
  --relay-id ID        the relay's id in WELCOME and tokens (default: the host name)
  --key-file FILE      the relay's X25519 private key (base64), made 0600 if missing: the key
                       stays the same across restarts, so clients can pin it (#key=); without
                       it, a new key at every start
`;

type RelayArgs = RelayFlags & { auth: RelayAuth; keyFile: string | undefined };

function parseArgs(args: string[]): RelayArgs | string {
  const flags = defaultRelayFlags();
  let keyFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = isRelaySwitch(arg) ? undefined : args[++i];
    if (!isRelaySwitch(arg) && value === undefined) return `${arg} needs a value`;
    if (arg === "--key-file") {
      keyFile = value;
      continue;
    }
    const problem = applyRelayFlag(flags, arg, value);
    if (problem === null) return `unknown argument ${arg}`;
    if (problem) return problem;
  }
  const auth = flags.auth;
  if (!auth)
    return "the relay is closed by default: choose --allow-keys FILE, --control-key PUB or --open";
  return { ...flags, auth, keyFile };
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
  let privateKey: Uint8Array | undefined;
  if (parsed.keyFile !== undefined) {
    try {
      const key = await loadOrCreateRelayKey(parsed.keyFile);
      if (key.warning !== null) process.stderr.write(`corridor relay: ${key.warning}\n`);
      if (key.created)
        process.stderr.write(`corridor relay: made a new relay key in ${parsed.keyFile}\n`);
      privateKey = key.privateKey;
    } catch (error) {
      bridge.close();
      process.stderr.write(`corridor relay: --key-file: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const relay = await startRelay({
    privateKey,
    host: parsed.host,
    port: parsed.port,
    auth: parsed.auth,
    relayId: parsed.relayId,
    udpBridge: bridge,
    origins: parsed.origins,
    allowedHosts: parsed.allowedHosts,
  });
  const described = describeRelay(parsed.auth, parsed.allowUdp, relay.allowedOrigins);
  // Listen for the stop signal before announcing the start: whoever reads the line may
  // signal at once, and an unhandled SIGTERM would kill us without the shutdown.
  const stopped = untilStopSignal();
  process.stdout.write(
    `corridor relay ${parsed.relayId} listening on ${relay.url} (${described}); relay key ${keyToBase64(relay.relayPublicKey)}${parsed.keyFile === undefined ? " (new at every start: --key-file keeps it)" : ""}\n` +
      `pinned relay URL: ${pinnedRelayUrl(relay.url, relay.relayPublicKey)}\n`,
  );
  await stopped;
  process.stdout.write("corridor relay: shutting down; clients are told to come back\n");
  await relay.close({ restarting: { reconnectInMs: 1000, tryForMs: 60_000 } });
  bridge.close();
  return 0;
}
