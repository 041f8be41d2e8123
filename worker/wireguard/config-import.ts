// The checks a wg-quick file must pass to become a network in the page (issue 15): parseConfig
// accepts what `wg setconf` accepts, but a network the browser runs also needs its own tunnel
// address (wg-quick's Address) and at least one [Peer] to talk to. Without them the network
// was accepted and then broken at start; now import refuses it with the line and what is
// missing.

import { ConfigError, parseConfig, type WgConfig } from "./config.ts";

/** The 1-based line of the first `[Interface]` header, or 1 when there is none. */
function interfaceLine(text: string): number {
  const lines = text.split("\n");
  const index = lines.findIndex((l) => /^\s*\[\s*interface\s*\]/i.test(l));
  return index < 0 ? 1 : index + 1;
}

/**
 * parseConfig, then the checks of a network the page runs: an Address in [Interface] and at
 * least one [Peer]. Throws ConfigError naming the line and what to add.
 */
export function parseNetworkConfig(text: string): WgConfig {
  const config = parseConfig(text);
  if (config.interface.addresses.length === 0) {
    throw new ConfigError(
      interfaceLine(text),
      "[Interface] has no Address: add this browser's address inside the tunnel, e.g. Address = 10.8.0.5/32 (the address the host's [Peer] for this browser allows)",
    );
  }
  if (config.peers.length === 0) {
    const lines = text.replace(/\n+$/, "").split("\n").length;
    throw new ConfigError(
      lines,
      "no [Peer] section: add one for the host, with its PublicKey, AllowedIPs and Endpoint (an IP address and port)",
    );
  }
  return config;
}
