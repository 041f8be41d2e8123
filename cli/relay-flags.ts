// The relay's command-line flags, shared by `corridor relay` and `corridor serve` (which runs
// the same relay beside the page): who may connect, what the UDP bridge may reach, origins,
// the relay's id, where to listen; and the shutdown both do on SIGTERM/SIGINT.

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { type Logger, parseOrigin, type RelayAuth } from "../server/relay/index.ts";
import { type StunServer, startStunServer } from "../server/relay/stun-server.ts";
import { parseControlKey } from "../server/relay/token.ts";
import { keyFromBase64 } from "../worker/wireguard/keys.ts";
import { type GivenOption, UsageError } from "./args.ts";

/**
 * Who may use the relay and what its UDP bridge may reach: options `corridor relay` and
 * `corridor serve` share, as the argument parser takes them.
 */
export const RELAY_ACCESS_OPTIONS = [
  {
    name: "allow-keys",
    value: "FILE",
    description: "WireGuard public keys (base64, one per line, # comments) that may connect",
  },
  {
    name: "control-key",
    value: "PUB",
    description: "the control server's Ed25519 public key (base64): connect with its tokens",
  },
  {
    name: "allow-udp",
    value: "SPEC",
    multiple: true,
    description:
      "stock WireGuard endpoints the UDP bridge may reach: CIDR, CIDR:PORT or CIDR:LO-HI; tokens may add their own. Loopback, link-local, multicast and broadcast addresses only when SPEC lies inside them (127.0.0.1/32:51820, not 0.0.0.0/0)",
  },
  {
    name: "allow-host",
    value: "NAME",
    multiple: true,
    description:
      "a host name /healthz and /metrics answer to besides IP addresses, localhost and the listen host (a DNS rebinding defence)",
  },
] as const;

/**
 * RELAY_ACCESS_OPTIONS and the relay's id (`corridor relay`; `corridor serve` takes several
 * ids, its relay's and the others': relay-list.ts).
 */
export const SHARED_RELAY_OPTIONS = [
  ...RELAY_ACCESS_OPTIONS,
  {
    name: "relay-id",
    value: "ID",
    description: "the relay's id in WELCOME and tokens",
    default: "the host name",
  },
] as const;

/** What the relay flags say. */
export interface RelayFlags {
  host: string;
  port: number;
  auth: RelayAuth | undefined;
  allowUdp: string[];
  /** Browser origins that may use the relay (canonical, as `Origin` carries them). */
  origins: string[];
  /** Host names /healthz and /metrics answer to besides IP literals and loopback names. */
  allowedHosts: string[];
  relayId: string;
}

/** Defaults: 127.0.0.1:8080, no auth chosen, nothing bridged, the host name as id. */
export function defaultRelayFlags(): RelayFlags {
  return {
    host: "127.0.0.1",
    port: 8080,
    auth: undefined,
    allowUdp: [],
    origins: [],
    allowedHosts: [],
    relayId: hostname(),
  };
}

/** Reads an allow-list of base64 WireGuard public keys (one per line, '#' comments). */
export function readKeys(file: string): Uint8Array[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((line, i) => [line.replace(/#.*/, "").trim(), i + 1] as const)
    .filter(([line]) => line.length > 0)
    .map(([line, n]) => keyFromBase64(line, `${file}: line ${n}`));
}

function chooseAuth(flags: RelayFlags, auth: RelayAuth): string | undefined {
  if (flags.auth) return "choose one of --allow-keys, --control-key and --open";
  flags.auth = auth;
  return undefined;
}

/** A port from 0 to 65535, or the error text. */
export function parsePort(text: string, flag: string): number | string {
  const port = Number(text);
  if (text === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return `${flag} '${text}': expected a port from 0 to 65535`;
  }
  return port;
}

/**
 * Applies one relay flag (`value` is undefined for a switch). Returns an error text, null when
 * `arg` is not a relay flag, or undefined when it was applied.
 */
export function applyRelayFlag(
  flags: RelayFlags,
  arg: string,
  value: string | undefined,
): string | null | undefined {
  if (arg === "--open") return chooseAuth(flags, { mode: "open" });
  if (value === undefined) return null;
  switch (arg) {
    case "--listen": {
      const colon = value.lastIndexOf(":");
      const port = parsePort(value.slice(colon + 1), "--listen");
      if (colon < 1 || typeof port === "string") {
        return `--listen '${value}': expected HOST:PORT with a port from 0 to 65535`;
      }
      flags.host = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
      flags.port = port;
      return undefined;
    }
    case "--allow-keys":
      return chooseAuth(flags, { mode: "keys", allowed: readKeys(value) });
    case "--control-key":
      return chooseAuth(flags, {
        mode: "token",
        controlPublicKey: parseControlKey(value, "--control-key"),
      });
    case "--allow-udp":
      flags.allowUdp.push(value);
      return undefined;
    case "--origin":
      try {
        flags.origins.push(parseOrigin(value));
      } catch (error) {
        return `--origin: ${(error as Error).message}`;
      }
      return undefined;
    case "--allow-host":
      if (!/^[a-z0-9.-]{1,253}$/i.test(value)) {
        return `--allow-host '${value}': expected a host name such as relay.example.com`;
      }
      flags.allowedHosts.push(value.toLowerCase());
      return undefined;
    case "--relay-id":
      flags.relayId = value;
      return undefined;
    default:
      return null;
  }
}

/**
 * Applies the relay options among `given` to `flags`, in command-line order; returns the
 * options that are not relay flags (the command's own). Throws UsageError naming what is wrong.
 */
export function applyRelayOptions(flags: RelayFlags, given: readonly GivenOption[]): GivenOption[] {
  const others: GivenOption[] = [];
  for (const option of given) {
    let problem: string | null | undefined;
    try {
      problem = applyRelayFlag(flags, `--${option.name}`, option.value);
    } catch (error) {
      // A key file that cannot be read, a control key that is no key: the command line's fault.
      throw new UsageError((error as Error).message);
    }
    if (problem === null) others.push(option);
    else if (problem !== undefined) throw new UsageError(problem);
  }
  return others;
}

/** "auth: open; udp bridge: 10.0.0.0/8; web pages: none" for the startup line. */
export function describeRelay(
  auth: RelayAuth,
  allowUdp: readonly string[],
  origins: readonly string[] = [],
): string {
  const mode = auth.mode === "keys" ? `${auth.allowed.length} allowed keys` : auth.mode;
  const udp = allowUdp.length > 0 ? allowUdp.join(", ") : "token allowances only";
  const pages = origins.length > 0 ? origins.join(" ") : "none (no --origin)";
  return `auth: ${mode}; udp bridge: ${udp}; web pages: ${pages}`;
}

/**
 * The `--stun PORT` of `corridor relay` and `corridor serve`: a UDP port from 1 to 65535, or 0
 * for none. Throws UsageError naming the flag.
 */
export function parseStunPort(text: string): number {
  const port = parsePort(text, "--stun");
  if (typeof port === "string") throw new UsageError(`${port} (0 turns STUN off)`);
  return port;
}

/** A STUN listener as the start line names it: "udp HOST:PORT" ("[v6]:PORT" for IPv6). */
export function stunAddress(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Starts the relay's STUN listener (server/relay/stun-server.ts) on `host:port`, or resolves
 * null when `port` is 0. An error names the port (taken, not allowed).
 */
export async function startStunListener(
  host: string,
  port: number,
  log: Logger,
): Promise<StunServer | null> {
  if (port === 0) return null;
  try {
    return await startStunServer({ host, port, log });
  } catch (error) {
    throw new Error(
      `--stun: cannot listen on udp ${stunAddress(host, port)}: ${(error as Error).message}`,
    );
  }
}

/** Resolves on the first SIGTERM or SIGINT. */
export function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
}
