// The child processes of relay.bench.ts, seen from the parent: the relay (relay-bench-server.ts)
// and the PING prober (relay-ping-child.ts), each with its IPC requests as promises.

import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = dirname(fileURLToPath(import.meta.url));

/** The relay process's event-loop delay (relay-bench-server.ts "loop-stop"). */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
  /** A 1 ms timer came over 5 ms late ... */
  stalls: number;
  /** ... and the process was on the CPU for most of that time (its own work held the loop). */
  busyStalls: number;
  /** The longest of those, ms. */
  busyMax: number;
}

/** The relay child (relay-bench-server.ts). */
export interface ServerChild {
  child: ChildProcess;
  url: string;
  anchorUrl: string;
  rss(): Promise<{ rss: number; heapUsed: number }>;
  /** Starts sampling the relay process's event-loop delay; the promise resolves at `stop()`. */
  loopDelay(): { stop(): Promise<LoopDelay> };
  stop(): void;
}

/**
 * Forks relay-bench-server.ts with `options` over its defaults; resolves once it listens.
 * RELAY_CHILD_ARGS (space-separated) adds node flags to it, e.g. --trace-gc or --cpu-prof.
 */
export async function startServer(
  root: string,
  options: Record<string, unknown> = {},
): Promise<ServerChild> {
  const child = fork(join(benchDir, "relay-bench-server.ts"), [JSON.stringify(options)], {
    cwd: root,
    execArgv: [
      "--import",
      "tsx",
      "--expose-gc",
      ...(process.env.RELAY_CHILD_ARGS ?? "").split(" ").filter(Boolean),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`relay child exited (${code})`));
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m as Record<string, unknown>);
      });
    });
  const ready = await next();
  return {
    child,
    url: String(ready.url),
    anchorUrl: String(ready.anchorUrl),
    rss: async () => {
      const reply = next();
      child.send("rss");
      return (await reply) as { rss: number; heapUsed: number };
    },
    loopDelay: () => {
      child.send("loop-start");
      return {
        stop: async () => {
          const reply = next();
          child.send("loop-stop");
          return (await reply) as unknown as LoopDelay;
        },
      };
    },
    stop: () => {
      if (child.connected) child.send("exit");
      setTimeout(() => child.kill(), 2000).unref();
    },
  };
}

/** The PING prober in a process of its own (relay-ping-child.ts). */
export interface Pinger {
  /** Starts up to `count` round trips; `stop()` ends them early; `samples` resolves with them. */
  measure(count: number): { samples: Promise<number[]>; stop(): void };
  stop(): void;
}

/** Forks relay-ping-child.ts against `url`; resolves once its client is welcomed. */
export async function startPinger(url: string, root: string): Promise<Pinger> {
  const child = fork(join(benchDir, "relay-ping-child.ts"), [url], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`PING child exited (${code})`));
      child.once("exit", onExit);
      child.once("message", (m) => {
        child.off("exit", onExit);
        resolve(m as Record<string, unknown>);
      });
    });
  await next();
  return {
    measure(count) {
      const reply = next().then((m) => {
        if (!Array.isArray(m.samples)) throw new Error(String(m.error ?? "PING child failed"));
        return m.samples as number[];
      });
      child.send({ count });
      return { samples: reply, stop: () => child.send("stop") };
    },
    stop() {
      if (child.connected) child.send("exit");
      setTimeout(() => child.kill(), 2000).unref();
    },
  };
}
