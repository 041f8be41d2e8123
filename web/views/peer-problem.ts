// Why a wg-quick host looks offline, as the engine tells it (NetworkStatus.peers[].problem,
// issue 15): the peer that routes a host's address (longest AllowedIPs match, as WireGuard
// routes) and its problem, the line the host row and Details show it in, and the network's own
// error for the sidebar.

import type { NetworkStatus, NetworkSummary } from "../../worker/api.ts";
import { h } from "../dom.ts";
import { cidrContains } from "../ip.ts";

/** A peer's problem (relay-refused, unreachable, no-handshake) with its sentence. */
export type PeerProblem = NonNullable<NetworkStatus["peers"][number]["problem"]>;

/** The problem of the peer whose AllowedIPs route `address` (the most specific), if any. */
export function problemForAddress(
  status: NetworkStatus,
  network: NetworkSummary,
  address: string,
): PeerProblem | undefined {
  let best: { bits: number; publicKey: string } | undefined;
  for (const peer of network.peers) {
    for (const cidr of peer.allowedIps) {
      if (!cidrContains(cidr, address)) continue;
      const bits = Number(cidr.split("/")[1] ?? (cidr.includes(":") ? 128 : 32));
      if (best === undefined || bits > best.bits) best = { bits, publicKey: peer.publicKey };
    }
  }
  if (best === undefined) return undefined;
  return status.peers.find((p) => p.publicKey === best.publicKey)?.problem;
}

/** The problem as a short line (testid `testid`, data-kind the problem's kind). */
export function problemLine(problem: PeerProblem, testid: string): HTMLElement {
  return h("span", {
    class: "peer-problem-text",
    testid,
    data: { kind: problem.kind },
    text: problem.message,
  });
}

/**
 * What is wrong with the network as a whole, for the sidebar (Details shows the same): it did
 * not start, or the relay refused us for good / showed a key other than the pinned one.
 */
export function networkErrorOf(status: NetworkStatus): string | undefined {
  if (status.state === "error") return `The network stopped: ${status.error ?? "unknown error"}`;
  if (status.relay.error !== undefined) return `Relay: ${status.relay.error}`;
  return undefined;
}
