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

/** A piece of a problem sentence: plain text, or a command-line flag (with its value) as code. */
export interface MessagePart {
  text: string;
  code: boolean;
}

// "--allow-udp 10.0.0.5/32:51820": a flag, and its value when the next word looks like one (a
// digit, ":", "/" or "[" in it), so a phone never breaks the flag from its value.
const FLAG = /--[a-z][a-z0-9-]*(?: (?=[^\s()]*[\d:/[])[^\s()]+)?/g;

/** Splits `message` into text and flags, in order; the parts joined give `message` back. */
export function messageParts(message: string): MessagePart[] {
  const parts: MessagePart[] = [];
  let at = 0;
  for (const m of message.matchAll(FLAG)) {
    if (m.index > at) parts.push({ text: message.slice(at, m.index), code: false });
    parts.push({ text: m[0], code: true });
    at = m.index + m[0].length;
  }
  if (at < message.length) parts.push({ text: message.slice(at), code: false });
  return parts;
}

/**
 * "--allow-udp 10.0.0.5/32:51820" as <code>: the flag never breaks; a narrow column (the sidebar)
 * may put its value on the next line, and break a long value, rather than run past its edge.
 */
function flagCode(text: string): HTMLElement {
  const space = text.indexOf(" ");
  if (space < 0) return h("code", { class: "flag" }, h("span", { class: "flag-name", text }));
  return h(
    "code",
    { class: "flag" },
    h("span", { class: "flag-name", text: text.slice(0, space) }),
    " ",
    h("span", { class: "flag-value", text: text.slice(space + 1) }),
  );
}

/** The problem as a short line (testid `testid`, data-kind the problem's kind). */
export function problemLine(problem: PeerProblem, testid: string): HTMLElement {
  // Text nodes and <code> elements only: the sentence names addresses from the network.
  return h(
    "span",
    { class: "peer-problem-text", testid, data: { kind: problem.kind } },
    ...messageParts(problem.message).map((part) => (part.code ? flagCode(part.text) : part.text)),
  );
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
