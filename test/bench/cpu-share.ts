// Where the CPU went during a timed run, per process kind and thread name, from /proc (Linux).
// The web benchmarks run the browser, the relay, wireguard-go and sshd on the same cores, so a
// page's rate depends on what the other side costs as much as on the page: this prints the
// split beside the figures (e.g. sshd at 60% of a core in memmove, found this way), so a reader
// can tell a slow page from a busy machine.

import { readdirSync, readFileSync } from "node:fs";

/** One thread at one moment: how it is shown, and its CPU ticks (1/100 s) so far. */
export interface ThreadTicks {
  /** "process kind/thread name" (digits dropped: a pool's threads are one line). */
  label: string;
  ticks: number;
}

/**
 * Every thread's CPU ticks at one moment, keyed by thread id and start time: a thread that
 * started since an earlier snapshot is all new time, and a kernel worker that renamed itself
 * (kworkers take their current workqueue's name) is still the same thread. A thread that ended
 * between two snapshots is missing from the later one: its last moments are not counted.
 */
export type CpuSnapshot = Map<string, ThreadTicks>;

/** What a process is, from its command line: Chromium's types, Corridor's commands, a program. */
function processKind(cmdline: string): string {
  if (cmdline.includes("chromium")) {
    const sub = cmdline.match(/--utility-sub-type=([\w.]+)/)?.[1];
    if (sub !== undefined) return `chromium ${sub.split(".").pop()}`;
    return `chromium ${cmdline.match(/--type=([\w-]+)/)?.[1] ?? "browser"}`;
  }
  // `corridor agent`, `corridor relay`...: the command, not "node".
  const command = cmdline.match(/corridor\.mjs (\w+)/)?.[1];
  if (command !== undefined) return `corridor ${command}`;
  return (cmdline.split(" ")[0] ?? "").split("/").pop() || "kernel";
}

/** Reads every thread's user+system ticks (Linux /proc). */
export function cpuSnapshot(): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const kind = processKind(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+/g, "");
        // Fields after the name: utime is the 12th, stime the 13th, starttime the 20th.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out.set(`${tid}@${fields[19]}`, {
          label: `${kind}/${name}`,
          ticks: Number(fields[11]) + Number(fields[12]),
        });
      }
    } catch {
      // The process or thread ended while we read it.
    }
  }
  return out;
}

/** CPU ticks per label used between two snapshots, largest first. */
function ticksByLabel(before: CpuSnapshot, after: CpuSnapshot): [string, number][] {
  const used = new Map<string, number>();
  for (const [id, { label, ticks }] of after) {
    const delta = ticks - (before.get(id)?.ticks ?? 0);
    if (delta > 0) used.set(label, (used.get(label) ?? 0) + delta);
  }
  return [...used].sort((a, b) => b[1] - a[1]);
}

/**
 * The largest consumers between two snapshots `ms` apart, as percent of one core, e.g.
 * "total 186%: sshd/sshd 57%, chromium renderer/chromium 30%, ...".
 */
export function cpuShare(before: CpuSnapshot, after: CpuSnapshot, ms: number, top = 8): string {
  const used = ticksByLabel(before, after);
  const percent = (ticks: number) => `${Math.round((ticks * 10 * 100) / ms)}%`;
  const total = used.reduce((sum, [, ticks]) => sum + ticks, 0);
  return `total ${percent(total)}: ${used
    .slice(0, top)
    .map(([key, ticks]) => `${key} ${percent(ticks)}`)
    .join(", ")}`;
}

/**
 * The machine's busy CPU ticks so far (/proc/stat: every core's time not idle or waiting for
 * I/O), processes that came and went and the kernel's packet work included.
 */
export function machineBusyTicks(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const [, ...fields] = line.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0);
  return total - (ticks[3] ?? 0) - (ticks[4] ?? 0);
}
