// Names and cleanup of the network namespaces that wg-host.ts builds.
//
// A host's stem is prefix + creator pid (base 36, 5 chars) + 4 random hex digits, e.g.
// "cwg00abc1f3e": the namespace is the stem, the veth ends stem+"r" and stem+"n", the
// WireGuard interface stem+"w" (15 characters at most, the kernel's limit). The pid lets a
// later run tell what a crashed run left behind (that pid is gone) from what a concurrent
// test is using, so removeStaleHosts never touches a live test's host.

import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { must, run, WG_TOOLS } from "./wg-tools.ts";

/** A fresh stem for `prefix` (1-5 lowercase letters) and this process. */
export function newStem(prefix: string): string {
  const pid = process.pid.toString(36).padStart(5, "0");
  return `${prefix}${pid}${randomInt(0x10000).toString(16).padStart(4, "0")}`;
}

/** wireguard-go's control socket for an interface (in /var/run/wireguard, not per namespace). */
export function uapiSocket(iface: string): string {
  return `/var/run/wireguard/${iface}.sock`;
}

/** Synchronous teardowns of the hosts not yet closed, for the process exit hook. */
export const unclosed = new Set<() => void>();
let exitHookInstalled = false;

/** Once per process: on exit, tear down (synchronously) every host not closed. */
export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const teardown of unclosed) teardown();
  });
}

/** Synchronous, best-effort removal of one namespace and what runs in it (exit hook, stale). */
export function removeNamespaceSync(namespace: string, vethRoot?: string): void {
  const quiet = { stdio: "ignore", timeout: 5000 } as const;
  try {
    const pids = execFileSync(WG_TOOLS.ip, ["netns", "pids", namespace], { timeout: 5000 });
    for (const pid of pids.toString().split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
  } catch {}
  if (vethRoot !== undefined) {
    try {
      execFileSync(WG_TOOLS.ip, ["link", "del", vethRoot], quiet);
    } catch {}
  }
  try {
    execFileSync(WG_TOOLS.ip, ["netns", "del", namespace], quiet);
  } catch {}
  rmSync(uapiSocket(`${namespace}w`), { force: true }); // left when wireguard-go was killed
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes namespaces and veths named `prefix`… whose creating process is gone. */
export async function removeStaleHosts(prefix = "cwg"): Promise<string[]> {
  const stem = new RegExp(`^${prefix}([0-9a-z]{5})[0-9a-f]{4}[rn]?$`);
  const stale = (name: string) => {
    const m = stem.exec(name);
    return m?.[1] !== undefined && !pidAlive(Number.parseInt(m[1], 36));
  };
  const removed: string[] = [];
  const netns = await run([WG_TOOLS.ip, "netns", "list"]);
  for (const name of netns.stdout.split("\n").map((l) => l.split(" ")[0] ?? "")) {
    if (stale(name)) {
      removeNamespaceSync(name);
      removed.push(name);
    }
  }
  for (const file of readdirSafe("/var/run/wireguard")) {
    const name = file.replace(/w\.sock$/, "");
    if (file.endsWith("w.sock") && stale(name)) rmSync(uapiSocket(`${name}w`), { force: true });
  }
  const links = await run([WG_TOOLS.ip, "-o", "link", "show"]);
  for (const m of links.stdout.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)) {
    const name = m[1] ?? "";
    if (stale(name) && (await run([WG_TOOLS.ip, "link", "del", name])).code === 0)
      removed.push(name);
  }
  return removed;
}

/** The /30 subnets 10.201.N.4M/30 in use by addresses in the root namespace, as "N.4M". */
async function usedSubnets(): Promise<Set<string>> {
  const out = await must([WG_TOOLS.ip, "-o", "-4", "addr", "show"]);
  const used = new Set<string>();
  for (const m of out.stdout.matchAll(/inet 10\.201\.(\d+)\.(\d+)\//g)) {
    used.add(`${m[1]}.${Number(m[2]) & ~3}`);
  }
  return used;
}

/**
 * Puts the first address of a random free 10.201.N.4M/30 on `vethRoot` and returns it with
 * the second (for the namespace side). Free = no address of the root namespace in it; checked
 * again after adding, since a concurrent test may have taken the same /30 in between.
 */
export async function addSubnet(
  vethRoot: string,
): Promise<{ ourAddress: string; hostAddress: string }> {
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= 20;
    const n = randomInt(256);
    const base = randomInt(64) * 4;
    if ((await usedSubnets()).has(`${n}.${base}`) && !last) continue;
    const ours = `10.201.${n}.${base + 1}`;
    const added = await run([WG_TOOLS.ip, "addr", "add", `${ours}/30`, "dev", vethRoot]);
    if (added.code !== 0) {
      if (added.stderr.includes("File exists") && !last) continue;
      throw new Error(`\`ip addr add ${ours}/30 dev ${vethRoot}\` failed: ${added.stderr.trim()}`);
    }
    const net = `10.201.${n}.${base}/30`;
    const inNet = await must([WG_TOOLS.ip, "-o", "-4", "addr", "show", "to", net]);
    if (inNet.stdout.trim().split("\n").length > 1 && !last) {
      await must([WG_TOOLS.ip, "addr", "del", `${ours}/30`, "dev", vethRoot]);
      continue;
    }
    return { ourAddress: ours, hostAddress: `10.201.${n}.${base + 2}` };
  }
}
