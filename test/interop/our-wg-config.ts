// The wg-quick file for our side of a test host: our key and tunnel address, the host as the
// one peer at its veth address. The CLI tests (`corridor ping`, `nc` as ProxyCommand, through
// the relay) all start from it.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import type { WgHost } from "./wg-host.ts";

/**
 * Our wg-quick text for `host`: our key, 100.64.0.1/32, the host as the one peer at its veth
 * address with `allowedIps` (default the whole 100.64.0.0/24) and optional extra lines.
 */
export function ourWgConfigText(
  privateKey: Uint8Array,
  host: WgHost,
  allowedIps = "100.64.0.0/24",
  extra: readonly string[] = [],
): string {
  return [
    "[Interface]",
    `PrivateKey = ${keyToBase64(privateKey)}`,
    "Address = 100.64.0.1/32",
    "",
    "[Peer]",
    `PublicKey = ${host.publicKey}`,
    `Endpoint = ${host.hostAddress}:${host.listenPort}`,
    `AllowedIPs = ${allowedIps}`,
    ...extra,
    "",
  ].join("\n");
}

/** Writes `wg0.conf` (mode 0600) into `dir` and returns its path. */
export function writeOurWgConfig(dir: string, privateKey: Uint8Array, host: WgHost): string {
  const path = join(dir, "wg0.conf");
  writeFileSync(path, ourWgConfigText(privateKey, host), { mode: 0o600 });
  return path;
}
