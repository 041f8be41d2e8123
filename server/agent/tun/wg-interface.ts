// A real WireGuard interface for TUN mode (docs/agent-tun.md): the kernel module when
// `ip link add IFACE type wireguard` works, else wireguard-go in the foreground as our child.
// The private key goes in through a named pipe (key-fifo.ts: never on a command line, never
// in a file); then listen port, MTU, link up, the node's mesh addresses and routes
// for the mesh's prefixes (100.64.0.0/10 and the map's ULA /48) through the interface.
// close() deletes the interface (wireguard-go exits when its interface goes), and a process
// exit hook deletes it too if the agent ends without close().

import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";
import type { Logger } from "../../log.ts";
import type { HostCommands } from "./exec.ts";
import { withSecretFifo } from "./key-fifo.ts";
import { parseWgDump, type WgDump } from "./wg-dump.ts";

/** The mesh's IPv4 prefix (CGNAT space; every node's IPv4 is in it). */
export const MESH_V4_PREFIX = "100.64.0.0/10";

/** Options of WgInterface.create(). */
export interface WgInterfaceOptions {
  /** Interface name: 1-15 of A-Z a-z 0-9 _ . - (the kernel's limit). */
  iface: string;
  /** The node's WireGuard private key (base64). */
  privateKey: string;
  /** UDP listen port; 0 or absent: the system picks one (read back after). */
  listenPort?: number;
  /** Default 1420. */
  mtu?: number;
  commands: HostCommands;
  log: Logger;
  /** "auto" (default): the kernel module when it loads, else wireguard-go. */
  implementation?: "auto" | "kernel" | "wireguard-go";
  /** How long wireguard-go may take to bring its interface up (default 10 s). */
  startTimeoutMs?: number;
}

/** Checks an interface name before it reaches any command. */
export function checkInterfaceName(iface: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface) || iface === "." || iface === "..") {
    throw new TypeError(
      `interface name ${JSON.stringify(iface)}: 1-15 characters of A-Z a-z 0-9 _ . - (Linux's limit)`,
    );
  }
  return iface;
}

/** The route prefixes for a node's addresses: the IPv4 /10 and, per IPv6 address, its /48. */
export function meshPrefixes(addresses: readonly string[]): string[] {
  const out = new Set<string>();
  for (const address of addresses) {
    const bytes = parseIp(address, `mesh address ${JSON.stringify(address)}`);
    if (bytes.length === 4) out.add(MESH_V4_PREFIX);
    else {
      const prefix = new Uint8Array(16);
      prefix.set(bytes.subarray(0, 6));
      out.add(`${formatIp(prefix)}/48`);
    }
  }
  return [...out];
}

/** `address` with its host prefix length (/32 or /128). */
function hostCidr(address: string): string {
  return `${address}/${parseIp(address).length === 4 ? 32 : 128}`;
}

/** A WireGuard interface brought up by this process. */
export class WgInterface {
  private addresses: string[] = [];
  private routes: string[] = [];
  private closing: Promise<void> | undefined;
  private port = 0;
  private readonly exitHook = () => this.deleteSync();

  private constructor(
    readonly iface: string,
    /** Which implementation runs it. */
    readonly kind: "kernel" | "wireguard-go",
    private readonly commands: HostCommands,
    private readonly log: Logger,
    private readonly child: ChildProcess | undefined,
    private readonly childLog: () => string,
  ) {
    process.on("exit", this.exitHook);
  }

  /**
   * Creates and configures the interface. On any failure what was made is removed and the
   * error names the failed command with its stderr (and wireguard-go's output, if it ran).
   */
  static async create(options: WgInterfaceOptions): Promise<WgInterface> {
    const iface = checkInterfaceName(options.iface);
    const { commands, log } = options;
    const { ip, wg } = commands.tools;
    const want = options.implementation ?? "auto";
    if ((await commands.run([ip, "link", "show", "dev", iface])).code === 0) {
      throw new Error(
        `interface ${iface} already exists (another agent, or one left behind: \`ip link del ${iface}\`)`,
      );
    }
    let kind: "kernel" | "wireguard-go" = "wireguard-go";
    if (want !== "wireguard-go") {
      const added = await commands.run([ip, "link", "add", iface, "type", "wireguard"]);
      if (added.code === 0) kind = "kernel";
      else if (want === "kernel") {
        throw new Error(`\`ip link add ${iface} type wireguard\` failed: ${added.stderr.trim()}`);
      } else log.info({ iface, why: added.stderr.trim() }, "tun_kernel_module_unavailable");
    }
    let child: ChildProcess | undefined;
    let output = "";
    const childLog = () => output;
    if (kind === "wireguard-go") {
      // A minimal environment (exec.ts's toolEnv): the agent's secrets stay with the agent.
      child = commands.spawn([commands.tools.wireguardGo, "-f", iface], {
        WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1",
        LOG_LEVEL: "error",
      });
      const append = (chunk: Buffer) => {
        output = (output + chunk.toString("utf8")).slice(-16384);
      };
      child.stdout?.on("data", append);
      child.stderr?.on("data", append);
      child.on("error", (error) => append(Buffer.from(`[spawn error: ${error.message}]\n`)));
    }
    const made = new WgInterface(iface, kind, commands, log, child, childLog);
    try {
      if (child !== undefined) await made.waitForWireguardGo(options.startTimeoutMs ?? 10_000);
      const port = options.listenPort ?? 0;
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new RangeError(`listen port ${port}: expected 0-65535`);
      }
      // The key through a named pipe: never on a command line, never in a file (key-fifo.ts).
      await withSecretFifo(`${options.privateKey}\n`, (path) =>
        commands.must([wg, "set", iface, "private-key", path, "listen-port", `${port}`]),
      );
      await commands.must([ip, "link", "set", "dev", iface, "mtu", `${options.mtu ?? 1420}`]);
      await commands.must([ip, "link", "set", "dev", iface, "up"]);
      made.port = (await made.dump()).iface.listenPort;
      log.info({ iface, kind, listenPort: made.port }, "tun_interface_up");
      return made;
    } catch (error) {
      await made.close().catch(() => {});
      const out = childLog().trim();
      if (out !== "") (error as Error).message += `; wireguard-go said: ${out}`;
      throw error;
    }
  }

  /** The UDP port it listens on. */
  get listenPort(): number {
    return this.port;
  }

  private async waitForWireguardGo(timeoutMs: number): Promise<void> {
    const child = this.child;
    const deadline = Date.now() + timeoutMs;
    while ((await this.commands.run([this.commands.tools.wg, "show", this.iface])).code !== 0) {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`wireguard-go exited before bringing up ${this.iface}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`wireguard-go did not bring up ${this.iface} within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The interface and its peers, as `wg show IFACE dump` says now. */
  async dump(): Promise<WgDump> {
    const out = await this.commands.must([this.commands.tools.wg, "show", this.iface, "dump"]);
    return parseWgDump(out.stdout);
  }

  /** Runs `wg set IFACE ...args` (peer changes). */
  async wgSet(args: readonly string[]): Promise<void> {
    await this.commands.must([this.commands.tools.wg, "set", this.iface, ...args]);
  }

  /**
   * Puts exactly `addresses` on the interface (removing ones from an earlier call) and routes
   * the mesh prefixes they belong to through it.
   */
  async setAddresses(addresses: readonly string[]): Promise<void> {
    const { ip } = this.commands.tools;
    const next = [...addresses];
    const routes = meshPrefixes(next);
    for (const old of this.addresses.filter((a) => !next.includes(a))) {
      await this.commands.run([ip, "addr", "del", hostCidr(old), "dev", this.iface]);
    }
    for (const address of next.filter((a) => !this.addresses.includes(a))) {
      const v6 = parseIp(address).length === 16;
      // nodad: the address is ours by the control server's say; no neighbour to ask.
      const args = [ip, "addr", "add", hostCidr(address), "dev", this.iface];
      await this.commands.must(v6 ? [...args, "nodad"] : args);
    }
    this.addresses = next;
    for (const old of this.routes.filter((r) => !routes.includes(r))) {
      await this.commands.run([ip, "route", "del", old, "dev", this.iface]);
    }
    for (const route of routes.filter((r) => !this.routes.includes(r))) {
      const added = await this.commands.run([ip, "route", "add", route, "dev", this.iface]);
      if (added.code !== 0) {
        throw new Error(
          `\`ip route add ${route} dev ${this.iface}\` failed: ${added.stderr.trim()} (another route for the mesh prefix? see \`ip route show ${route}\`)`,
        );
      }
    }
    this.routes = routes;
    this.log.info({ iface: this.iface, addresses: next, routes }, "tun_addresses");
  }

  /** The last output of wireguard-go (for error messages); "" with the kernel module. */
  childOutput(): string {
    return this.childLog();
  }

  /** Deletes the interface (its addresses and routes go with it) and waits for wireguard-go. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      process.off("exit", this.exitHook);
      const { ip } = this.commands.tools;
      const deleted = await this.commands.run([ip, "link", "del", "dev", this.iface]);
      const child = this.child;
      if (child !== undefined) {
        await stopChild(child);
        // wireguard-go removes its socket on a clean exit; a killed one leaves it behind.
        rmSync(`/var/run/wireguard/${this.iface}.sock`, { force: true });
      }
      if (deleted.code !== 0 && !/Cannot find device|does not exist/.test(deleted.stderr)) {
        throw new Error(`\`ip link del dev ${this.iface}\` failed: ${deleted.stderr.trim()}`);
      }
      this.log.info({ iface: this.iface }, "tun_interface_down");
    })();
    return this.closing;
  }

  /** Best effort at process exit (no event loop left): delete the link, kill wireguard-go. */
  private deleteSync(): void {
    try {
      const [file, ...args] = this.commands.argv([
        this.commands.tools.ip,
        "link",
        "del",
        "dev",
        this.iface,
      ]);
      execFileSync(file ?? this.commands.tools.ip, args, {
        stdio: "ignore",
        timeout: 5000,
      });
    } catch {}
    try {
      this.child?.kill("SIGKILL");
    } catch {}
  }
}

/** Waits for wireguard-go to exit (it does once its interface is gone); SIGTERM, then SIGKILL. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const term = setTimeout(() => child.kill("SIGTERM"), 2000);
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
    const give = setTimeout(done, 8000);
    function done() {
      clearTimeout(term);
      clearTimeout(kill);
      clearTimeout(give);
      resolve();
    }
    child.once("exit", done);
  });
}
