// Resolves #/ssh/USER@HOST[:PORT] to a network: one whose hosts include HOST (by address or
// name), else one whose peers' allowed IPs cover HOST.

import type { NetworkSummary } from "../worker/api.ts";
import type { Engine } from "./engine.ts";
import { cidrContains } from "./ip.ts";

export interface ResolvedHost {
  network: NetworkSummary;
  address: string;
}

export async function findNetworkFor(
  engine: Engine,
  networks: NetworkSummary[],
  host: string,
): Promise<ResolvedHost | null> {
  const wanted = host.toLowerCase();
  for (const network of networks) {
    const hosts = await engine.listHosts(network.id).catch(() => []);
    const match = hosts.find(
      (h) =>
        h.address.toLowerCase() === wanted || (h.name !== "" && h.name.toLowerCase() === wanted),
    );
    if (match) return { network, address: match.address };
  }
  for (const network of networks) {
    if (network.peers.some((peer) => peer.allowedIps.some((cidr) => cidrContains(cidr, host)))) {
      return { network, address: host };
    }
  }
  return null;
}
