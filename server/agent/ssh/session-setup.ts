// What a session of the identity SSH server starts with (docs/agent-ssh.md, "Sessions"): the
// command line that becomes the account (setpriv when the agent is root), the environment (the
// account's, LANG/LC_*/TERM from the client, never the agent's), the pty given to the account,
// the working directory, and the system's sftp-server. Pure or small file-system reads, apart
// from session.ts's channel handling.

import { accessSync, chmodSync, chownSync, constants, readFileSync, statSync } from "node:fs";
import type { LocalUser } from "./users.ts";

/** Where the system's sftp-server may be, in the order looked at (Debian, Fedora, Arch, BSD). */
export const SFTP_SERVERS = [
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/lib/ssh/sftp-server",
  "/usr/libexec/sftp-server",
] as const;

/** The first executable sftp-server of `candidates`, or undefined when none is. */
export function findSftpServer(candidates: readonly string[] = SFTP_SERVERS): string | undefined {
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // Not there, or not executable: the next place.
    }
  }
  return undefined;
}

/** Most environment variables a session takes from `env` requests. */
export const MAX_ENV_VARS = 32;
/** Longest value of one. */
export const MAX_ENV_VALUE = 1024;

const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games";

/** Whether the client may set `name` (LANG, LC_*, TERM) to `value`. */
export function acceptedEnv(name: string, value: string): boolean {
  if (value.length > MAX_ENV_VALUE || value.includes("\0")) return false;
  return name === "LANG" || name === "TERM" || /^LC_[A-Z_]{1,32}$/.test(name);
}

/** The command line that runs `argv` as `account`: directly when the agent already is that user, else through setpriv. */
export function asAccount(
  account: LocalUser,
  argv: readonly string[],
  setpriv: string,
): [string, string[]] {
  // Same uid: nothing to change (and a non-root agent could not change it anyway).
  if (process.getuid?.() === account.uid) return [argv[0]!, argv.slice(1)];
  return [
    setpriv,
    [
      "--reuid",
      String(account.uid),
      "--regid",
      String(account.gid),
      "--init-groups",
      "--",
      ...argv,
    ],
  ];
}

/** The session's environment: the account's, what the client set, never the agent's. */
export function sessionEnv(
  account: LocalUser,
  fromClient: ReadonlyMap<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    PATH: account.uid === 0 ? ROOT_PATH : USER_PATH,
  };
  for (const [name, value] of fromClient) env[name] = value;
  return env;
}

/** The gid of the "tty" group (/etc/group), or undefined when there is none. */
function ttyGroup(): number | undefined {
  try {
    const m = /^tty:[^:\n]*:(\d+):/m.exec(readFileSync("/etc/group", "utf8"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Gives the pty at `path` to `account` as sshd does: owner the account, group tty with mode
 * 0620 (0600 and the account's group when there is no tty group). Only root can, and only
 * root needs to (a non-root agent's ptys are already its user's, the only account it serves).
 */
export function givePty(path: string, account: LocalUser): void {
  if (process.getuid?.() !== 0) return;
  const tty = ttyGroup();
  chownSync(path, account.uid, tty ?? account.gid);
  chmodSync(path, tty === undefined ? 0o600 : 0o620);
}

/** Where a session starts: the account's home, or / when it has none (as sshd does). */
export function workingDir(account: LocalUser): string {
  try {
    if (statSync(account.home).isDirectory()) return account.home;
  } catch {
    // No home: start in / as sshd does.
  }
  return "/";
}
