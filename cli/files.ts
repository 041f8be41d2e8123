// Files the CLI writes and reads that hold secrets or trust: private keys, known_hosts and
// wg-quick configs. Writes are atomic (a temporary file in the same directory, fsynced, then
// renamed or linked into place), so a crash, a full disk or two processes at once never leave
// a half-written known_hosts or key behind; reads of secret files warn when others can read
// them, as OpenSSH's "UNPROTECTED PRIVATE KEY FILE" and wg-quick's "world accessible" do.

import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/** Options of writeFileAtomic. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of the new file. Default: those of the file being replaced, or 0600 for a
   * new file (what these files hold is private or trust-bearing).
   */
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file (no check-then-write race). */
  exclusive?: boolean;
}

/** The permission bits of `path`, or null when it does not exist. */
function existingMode(path: string): number | null {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return null;
  }
}

/** Flushes the directory entry of a rename to disk; not every file system allows it. */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // A directory that cannot be opened or synced (some file systems): the rename itself is
    // still atomic, it is only not yet durable.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` so that readers see either the old file or the whole new one: the
 * bytes go to a temporary file in the same directory (created 0600, then given its mode),
 * are fsynced, and the file is renamed over `path` (or, with `exclusive`, hard-linked to it,
 * which fails with EEXIST if `path` appeared meanwhile). The temporary file never outlives
 * the call. A symbolic link at `path` is replaced by the file, as `ssh-keygen -R` does.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const mode = options.mode ?? existingMode(path) ?? 0o600;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", 0o600);
  let placed = false;
  try {
    try {
      for (let offset = 0; offset < bytes.length; ) {
        offset += writeSync(fd, bytes, offset, bytes.length - offset);
      }
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive) linkSync(temp, path);
    else renameSync(temp, path);
    placed = !options.exclusive;
    syncDirectory(dirname(path));
  } finally {
    if (!placed) {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone: nothing to clean up.
      }
    }
  }
}

/** What a secret file holds, for the warning's wording. */
export type SecretFileKind = "private key" | "WireGuard config";

/**
 * The warning to print when `path` is a regular file that its group or others may read or
 * write (any of the 077 bits), else null; also null when it cannot be examined (the caller's
 * read reports that). The file is still used: the warning says how to protect it.
 */
export function unprotectedFileWarning(path: string, kind: SecretFileKind): string | null {
  let mode: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return null;
    mode = stat.mode & 0o7777;
  } catch {
    return null;
  }
  if ((mode & 0o077) === 0) return null;
  const octal = mode.toString(8).padStart(4, "0");
  const title =
    kind === "private key" ? "UNPROTECTED PRIVATE KEY FILE" : "UNPROTECTED WIREGUARD CONFIG";
  return [
    `WARNING: ${title}!`,
    `Permissions ${octal} for '${path}' are too open: other users of this machine can read the ${kind === "private key" ? "private key" : "private key in this WireGuard config"}.`,
    `Protect it with: chmod 600 '${path}'`,
  ].join("\n");
}
