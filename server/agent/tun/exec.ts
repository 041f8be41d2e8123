// Running the host's network tools (ip, wg, wireguard-go) for TUN mode: no shell, argument
// arrays only, a timeout on every command (a hung tool must not hang the agent), the key (when
// a command needs one) on standard input and never on the command line, and errors that name
// the command and carry its stderr. A namespace option prefixes every command with
// `ip netns exec NS`, so tests run the whole interface inside a network namespace they made.

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";

/** What a command printed and how it ended (code null: killed by a signal or the timeout). */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Options of one command. */
export interface CommandOptions {
  /** Written to the command's standard input, then closed (keys go here, never in argv). */
  input?: string;
  /** Killed (SIGKILL) after this long; default 10 s. */
  timeoutMs?: number;
}

/** Runs host tools; TunNode's parts use one of these, so tests can aim them at a namespace. */
export interface HostCommands {
  /** Absolute paths of the tools. */
  readonly tools: HostTools;
  /** Runs `cmd` (resolves whatever the exit code; never rejects). */
  run(cmd: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** run(), rejecting with an Error naming the command and its stderr unless it exits 0. */
  must(cmd: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** The full argv that runs `cmd` (with the namespace prefix, if any). */
  argv(cmd: readonly string[]): string[];
  /**
   * Starts a long-running command (wireguard-go -f); its stdio is piped to the caller. Its
   * environment is toolEnv(extra).
   */
  spawn(cmd: readonly string[], extra?: NodeJS.ProcessEnv): ChildProcess;
}

/** Paths of ip, wg, wireguard-go and nft. */
export interface HostTools {
  ip: string;
  wg: string;
  wireguardGo: string;
  nft: string;
}

/**
 * The environment of every tool run: PATH, the locale, and the WG_* variables the user set
 * (wireguard-go's and wg's own switches), plus `extra`. Nothing else of the agent's environment
 * (CORRIDOR_AUTH_KEY above all) reaches ip, wg, nft or wireguard-go.
 */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (name === "LANG" || name.startsWith("LC_") || name.startsWith("WG_")) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Longest output kept from a command (a `wg show dump` of 10,000 peers is ~2 MB). */
export const MAX_OUTPUT = 8 * 1024 * 1024;

/** Whether `path` is an executable file. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function firstExecutable(paths: readonly string[]): string {
  for (const path of paths) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return paths[0] ?? "";
}

/** Where Debian (merged /usr or not) puts the tools. */
export function defaultTools(): HostTools {
  return {
    ip: firstExecutable(["/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"]),
    wg: firstExecutable(["/usr/bin/wg", "/usr/sbin/wg"]),
    wireguardGo: firstExecutable(["/usr/bin/wireguard-go", "/usr/sbin/wireguard-go"]),
    nft: firstExecutable(["/usr/sbin/nft", "/usr/bin/nft", "/sbin/nft"]),
  };
}

/** Options of hostCommands(). */
export interface HostCommandsOptions {
  /** Run everything inside this network namespace (`ip netns exec NS ...`). */
  netns?: string;
  tools?: Partial<HostTools>;
}

/** Checks a namespace name the way iproute2 would accept it, so argv never carries junk. */
function checkNamespace(netns: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(netns) || netns === "." || netns === "..") {
    throw new TypeError(`network namespace ${JSON.stringify(netns)}: 1-64 of A-Z a-z 0-9 _ . -`);
  }
  return netns;
}

/** The host's tools, run directly or inside `options.netns`. */
export function hostCommands(options: HostCommandsOptions = {}): HostCommands {
  const tools = { ...defaultTools(), ...options.tools };
  const netns = options.netns === undefined ? undefined : checkNamespace(options.netns);
  const argv = (cmd: readonly string[]): string[] =>
    netns === undefined ? [...cmd] : [tools.ip, "netns", "exec", netns, ...cmd];
  const commands: HostCommands = {
    tools,
    argv,
    run: (cmd, opts = {}) => runCommand(argv(cmd), opts),
    async must(cmd, opts = {}) {
      const result = await runCommand(argv(cmd), opts);
      if (result.code !== 0) {
        const why = result.stderr.trim() || `exit code ${result.code}`;
        throw new Error(`\`${cmd.join(" ")}\` failed: ${why}`);
      }
      return result;
    },
    spawn(cmd, extra) {
      const [file, ...args] = argv(cmd);
      if (file === undefined) throw new TypeError("spawn: empty command");
      return spawn(file, args, { env: toolEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
    },
  };
  return commands;
}

/**
 * Runs one command without a shell, in toolEnv()'s environment; output beyond MAX_OUTPUT is
 * cut (and said so).
 */
export function runCommand(
  cmd: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve) => {
    const [file, ...args] = cmd;
    if (file === undefined) {
      resolve({ stdout: "", stderr: "empty command", code: null });
      return;
    }
    const child = spawn(file, args, { env: toolEnv(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const keep = (text: string, chunk: string) =>
      text.length >= MAX_OUTPUT ? text : (text + chunk).slice(0, MAX_OUTPUT);
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout = keep(stdout, s)));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr = keep(stderr, s)));
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
    // The command may exit without reading its input (a refused key): not our error.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}
