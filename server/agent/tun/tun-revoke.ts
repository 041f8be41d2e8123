// Ending the kernel's TCP connections the map no longer allows, in TUN mode (docs/agent-tun.md,
// "When access ends"). The host's own services answer on the mesh addresses, so the agent holds
// none of their connections: a peer removed from the map (a revoked share) loses its WireGuard
// peer and its packets, and nftables drops a port the policy closed, but the sockets stay until
// TCP gives up (minutes, or never for an idle shell). The kernel can end them itself: `ss -K`
// (SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY, on in the common distributions' kernels) aborts a
// socket, so its service sees ECONNABORTED at once (sshd ends the session) and the peer gets a
// RST if it can still hear one. Which sockets: those between one of this node's mesh addresses
// and an address no peer holds any more (every direction: nothing can reach it), and those a
// peer opened to a port the filter no longer lets it reach (judged as revoke.ts judges a flow;
// "a peer opened it" is told by its local port being one a socket listens on, so the host's own
// connections out to a peer, from ephemeral ports, are left alone). Without SOCK_DESTROY ss
// fails; that is logged once, and the connections then time out as before.

import { accessSync, constants } from "node:fs";
import type { Logger } from "../../log.ts";
import { canonicalAddress } from "../mesh-access.ts";
import { goneReason, MapJudge, type SweptMap } from "../revoke.ts";
import type { HostCommands } from "./exec.ts";

/** One end of a kernel socket: its address (canonical) and port. */
export interface SocketEnd {
  address: string;
  port: number;
}

/** A TCP socket as `ss -Htna` lists it. */
export interface KernelSocket {
  /** "ESTAB", "LISTEN", "SYN-RECV", "CLOSE-WAIT", ... */
  state: string;
  local: SocketEnd;
  peer: SocketEnd;
}

/** "100.64.0.2:22", "[fd7a::2]:22", "*:22", "[::ffff:1.2.3.4]:80", "[fe80::1%eth0]:22", "*:*" as an end. */
function parseEnd(text: string): SocketEnd | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  // A listener's peer is "0.0.0.0:*" or "*:*".
  const portText = text.slice(colon + 1);
  const port = portText === "*" ? 0 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const percent = host.indexOf("%");
  if (percent >= 0) host = host.slice(0, percent);
  if (host === "*") return { address: "*", port };
  const address = canonicalAddress(host.replace(/^::ffff:(?=\d+\.)/, ""));
  return address === null ? undefined : { address, port };
}

/** The sockets of `ss -Htna` output; lines it cannot read are skipped. */
export function parseSs(output: string): KernelSocket[] {
  const sockets: KernelSocket[] = [];
  for (const line of output.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words.length < 5) continue;
    const local = parseEnd(words[3]!);
    const peer = parseEnd(words[4]!);
    if (local === undefined || peer === undefined) continue;
    sockets.push({ state: words[0]!, local, peer });
  }
  return sockets;
}

/**
 * The sockets to end under `map`, with why: see the file header. `self` are this node's mesh
 * addresses (canonical); only sockets on them are looked at.
 */
export function socketsToEnd(
  sockets: readonly KernelSocket[],
  map: SweptMap,
  self: ReadonlySet<string>,
  /** Judge ports by the map's filter too (false: `--tun-filter none`, the host firewall's). */
  ports = true,
): { socket: KernelSocket; reason: string }[] {
  const listening = new Set<number>();
  for (const s of sockets) if (s.state === "LISTEN") listening.add(s.local.port);
  const out: { socket: KernelSocket; reason: string }[] = [];
  const judge = new MapJudge(map);
  for (const socket of sockets) {
    // TIME-WAIT holds no service and cannot be destroyed; LISTEN is the service itself.
    if (socket.state === "LISTEN" || socket.state === "TIME-WAIT") continue;
    if (!self.has(socket.local.address) || self.has(socket.peer.address)) continue;
    if (judge.holder(socket.peer.address) === undefined) {
      out.push({ socket, reason: goneReason(socket.peer.address) });
      continue;
    }
    if (!ports || !listening.has(socket.local.port)) continue;
    const reason = judge.flow(socket.peer.address, socket.local.port);
    if (reason !== undefined) out.push({ socket, reason });
  }
  return out;
}

function endText(end: SocketEnd): string {
  return end.address.includes(":") ? `[${end.address}]:${end.port}` : `${end.address}:${end.port}`;
}

/** The `ss` that destroys exactly this socket (its four-tuple). */
export function killCommand(ss: string, socket: KernelSocket): string[] {
  return [ss, "-K", "-Htn", "src", endText(socket.local), "dst", endText(socket.peer)];
}

/** Where iproute2's `ss` is: the first executable of the usual places (default /usr/bin/ss). */
export function findSs(): string {
  for (const path of ["/usr/bin/ss", "/usr/sbin/ss", "/bin/ss", "/sbin/ss"]) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return "/usr/bin/ss";
}

/** Options of a KernelSweep. */
export interface KernelSweepOptions {
  /** Runs `ss` where the interface is (its network namespace, in tests). */
  commands: HostCommands;
  /** This node's mesh addresses now. */
  self: () => readonly string[];
  log: Logger;
  /** Judge ports by the map's filter (default true; false with `--tun-filter none`). */
  ports?: boolean;
  /** The `ss` binary (default: findSs()). */
  ss?: string;
}

/** Ends revoked kernel connections: one `ss` listing per sweep, one `ss -K` per socket. */
export class KernelSweep {
  private warned = false;
  private readonly commands: HostCommands;
  private readonly log: Logger;
  private readonly ss: string;

  constructor(private readonly options: KernelSweepOptions) {
    this.commands = options.commands;
    this.log = options.log;
    this.ss = options.ss ?? findSs();
  }

  /** Lists the sockets, ends those `map` revokes; resolves with how many were ended. */
  async sweep(map: SweptMap): Promise<number> {
    const listed = await this.commands.run([this.ss, "-Htna"]);
    if (listed.code !== 0) {
      this.warnOnce(`\`ss -Htna\` failed: ${listed.stderr.trim() || `exit ${listed.code}`}`);
      return 0;
    }
    const self = new Set(
      this.options
        .self()
        .map(canonicalAddress)
        .filter((a): a is string => a !== null),
    );
    let ended = 0;
    const sockets = parseSs(listed.stdout);
    for (const { socket, reason } of socketsToEnd(sockets, map, self, this.options.ports)) {
      const result = await this.commands.run(killCommand(this.ss, socket));
      if (result.code !== 0) {
        this.warnOnce(
          `\`ss -K\` failed (the kernel needs CONFIG_INET_DIAG_DESTROY): ${result.stderr.trim() || `exit ${result.code}`}`,
        );
        continue;
      }
      ended++;
      this.log.info(
        { local: endText(socket.local), remote: endText(socket.peer), reason },
        "tun_connection_revoked",
      );
    }
    return ended;
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    // Revoked connections are then left to time out, as before.
    this.log.warn({ error: message }, "tun_revoke_unavailable");
  }
}
