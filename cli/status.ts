// `corridor status [--socket PATH] [--json]`: what the local agent knows (docs/cli-agent.md):
// this node (name, addresses, the map stream's state, the approval URL while it waits, the
// relay), then one row per peer: name, address, online, path (direct ENDPOINT, direct webrtc
// for a page's data channel, or relay ID),
// round trip, last handshake, bytes. `--json` prints the agent's AgentStatus as it came.

import type { AgentStatus } from "../server/agent/types.ts";
import { CHANNEL_PREFIX } from "../worker/path/channel-bind.ts";
import type { PeerStatus } from "../worker/path/types.ts";
import { table } from "./admin-format.ts";
import { AgentError, agentSocketPath, askAgent, SOCKET_OPTION } from "./agent-client.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";

/** `corridor status`: its options, help and summary. */
export const STATUS_COMMAND = defineCommand({
  name: "status",
  summary: "this node and its peers, as the local agent sees them: path, RTT, handshake, bytes",
  synopsis: ["[--socket PATH] [--json]"],
  options: [SOCKET_OPTION, { name: "json", description: "print the agent's status as JSON" }],
  notes:
    "Exit status: 0 when the agent answered, 1 when no agent runs or it failed, 2 for bad usage.",
});

/** Runs `corridor status`; returns the exit status. */
export function statusCommand(argv: string[]): Promise<number> {
  return runCommand(STATUS_COMMAND, argv, (args) => status(args));
}

async function status({
  values,
  positionals,
}: ParsedArgs<typeof STATUS_COMMAND.options>): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  let answer: AgentStatus;
  try {
    ({ status: answer } = await askAgent(agentSocketPath(values.socket), { op: "status" }));
  } catch (error) {
    if (!(error instanceof AgentError)) throw error;
    process.stderr.write(`corridor status: ${error.message}\n`);
    return 1;
  }
  process.stdout.write(
    values.json ? `${JSON.stringify(answer, null, 2)}\n` : formatStatus(answer, Date.now()),
  );
  return 0;
}

/** "3.2 KiB": bytes in binary units, one decimal above a KiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; "never" for null; "just now" for the future. */
export function formatAgo(at: number | null, now: number): string {
  if (at === null) return "never";
  const seconds = Math.floor((now - at) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/**
 * How a peer is reached: "direct 198.51.100.7:41641", "direct webrtc" (the page's data channel,
 * whose endpoint only repeats the peer's key), "relay r1", or "-".
 */
export function formatPath(peer: PeerStatus): string {
  if (peer.path === "direct") {
    if (peer.endpoint?.startsWith(CHANNEL_PREFIX) === true) return "direct webrtc";
    return `direct ${peer.endpoint ?? "?"}`;
  }
  if (peer.path === "relay") return `relay ${peer.relay ?? "?"}`;
  return "-";
}

/** The human form of `corridor status`: the node's lines, then the peers' table. */
export function formatStatus(status: AgentStatus, now: number): string {
  const lines: string[] = [];
  const self = status.self;
  if (self === null) lines.push("node:     (no map yet)");
  else {
    lines.push(`node:     ${self.name}${self.domain ? `.${self.domain}` : ""}`);
    lines.push(`address:  ${self.addresses.join(", ") || "-"}`);
  }
  lines.push(`mode:     ${status.mode}`);
  lines.push(`control:  ${status.control.state} (${status.control.url})`);
  if (status.control.approvalUrl !== null) {
    lines.push(`approve:  ${status.control.approvalUrl}`);
  }
  const relay = status.relay;
  lines.push(`relay:    ${relay === null ? "-" : `${relay.id} ${relay.state} (${relay.url})`}`);
  if (status.endpoints.length > 0) lines.push(`endpoints: ${status.endpoints.join(", ")}`);
  let out = `${lines.join("\n")}\n\n`;
  if (status.peers.length === 0) return `${out}no peers\n`;
  const rows = [...status.peers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((peer) => [
      peer.name,
      peer.addresses[0] ?? "-",
      peer.online ? "yes" : "no",
      formatPath(peer),
      peer.rttMs === null ? "-" : `${peer.rttMs.toFixed(1)} ms`,
      formatAgo(peer.lastHandshake, now),
      formatBytes(peer.rxBytes),
      formatBytes(peer.txBytes),
    ]);
  out += table(["NAME", "ADDRESS", "ONLINE", "PATH", "RTT", "HANDSHAKE", "RX", "TX"], rows);
  return out;
}
