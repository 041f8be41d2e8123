// Where `corridor serve` keeps its state (`--data DIR`): the relay's key today, the control
// server's database with issue 13. The folder holds secrets, so it is made 0700, and a
// folder others may enter draws a warning.

import { chmodSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The relay key's file name inside the data folder. */
export const RELAY_KEY_FILE = "relay.key";

/**
 * The default data folder: `$XDG_STATE_HOME/corridor`, or `~/.local/state/corridor` when
 * XDG_STATE_HOME is unset or not absolute (the XDG Base Directory rule).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME;
  if (state?.startsWith("/")) return join(state, "corridor");
  return join(env.HOME?.startsWith("/") ? env.HOME : homedir(), ".local", "state", "corridor");
}

/**
 * Makes `dir` (and missing parents) when it does not exist; a folder made here gets mode 0700
 * whatever the umask. Returns a warning when an existing folder lets its group or others in,
 * else null. Throws an Error naming the folder when it cannot be made or is not a folder.
 */
export function prepareDataDir(dir: string): string | null {
  let existed = true;
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`--data ${dir}: not a folder`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    existed = false;
  }
  if (!existed) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    } catch (error) {
      throw new Error(`--data ${dir}: cannot make the folder: ${(error as Error).message}`);
    }
    return null;
  }
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  return (
    `WARNING: the data folder '${dir}' has permissions ${mode.toString(8).padStart(4, "0")}: ` +
    `other users of this machine may read the secrets in it. Protect it with: chmod 700 '${dir}'`
  );
}
