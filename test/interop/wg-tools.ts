// The WireGuard command-line tools and process plumbing the interop tests share: run a
// command with a timeout (never hang), make keys with `wg`, parse `wg show <iface> dump`,
// stop a child process for sure. wg-host.ts builds the namespaced hosts on top of this.

import type { ChildProcess } from "node:child_process";
import { type CommandResult, runCommand } from "../../server/agent/tun/exec.ts";
import { parseWgDump as parseDump, type WgDumpPeer } from "../../server/agent/tun/wg-dump.ts";
import { executable } from "../helpers/prereq.ts";

/** Absolute paths of the tools (Debian's; `ip` is in /usr/sbin or, merged, /usr/bin). */
export const WG_TOOLS = {
  wireguardGo: "/usr/bin/wireguard-go",
  wg: "/usr/bin/wg",
  ip:
    ["/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"].find((p) => executable(p).ok) ??
    "/usr/sbin/ip",
} as const;

/** What a command printed and how it ended (code null: killed by a signal or the timeout). */
export type RunResult = CommandResult;

/**
 * Runs a command (no shell) with a timeout, after which it is killed; never rejects. The agent's
 * own runner, so the tests drive `wg` and `ip` exactly as TUN mode does.
 */
export function run(
  cmd: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return runCommand(cmd, options);
}

/** run(), throwing an Error with the command and its stderr unless it exits 0. */
export async function must(
  cmd: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
) {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    const why = result.stderr.trim() || `exit code ${result.code}`;
    throw new Error(`\`${cmd.join(" ")}\` failed: ${why}`);
  }
  return result;
}

/** A fresh WireGuard key pair from `wg genkey` / `wg pubkey`, base64. */
export async function wgGenKey(): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = (await must([WG_TOOLS.wg, "genkey"])).stdout.trim();
  const publicKey = (
    await must([WG_TOOLS.wg, "pubkey"], { input: `${privateKey}\n` })
  ).stdout.trim();
  return { privateKey, publicKey };
}

/** One peer of a running interface, from `wg show <iface> dump`. */
export type WgPeerStatus = WgDumpPeer;

/** The peers of `wg show <iface> dump`, read by the agent's own (strict) parser. */
export function parseWgDump(text: string): WgPeerStatus[] {
  return parseDump(text).peers;
}

/** A peer of the host, as `wg set <iface> peer ...` takes it. */
export interface WgPeerConfig {
  publicKey: string;
  /** Comma-separated or a list; replaces the peer's allowed IPs. */
  allowedIps?: string | readonly string[];
  /** "ip:port" (IPv6 in brackets). */
  endpoint?: string;
  /** Base64 preshared key; "" removes it. */
  presharedKey?: string;
  /** Seconds; 0 turns it off. */
  persistentKeepalive?: number;
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
export function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill("SIGKILL"), 3000);
    const give = setTimeout(resolve, 6000); // never hang, even if "exit" never comes
    child.once("exit", () => {
      clearTimeout(hard);
      clearTimeout(give);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * The `wg set <iface>` arguments for a peer. `keyFile` stores a preshared key in a 0600 file
 * and returns its path; `defaultAllowed` is used when the peer names no allowed IPs.
 */
export function wgPeerArgs(
  peer: WgPeerConfig,
  keyFile: (base64: string) => string,
  defaultAllowed?: string,
): string[] {
  const out = ["peer", peer.publicKey];
  if (peer.presharedKey !== undefined) {
    out.push("preshared-key", peer.presharedKey === "" ? "/dev/null" : keyFile(peer.presharedKey));
  }
  const allowed = peer.allowedIps ?? defaultAllowed;
  if (allowed !== undefined) {
    out.push("allowed-ips", typeof allowed === "string" ? allowed : allowed.join(","));
  }
  if (peer.endpoint !== undefined) out.push("endpoint", peer.endpoint);
  const keepalive = peer.persistentKeepalive;
  if (keepalive !== undefined)
    out.push("persistent-keepalive", keepalive === 0 ? "off" : `${keepalive}`);
  return out;
}
