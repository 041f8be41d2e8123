// One SSH session channel of the identity SSH server (docs/agent-ssh.md): a shell or command,
// with or without a pty (node-pty), or the SFTP subsystem (the system's sftp-server), run as
// the local account the login was decided for. What the client may set is narrow: TERM and
// the window size with its pty, LANG and LC_* by `env`, signals from RFC 4254 §6.10. Nothing
// of the agent's own environment reaches the session (it may hold CORRIDOR_AUTH_KEY).
// A pty is given to the session's account as sshd does (owner the account, group tty, mode
// 0620), so programs that open their terminal by path (`tty`, ssh-askpass, gpg) can.

import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import { type IPty, spawn as spawnPty } from "node-pty";
import type { Logger } from "pino";
import type { ServerChannel, Session } from "ssh2";
import { SIGNALS } from "../../../worker/ssh/session.ts";
import {
  acceptedEnv,
  asAccount,
  givePty,
  MAX_ENV_VARS,
  SFTP_SERVERS,
  sessionEnv,
  workingDir,
} from "./session-setup.ts";
import type { LocalUser } from "./users.ts";

export {
  acceptedEnv,
  asAccount,
  findSftpServer,
  givePty,
  MAX_ENV_VALUE,
  MAX_ENV_VARS,
  SFTP_SERVERS,
  sessionEnv,
} from "./session-setup.ts";

/** What a session runs with. */
export interface SessionContext {
  account: LocalUser;
  /** The system's sftp-server (its path); undefined: none found, SFTP is refused saying so. */
  sftpServer: string | undefined;
  /** util-linux's setpriv, used to become `account` (with its supplementary groups) when the agent is root. */
  setpriv: string;
  /** A child logger that already names the caller and the account. */
  log: Logger;
}

/** Signals a client may send (RFC 4254 §6.10, without the "SIG" prefix): the browser's list. */
export const SSH_SIGNALS = SIGNALS;

/** Window sizes outside 1..MAX_WINDOW_CELLS are clamped. */
export const MAX_WINDOW_CELLS = 4096;

function clampCells(n: number, fallback: number): number {
  if (!Number.isInteger(n) || n < 1) return fallback;
  return Math.min(n, MAX_WINDOW_CELLS);
}

/** The name of signal number `n` without "SIG" ("TERM"), or "KILL" if unknown. */
function signalName(n: number): string {
  for (const [name, value] of Object.entries(constants.signals))
    if (value === n) return name.slice(3);
  return "KILL";
}

interface Pty {
  term: string;
  cols: number;
  rows: number;
}

/** A session being served, as the server sees it. */
export interface SessionHandle {
  /**
   * Ends the session now (its access was revoked): `message` on its stderr, exit status 255
   * (what OpenSSH's client returns for a lost connection), the channel closed, and its process
   * hung up (SIGHUP) without waiting for the client.
   */
  revoke(message: string): void;
}

/**
 * SIGHUP to a piped command's process group (it leads one: spawned detached), so its children
 * go too, as a closing terminal hangs up its session; to the process alone if that fails.
 */
function hangUp(proc: ChildProcess): void {
  const pid = proc.pid;
  try {
    if (pid === undefined) throw new Error("no pid");
    process.kill(-pid, "SIGHUP");
  } catch {
    proc.kill("SIGHUP");
  }
}

/** Serves one accepted session channel until it closes. */
export function serveSession(session: Session, context: SessionContext): SessionHandle {
  const env = new Map<string, string>();
  let pty: Pty | undefined;
  let terminal: IPty | undefined;
  let child: ChildProcess | undefined;
  let started = false;
  /** The channel of the shell, command or sftp, once one runs. */
  let running: ServerChannel | undefined;
  let revoked = false;
  const { account, log } = context;

  session.on("env", (accept, reject, info) => {
    if (!started && env.size < MAX_ENV_VARS && acceptedEnv(info.key, info.val)) {
      env.set(info.key, info.val);
      accept?.();
    } else {
      reject?.();
    }
  });
  session.on("pty", (accept, reject, info) => {
    if (started || pty !== undefined) return reject?.();
    const term = /^[A-Za-z0-9._+-]{1,64}$/.test(info.term) ? info.term : "xterm";
    pty = { term, cols: clampCells(info.cols, 80), rows: clampCells(info.rows, 24) };
    accept?.();
  });
  session.on("window-change", (accept, reject, info) => {
    if (pty === undefined) return reject?.();
    pty.cols = clampCells(info.cols, pty.cols);
    pty.rows = clampCells(info.rows, pty.rows);
    terminal?.resize(pty.cols, pty.rows);
    accept?.();
  });
  session.on("signal", (accept, reject, info) => {
    const name = SSH_SIGNALS.find((s) => s === info.name);
    const pid = terminal?.pid ?? child?.pid;
    if (name === undefined || pid === undefined) return reject?.();
    try {
      process.kill(pid, `SIG${name}`);
      accept?.();
    } catch {
      reject?.();
    }
  });
  // Forwarding of ssh-agent and X11 is not offered: refused, and said in the log.
  session.on("auth-agent", (_accept, reject) => {
    log.info({ request: "auth-agent" }, "ssh_request_refused");
    reject?.();
  });
  session.on("x11", (_accept, reject) => {
    log.info({ request: "x11" }, "ssh_request_refused");
    reject?.();
  });

  const run = (channel: ServerChannel, argv: string[], kind: string): void => {
    started = true;
    running = channel;
    // Output racing a client that left writes to a closed channel: an error to note, never
    // one that reaches the agent's top level.
    const closedWrite = (error: Error): void =>
      log.debug({ error: error.message }, "ssh_channel_error");
    channel.on("error", closedWrite);
    channel.stderr.on("error", closedWrite);
    const environment = sessionEnv(account, env);
    const cwd = workingDir(account);
    const [file, args] = asAccount(account, argv, context.setpriv);
    log.debug({ kind, pty: pty !== undefined }, "ssh_session_start");
    if (pty !== undefined && kind !== "sftp") {
      environment.TERM = pty.term;
      runPty(channel, file, args, { env: environment, cwd, pty });
    } else {
      runPiped(channel, file, args, { env: environment, cwd });
    }
  };

  const runPty = (
    channel: ServerChannel,
    file: string,
    args: string[],
    options: { env: Record<string, string>; cwd: string; pty: Pty },
  ): void => {
    let term: IPty;
    try {
      term = spawnPty(file, args, {
        name: options.pty.term,
        cols: options.pty.cols,
        rows: options.pty.rows,
        cwd: options.cwd,
        env: options.env,
        encoding: null,
      });
    } catch (error) {
      fail(
        channel,
        `cannot start a terminal: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    terminal = term;
    try {
      // At once, in the same tick as the fork: before setpriv and the shell have started.
      givePty((term as IPty & { ptsName: string }).ptsName, account);
    } catch (error) {
      term.kill("SIGKILL");
      terminal = undefined;
      fail(
        channel,
        `cannot give the terminal to ${account.name}: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    // With encoding null node-pty hands out Buffers, whatever its typings say.
    term.onData((data: string | Buffer) => {
      if (!channel.write(data)) {
        term.pause();
        channel.once("drain", () => term.resume());
      }
    });
    channel.on("data", (data: Buffer) => {
      // Typing that arrives after the shell exited has nowhere to go.
      if (terminal !== undefined) term.write(data);
    });
    term.onExit(({ exitCode, signal }) => {
      terminal = undefined;
      finish(channel, signal ? signalName(signal) : exitCode);
    });
    channel.on("close", () => {
      // The client went away: hang up the terminal as a closing tty does.
      if (terminal !== undefined) terminal.kill("SIGHUP");
    });
  };

  const runPiped = (
    channel: ServerChannel,
    file: string,
    args: string[],
    options: { env: Record<string, string>; cwd: string },
  ): void => {
    const proc = spawn(file, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ["pipe", "pipe", "pipe"],
      // Its own process group, so a revoked session hangs up the command's children too (a
      // shell's `sleep` outlives a HUP sent to the shell alone); a pty session has its own
      // session already.
      detached: true,
    });
    child = proc;
    let spawnError: Error | undefined;
    proc.on("error", (error) => {
      spawnError = error;
    });
    channel.pipe(proc.stdin!);
    proc.stdin!.on("error", () => {
      // The command stopped reading (EPIPE): what the client still sends is dropped.
    });
    proc.stdout!.pipe(channel, { end: false });
    proc.stderr!.pipe(channel.stderr, { end: false });
    proc.on("close", (code, signal) => {
      child = undefined;
      if (spawnError !== undefined) {
        fail(channel, `cannot start ${args.at(-1) ?? file}: ${spawnError.message}`);
        return;
      }
      finish(channel, signal !== null ? signal.slice(3) : (code ?? 0));
    });
    channel.on("close", () => {
      if (child !== undefined) hangUp(child);
    });
  };

  const finish = (channel: ServerChannel, status: number | string): void => {
    // A revoked session has said its last word (revoke()): the process's own end adds none.
    if (revoked) return;
    log.debug({ status }, "ssh_session_end");
    // exit-status goes out at once, past output still waiting for the client's window: send
    // it once both output streams have flushed (an empty write's callback runs after every
    // earlier write was sent), so it follows the last byte.
    let flushed = 0;
    const afterFlush = (): void => {
      if (++flushed < 2) return;
      if (typeof status === "number") channel.exit(status);
      else channel.exit(status, false, "");
      channel.end();
    };
    channel.write(Buffer.alloc(0), afterFlush);
    channel.stderr.write(Buffer.alloc(0), afterFlush);
  };
  const fail = (channel: ServerChannel, message: string): void => {
    log.warn({ error: message }, "ssh_session_failed");
    channel.stderr.write(`${message}\r\n`);
    finish(channel, 127);
  };

  session.on("shell", (accept, reject) => {
    if (started) return reject?.();
    run(accept(), [account.shell, "-l"], "shell");
  });
  session.on("exec", (accept, reject, info) => {
    if (started) return reject?.();
    run(accept(), [account.shell, "-c", info.command], "exec");
  });
  session.on("subsystem", (accept, reject, info) => {
    if (started || info.name !== "sftp") {
      log.info({ request: `subsystem ${String(info.name).slice(0, 40)}` }, "ssh_request_refused");
      return reject?.();
    }
    if (context.sftpServer === undefined) {
      const message = `SFTP is not available on this host: no sftp-server found (looked in ${SFTP_SERVERS.join(", ")}); install OpenSSH's sftp-server`;
      log.warn({ request: "subsystem sftp", reason: message }, "ssh_request_refused");
      const channel = accept();
      started = true;
      channel.stderr.write(`${message}\r\n`);
      channel.exit(127);
      channel.end();
      return;
    }
    run(accept(), [context.sftpServer], "sftp");
  });

  return {
    revoke(message: string): void {
      if (revoked) return;
      revoked = true;
      const channel = running;
      if (channel !== undefined) {
        try {
          channel.stderr.write(`\r\n${message}\r\n`);
          channel.exit(255);
          channel.end();
        } catch (error) {
          // The channel closed meanwhile: nothing to tell.
          log.debug({ error: (error as Error).message }, "ssh_channel_error");
        }
      }
      // Not left to the channel's close: a peer gone from the map never acknowledges it.
      terminal?.kill("SIGHUP");
      if (child !== undefined) hangUp(child);
    },
  };
}
