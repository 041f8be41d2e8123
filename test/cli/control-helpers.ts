// Running the real `corridor` binary for the control-server CLI tests: a long-running server
// whose standard output is read as it comes (wait for a line, never sleep), and one-shot
// commands (`corridor admin ...`) with their exit status and output.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";

export const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** A one-shot run. */
export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `corridor ARGS` with `env` added to the environment (stdin closed). */
export function corridor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CORRIDOR_API_KEY: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** A server process (`corridor serve`, `corridor control`) and what it printed so far. */
export class Server {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;
  private waiters: (() => void)[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [bin, ...args], { stdio: "pipe" });
    this.child.stdin.end();
    this.exited = new Promise((resolve) => this.child.once("close", resolve));
    this.child.stdout.on("data", (d: Buffer) => {
      this.stdout += d.toString();
      this.wake();
    });
    this.child.stderr.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    void this.exited.then(() => this.wake());
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves with the first match of `pattern` in stdout; rejects if the process ends first. */
  async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    let ended = false;
    void this.exited.then(() => {
      ended = true;
    });
    for (;;) {
      const match = pattern.exec(this.stdout);
      if (match !== null) return match;
      if (ended || this.child.exitCode !== null) {
        throw new Error(`exited before printing ${pattern}:\n${this.stdout}\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** SIGTERM, then the exit status. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** A JSON API call with an API key or a cookie; resolves with the status and the JSON body. */
export async function api(
  base: string,
  method: string,
  path: string,
  options: { key?: string; cookie?: string; body?: unknown; origin?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, base), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    headers: res.headers,
  };
}

/** Follows an owner link as its page does: POSTs the fragment's token; returns the cookie. */
export async function followOwnerLink(link: string): Promise<{ cookie: string; user: unknown }> {
  const url = new URL(link);
  const token = url.hash.slice(1);
  const answer = await api(url.origin, "POST", "/api/v1/login/link", {
    body: { token },
    origin: url.origin,
  });
  if (answer.status !== 200) throw new Error(`owner link refused: ${JSON.stringify(answer.body)}`);
  const cookie = (answer.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  return { cookie, user: answer.body.user };
}
