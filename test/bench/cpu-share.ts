// Where the CPU went during a timed run, per process kind and thread name, from /proc (Linux).
// The web benchmarks run the browser, the relay, wireguard-go and sshd on the same cores, so a
// page's rate depends on what the other side costs as much as on the page: this prints the
// split beside the figures (e.g. sshd at 60% of a core in memmove, found this way), so a reader
// can tell a slow page from a busy machine.

import { readdirSync, readFileSync } from "node:fs";

/** CPU ticks (1/100 s) per "process kind/thread name" at one moment. */
export type CpuSnapshot = Map<string, number>;

/** What a process is, from its command line: Chromium's process types, else the program. */
function processKind(cmdline: string): string {
  if (cmdline.includes("chromium")) {
    const sub = cmdline.match(/--utility-sub-type=([\w.]+)/)?.[1];
    if (sub !== undefined) return `chromium ${sub.split(".").pop()}`;
    return `chromium ${cmdline.match(/--type=([\w-]+)/)?.[1] ?? "browser"}`;
  }
  return (cmdline.split(" ")[0] ?? "").split("/").pop() || "kernel";
}

/** Reads every thread's user+system ticks, keyed by process kind and thread name. */
export function cpuSnapshot(): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const kind = processKind(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+/g, "");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const key = `${kind}/${name}`;
        out.set(key, (out.get(key) ?? 0) + Number(fields[11]) + Number(fields[12]));
      }
    } catch {
      // The process or thread ended while we read it.
    }
  }
  return out;
}

/**
 * The largest consumers between two snapshots `ms` apart, as percent of one core, e.g.
 * "total 186%: sshd/sshd 57%, chromium renderer/chromium 30%, ...".
 */
export function cpuShare(before: CpuSnapshot, after: CpuSnapshot, ms: number, top = 8): string {
  const used: [string, number][] = [];
  for (const [key, ticks] of after) {
    const delta = ticks - (before.get(key) ?? 0);
    if (delta > 0) used.push([key, delta]);
  }
  used.sort((a, b) => b[1] - a[1]);
  const percent = (ticks: number) => `${Math.round((ticks * 10 * 100) / ms)}%`;
  const total = used.reduce((sum, [, ticks]) => sum + ticks, 0);
  return `total ${percent(total)}: ${used
    .slice(0, top)
    .map(([key, ticks]) => `${key} ${percent(ticks)}`)
    .join(", ")}`;
}
