// `corridor relay`: the relay server (DESIGN §4). Closed by default: the operator chooses who
// may connect (--allow-keys, --control-key, or --open). SIGTERM and SIGINT send RESTARTING to
// every client before the relay closes, so they come back when it does.

import { createLogger, type RelayAuth, startRelay } from "../server/relay/index.ts";
import { UdpBridge } from "../server/relay/udp-bridge.ts";
import { pinnedRelayUrl } from "../worker/relay/relay-url.ts";
import { keyToBase64 } from "../worker/wireguard/keys.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";
import {
  applyRelayOptions,
  defaultRelayFlags,
  describeRelay,
  parseStunPort,
  type RelayFlags,
  SHARED_RELAY_OPTIONS,
  startStunListener,
  stunAddress,
  untilStopSignal,
} from "./relay-flags.ts";
import { loadOrCreateRelayKey } from "./relay-key.ts";
import { parseRegion } from "./relay-list.ts";

/** `corridor relay`: its options, help and summary. */
export const RELAY_COMMAND = defineCommand({
  name: "relay",
  summary: "the relay server alone: WireGuard packets between nodes by key, a UDP bridge to hosts",
  synopsis: [
    "[--listen HOST:PORT] (--allow-keys FILE | --control-key PUB | --open)",
    "[--allow-udp CIDR[:PORTS]]... [--origin ORIGIN]... [--allow-host NAME]...",
    "[--relay-id ID] [--region REGION] [--key-file FILE] [--stun PORT]",
  ],
  options: [
    {
      name: "listen",
      value: "HOST:PORT",
      description: "where to listen; WebSocket path /relay",
      default: "127.0.0.1:8080",
    },
    { name: "open", description: "anyone may connect (say so only where that is meant)" },
    ...SHARED_RELAY_OPTIONS,
    {
      name: "region",
      value: "REGION",
      description:
        "the relay's region, reported in WELCOME (as corridor control --relay-region names it in the maps): up to 64 of A-Z a-z 0-9 _ . -",
      default: "none",
    },
    {
      name: "origin",
      value: "ORIGIN",
      multiple: true,
      description:
        "let web pages of this origin (https://example.com) use the relay; without it, no browser page can (clients that send no Origin, like agents and the CLI, are not affected)",
    },
    {
      name: "key-file",
      value: "FILE",
      description:
        "the relay's X25519 private key (base64), made 0600 if missing: the key stays the same across restarts, so clients can pin it (#key=); without it, a new key at every start",
    },
    {
      name: "stun",
      value: "PORT",
      description:
        "also answer STUN Binding requests (RFC 5389) on this UDP port of the listen address: agents learn the address their UDP is seen from (give it to the control server: corridor control --relay-stun HOST:PORT); 0: off",
      default: "0 (off)",
    },
  ],
  notes:
    "The relay is closed by default: choose who may connect. SIGTERM and SIGINT tell clients\n" +
    "to come back before it closes.",
});

type RelayArgs = RelayFlags & {
  auth: RelayAuth;
  keyFile: string | undefined;
  stun: number;
  region: string;
};

/** The checked command line of `corridor relay`; throws UsageError naming what is wrong. */
export function relayArgs({
  values,
  given,
  positionals,
}: ParsedArgs<typeof RELAY_COMMAND.options>): RelayArgs {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const flags = defaultRelayFlags();
  applyRelayOptions(flags, given);
  const auth = flags.auth;
  if (!auth) {
    throw new UsageError(
      "the relay is closed by default: choose --allow-keys FILE, --control-key PUB or --open",
    );
  }
  const stun = values.stun === undefined ? 0 : parseStunPort(values.stun);
  const region = parseRegion(values.region ?? "", "--region");
  return { ...flags, auth, keyFile: values["key-file"], stun, region };
}

/** Runs `corridor relay` until SIGTERM/SIGINT; returns the exit status. */
export function relayCommand(argv: string[]): Promise<number> {
  return runCommand(RELAY_COMMAND, argv, (args) => runRelay(relayArgs(args)));
}

async function runRelay(parsed: RelayArgs): Promise<number> {
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
    region: parsed.region,
    udpBridge: bridge,
    origins: parsed.origins,
    allowedHosts: parsed.allowedHosts,
  });
  // The relay holds its own copy: ours need not stay in memory.
  privateKey?.fill(0);
  let stun: Awaited<ReturnType<typeof startStunListener>>;
  try {
    stun = await startStunListener(parsed.host, parsed.stun, createLogger());
  } catch (error) {
    await relay.close();
    bridge.close();
    process.stderr.write(`corridor relay: ${(error as Error).message}\n`);
    return 1;
  }
  const stunText = stun === null ? "" : `; STUN on udp ${stunAddress(parsed.host, stun.port)}`;
  const described = describeRelay(parsed.auth, parsed.allowUdp, relay.allowedOrigins);
  // Listen for the stop signal before announcing the start: whoever reads the line may
  // signal at once, and an unhandled SIGTERM would kill us without the shutdown.
  const stopped = untilStopSignal();
  process.stdout.write(
    `corridor relay ${parsed.relayId}${parsed.region === "" ? "" : ` (region ${parsed.region})`} listening on ${relay.url} (${described})${stunText}; relay key ${keyToBase64(relay.relayPublicKey)}${parsed.keyFile === undefined ? " (new at every start: --key-file keeps it)" : ""}\n` +
      `pinned relay URL: ${pinnedRelayUrl(relay.url, relay.relayPublicKey)}\n`,
  );
  await stopped;
  process.stdout.write("corridor relay: shutting down; clients are told to come back\n");
  await relay.close({ restarting: { reconnectInMs: 1000, tryForMs: 60_000 } });
  await stun?.close();
  bridge.close();
  return 0;
}
