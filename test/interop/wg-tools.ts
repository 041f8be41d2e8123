// The WireGuard command-line tools and process plumbing the interop tests share: run a
// command with a timeout (never hang), make keys with `wg`, parse `wg show <iface> dump`,
// stop a child process for sure. wg-host.ts builds the namespaced hosts on top of this.

import { type ChildProcess, spawn } from "node:child_process";
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
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a command (no shell) with a timeout, after which it is killed; never rejects. */
export function run(cmd: readonly string[], options: { input?: string; timeoutMs?: number } = {}) {
  return new Promise<RunResult>((resolve) => {
    const [file, ...args] = cmd;
    if (file === undefined) throw new TypeError("run: empty command");
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${stderr}${error.message}`, code: null });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.on("error", () => {}); // the command may exit without reading its input
    child.stdin.end(options.input ?? "");
  });
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
export interface WgPeerStatus {
  publicKey: string;
  hasPresharedKey: boolean;
  /** "ip:port" as wg prints it, or null before the peer has one. */
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds, or null when off. */
  persistentKeepalive: number | null;
}

/** Parses `wg show <iface> dump`: the first line is the interface, then one line per peer. */
export function parseWgDump(text: string): WgPeerStatus[] {
  const lines = text.split("\n").filter((line) => line !== "");
  return lines.slice(1).map((line) => {
    const f = line.split("\t");
    if (f.length < 8) throw new Error(`wg dump: unexpected peer line ${JSON.stringify(line)}`);
    return {
      publicKey: f[0] ?? "",
      hasPresharedKey: f[1] !== "(none)",
      endpoint: f[2] === "(none)" ? null : (f[2] ?? null),
      allowedIps: f[3] === "(none)" ? [] : (f[3] ?? "").split(","),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === "off" ? null : Number(f[7]),
    };
  });
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
