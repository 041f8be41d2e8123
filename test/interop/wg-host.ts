// A stock WireGuard test host (DESIGN.md §5): wireguard-go in its own network namespace,
// reached from the root namespace over a veth pair on a /30.
//
//   const host = await createWgHost({ peer: { publicKey: ours.publicKey } });
//   ... UDP to `${host.hostAddress}:${host.listenPort}`, tunnel traffic to host.tunnelAddress
//   await host.close();
//
// Names (wg-netns.ts): every host has its own namespace, veth pair and WireGuard interface,
// all named from a random stem that also holds the creating pid. The interface is NOT "wg0":
// wireguard-go's control socket is /var/run/wireguard/<iface>.sock in the filesystem all
// namespaces share, so a second wg0 fails ("UAPI listen error: unix socket in use") and `wg`
// in one namespace would configure the other's device.
//
// Teardown. Each setup step pushes its undo; close() (and a failed setup) runs them in reverse,
// each best-effort, so a half-built host is removed too. A process exit handler removes hosts
// never closed. Every command runs with a timeout (10 s by default): nothing hangs.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Check,
  executable,
  exists,
  linux,
  type Prereq,
  prereq,
  root,
} from "../helpers/prereq.ts";
import {
  addSubnet,
  installExitHook,
  newStem,
  removeNamespaceSync,
  removeStaleHosts,
  uapiSocket,
  unclosed,
} from "./wg-netns.ts";
import {
  killAndWait,
  must,
  parseWgDump,
  type RunResult,
  run,
  WG_TOOLS,
  type WgPeerConfig,
  type WgPeerStatus,
  wgGenKey,
  wgPeerArgs,
} from "./wg-tools.ts";

export { removeStaleHosts } from "./wg-netns.ts";
export {
  must,
  parseWgDump,
  type RunResult,
  run,
  WG_TOOLS,
  type WgPeerConfig,
  type WgPeerStatus,
  wgGenKey,
  wgPeerArgs,
} from "./wg-tools.ts";

/** What a WgHost needs: Linux, root, wireguard-go, wg, ip and /dev/net/tun. */
export function wgHostPrereq(): Prereq {
  const checks: Check[] = [
    linux(),
    root(),
    executable(WG_TOOLS.wireguardGo),
    executable(WG_TOOLS.wg),
  ];
  checks.push(executable(WG_TOOLS.ip), exists("/dev/net/tun"));
  return prereq(...checks);
}

/** Options of createWgHost. */
export interface WgHostOptions {
  /** The host's one peer (normally us); allowed IPs default to 100.64.0.1/32. */
  peer: WgPeerConfig;
  /** The host's own private key (base64); default: a fresh one from `wg genkey`. */
  privateKey?: string;
  /** Default 51820 (each host has its own namespace, so hosts never collide on it). */
  listenPort?: number;
  /** The host's tunnel address, default "100.64.0.2", on a /24 (`tunnelPrefixLength`). */
  tunnelAddress?: string;
  tunnelPrefixLength?: number;
  /** MTU of the WireGuard interface; default wireguard-go's (1420). */
  mtu?: number;
  /** 1-5 lowercase letters starting every name; default "cwg". */
  prefix?: string;
  /** wireguard-go's LOG_LEVEL: "verbose" (default; see logs()), "error" or "silent". */
  logLevel?: "verbose" | "error" | "silent";
}

/** A running stock WireGuard host. */
export interface WgHost {
  /** The network namespace, the veth ends (root side, namespace side), the wg interface. */
  readonly namespace: string;
  readonly vethRoot: string;
  readonly vethHost: string;
  readonly iface: string;
  /** The veth address inside the namespace (send WireGuard UDP here) and ours in the root. */
  readonly hostAddress: string;
  readonly ourAddress: string;
  readonly listenPort: number;
  /** The host's key pair (base64). */
  readonly publicKey: string;
  readonly privateKey: string;
  /** The host's address inside the tunnel. */
  readonly tunnelAddress: string;
  /** Runs a command inside the namespace (timeout 10 s unless given); never rejects. */
  exec(
    cmd: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<RunResult>;
  /**
   * Starts a long-running command inside the namespace (sshd -D, a TCP server); close() kills
   * it. Its stdout/stderr flow (never block); add 'data' listeners at once to read them.
   */
  spawn(cmd: readonly string[]): ChildProcess;
  /** The peers as `wg show <iface> dump` reports them. */
  wgShow(): Promise<WgPeerStatus[]>;
  /** Adds or updates a peer. */
  setPeer(peer: WgPeerConfig): Promise<void>;
  /** Removes a peer. */
  removePeer(publicKey: string): Promise<void>;
  /** Polls wgShow() until `publicKey` has a handshake (rejects after `timeoutMs`, default 10 s). */
  waitForHandshake(publicKey: string, timeoutMs?: number): Promise<WgPeerStatus>;
  /** The last ~64 KiB wireguard-go printed (its log, for failure messages). */
  logs(): string;
  /** Kills everything started in the namespace and deletes the veth and the namespace. */
  close(): Promise<void>;
}

/**
 * Builds a WireGuard host in a fresh namespace (DESIGN.md §5) and returns it running, with
 * `options.peer` configured. On any failure everything made so far is removed and the error
 * (naming the failed command and its stderr) is thrown.
 */
export async function createWgHost(options: WgHostOptions): Promise<WgHost> {
  const prefix = options.prefix ?? "cwg";
  if (!/^[a-z]{1,5}$/.test(prefix)) throw new TypeError(`prefix ${prefix}: 1-5 lowercase letters`);
  installExitHook();
  await removeStaleHosts(prefix);

  const undo: { what: string; run: () => Promise<void> | void }[] = [];
  const children = new Set<ChildProcess>();
  const ip = (...args: string[]) => must([WG_TOOLS.ip, ...args]);

  // Namespace: retried while the random stem is taken.
  let stem = "";
  for (let attempt = 0; ; attempt++) {
    stem = newStem(prefix);
    const made = await run([WG_TOOLS.ip, "netns", "add", stem]);
    if (made.code === 0) break;
    if (attempt >= 5 || !made.stderr.includes("File exists")) {
      throw new Error(`\`ip netns add ${stem}\` failed: ${made.stderr.trim()}`);
    }
  }
  const namespace = stem;
  const vethRoot = `${stem}r`;
  const vethHost = `${stem}n`;
  const iface = `${stem}w`;
  const inNs = (cmd: readonly string[]) => [WG_TOOLS.ip, "netns", "exec", namespace, ...cmd];
  const syncTeardown = () => removeNamespaceSync(namespace, vethRoot);
  unclosed.add(syncTeardown);
  undo.push({
    what: "namespace",
    run: async () => {
      const pids = await run([WG_TOOLS.ip, "netns", "pids", namespace]);
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
      await ip("netns", "del", namespace);
      unclosed.delete(syncTeardown);
    },
  });

  let log = "";
  const teardown = async (): Promise<string[]> => {
    const errors: string[] = [];
    for (const step of undo.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        errors.push(`${step.what}: ${(error as Error).message}`);
      }
    }
    return errors;
  };

  try {
    const keyDir = mkdtempSync(join(tmpdir(), `${stem}-`)); // mode 0700
    undo.push({ what: "key dir", run: () => rmSync(keyDir, { recursive: true, force: true }) });
    let keyFiles = 0;
    const keyFile = (base64: string) => {
      const path = join(keyDir, `key${keyFiles++}`);
      writeFileSync(path, `${base64}\n`, { mode: 0o600 });
      return path;
    };
    const privateKey = options.privateKey ?? (await wgGenKey()).privateKey;
    const publicKey = (
      await must([WG_TOOLS.wg, "pubkey"], { input: `${privateKey}\n` })
    ).stdout.trim();

    await ip("-n", namespace, "link", "set", "lo", "up");
    await ip("link", "add", vethRoot, "type", "veth", "peer", "name", vethHost, "netns", namespace);
    undo.push({
      what: "veth",
      run: async () => {
        await run([WG_TOOLS.ip, "link", "del", vethRoot]); // gone with the namespace otherwise
      },
    });

    const { ourAddress, hostAddress } = await addSubnet(vethRoot);
    await ip("link", "set", vethRoot, "up");
    await ip("-n", namespace, "addr", "add", `${hostAddress}/30`, "dev", vethHost);
    await ip("-n", namespace, "link", "set", vethHost, "up");

    // wireguard-go in the foreground (-f), so it is our child and its log is ours.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1",
      LOG_LEVEL: options.logLevel ?? "verbose",
    };
    const [file, ...args] = inNs([WG_TOOLS.wireguardGo, "-f", iface]);
    const wgGo = spawn(file ?? WG_TOOLS.ip, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(wgGo);
    const append = (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-65536);
    };
    wgGo.stdout.on("data", append);
    wgGo.stderr.on("data", append);
    wgGo.on("error", (error) => append(Buffer.from(`\n[spawn error: ${error.message}]\n`)));
    undo.push({
      what: "wireguard-go",
      run: async () => {
        await killAndWait(wgGo);
        rmSync(uapiSocket(iface), { force: true });
      },
    });
    undo.push({
      what: "spawned",
      run: async () => {
        await Promise.all([...children].filter((c) => c !== wgGo).map(killAndWait));
      },
    });
    // wireguard-go starts in well under a second alone; under a loaded CI (two cores, Chromium
    // and benchmarks beside it) it has taken over ten, so the wait is generous.
    const deadline = Date.now() + 30_000;
    while ((await run(inNs([WG_TOOLS.wg, "show", iface]))).code !== 0) {
      if (wgGo.exitCode !== null || wgGo.signalCode !== null || Date.now() > deadline) {
        throw new Error(`wireguard-go did not bring up ${iface}; its output:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }

    const listenPort = options.listenPort ?? 51820;
    const wgSet = (args: string[]) =>
      must(inNs([WG_TOOLS.wg, "set", iface, ...args])).then(() => {});
    await wgSet([
      "private-key",
      keyFile(privateKey),
      "listen-port",
      String(listenPort),
      ...wgPeerArgs(options.peer, keyFile, "100.64.0.1/32"),
    ]);
    const tunnelAddress = options.tunnelAddress ?? "100.64.0.2";
    const cidr = `${tunnelAddress}/${options.tunnelPrefixLength ?? 24}`;
    await ip("-n", namespace, "addr", "add", cidr, "dev", iface);
    if (options.mtu !== undefined)
      await ip("-n", namespace, "link", "set", iface, "mtu", String(options.mtu));
    await ip("-n", namespace, "link", "set", iface, "up");

    let closing: Promise<void> | undefined;
    const host: WgHost = {
      namespace,
      vethRoot,
      vethHost,
      iface,
      hostAddress,
      ourAddress,
      listenPort,
      publicKey,
      privateKey,
      tunnelAddress,
      exec: (cmd, opts) => run(inNs(cmd), opts),
      spawn(cmd) {
        if (closing) throw new Error(`host ${namespace} is closed`);
        const [f, ...a] = inNs(cmd);
        const child = spawn(f ?? WG_TOOLS.ip, a, { stdio: ["ignore", "pipe", "pipe"] });
        // Flowing, so an unread pipe never blocks the child; 'data' listeners still see it all.
        child.stdout?.resume();
        child.stderr?.resume();
        children.add(child);
        return child;
      },
      wgShow: async () =>
        parseWgDump((await must(inNs([WG_TOOLS.wg, "show", iface, "dump"]))).stdout),
      setPeer: (peer) => wgSet(wgPeerArgs(peer, keyFile)),
      removePeer: (key) => wgSet(["peer", key, "remove"]),
      async waitForHandshake(key, timeoutMs = 10_000) {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const peer = (await host.wgShow()).find((p) => p.publicKey === key);
          if (peer !== undefined && peer.latestHandshake > 0) return peer;
          if (Date.now() > until)
            throw new Error(`no handshake with ${key} in ${timeoutMs} ms; log:\n${log}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      logs: () => log,
      close() {
        closing ??= teardown().then((errors) => {
          if (errors.length > 0) throw new Error(`closing ${namespace}: ${errors.join("; ")}`);
        });
        return closing;
      },
    };
    return host;
  } catch (error) {
    const errors = await teardown();
    if (errors.length > 0) (error as Error).message += ` (teardown: ${errors.join("; ")})`;
    throw error;
  }
}
