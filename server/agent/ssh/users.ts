// Local accounts the identity SSH server logs people in as (docs/agent-ssh.md): a user name
// from the SSH client is looked up with `getent passwd` (so NSS sources such as LDAP or sssd
// count, as they do for sshd), or in a passwd-format file. Both answers go through one
// bounded parser; a name is checked before it reaches getent, so no client text is ever
// taken for an option.

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";

/** A local account, as a session needs it. */
export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  /** Home directory: the session's cwd and $HOME. */
  home: string;
  /** Login shell: what runs the session (empty in passwd means /bin/sh). */
  shell: string;
}

/** Where accounts are looked up. */
export interface UserDirectory {
  /** The account called `name`, or undefined when there is none (or the name is not valid). */
  lookup(name: string): Promise<LocalUser | undefined>;
}

/** Longest user name accepted (Linux's useradd allows 32). */
export const MAX_USER_NAME = 32;
/** Longest passwd line parsed; real ones are far shorter. */
export const MAX_PASSWD_LINE = 4096;
const MAX_ID = 0xffff_fffe; // (uid_t)-1 means "no change" to setuid: never a real account

// POSIX portable names plus what Debian's adduser and Samba machine accounts use: a first
// character that cannot start an option, then letters, digits, ".", "_", "-", an optional "$".
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/;

/** Whether `name` may be a local user name (checked before any lookup). */
export function isValidUserName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_USER_NAME && USER_NAME.test(name);
}

function parseId(text: string, what: string): number {
  if (!/^[0-9]{1,10}$/.test(text))
    throw new Error(`passwd line: ${what} ${JSON.stringify(text.slice(0, 16))} is not a number`);
  const value = Number(text);
  if (value > MAX_ID) throw new Error(`passwd line: ${what} ${value} is out of range`);
  return value;
}

/**
 * One passwd(5) line ("name:x:uid:gid:gecos:home:shell") as a LocalUser. Throws an Error
 * naming what is wrong: too long, not seven fields, a bad name, uid or gid, a relative home.
 */
export function parsePasswdLine(line: string): LocalUser {
  if (line.length > MAX_PASSWD_LINE)
    throw new Error(`passwd line: longer than ${MAX_PASSWD_LINE} characters`);
  const fields = line.split(":");
  if (fields.length !== 7) throw new Error(`passwd line: ${fields.length} fields, expected 7`);
  const [name, , uidText, gidText, , home, shell] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!isValidUserName(name))
    throw new Error(`passwd line: ${JSON.stringify(name.slice(0, 40))} is not a valid user name`);
  if (!home.startsWith("/"))
    throw new Error(`passwd line: home of ${name} is not an absolute path`);
  if (shell !== "" && !shell.startsWith("/"))
    throw new Error(`passwd line: shell of ${name} is not an absolute path`);
  if (line.includes("\0")) throw new Error("passwd line: contains a NUL byte");
  return {
    name,
    uid: parseId(uidText, "uid"),
    gid: parseId(gidText, "gid"),
    home,
    // passwd(5): an empty shell field means /bin/sh.
    shell: shell === "" ? "/bin/sh" : shell,
  };
}

/** Finds `name` among passwd lines; lines that do not parse are skipped (as getpwnam does). */
export function findInPasswd(text: string, name: string): LocalUser | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}:`)) continue;
    try {
      return parsePasswdLine(line);
    } catch {
      // A broken line is no account.
    }
  }
  return undefined;
}

/** Accounts from a passwd-format file, read on every lookup (edits apply at once). */
export function passwdFileDirectory(path: string): UserDirectory {
  return {
    async lookup(name) {
      if (!isValidUserName(name)) return undefined;
      return findInPasswd(await readFile(path, "utf8"), name);
    },
  };
}

/** How long getent may take before the lookup fails (a hung NSS server must not hang logins). */
const GETENT_TIMEOUT_MS = 5_000;

/**
 * Accounts as the system's NSS sees them (`getent passwd NAME`). getent exits 2 for "no such
 * key": undefined. Any other failure rejects, naming it.
 */
export function getentDirectory(getent = "getent"): UserDirectory {
  return {
    lookup(name) {
      if (!isValidUserName(name)) return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        execFile(
          getent,
          ["passwd", "--", name],
          { timeout: GETENT_TIMEOUT_MS, maxBuffer: MAX_PASSWD_LINE * 2, env: {} },
          (error, stdout) => {
            if (error !== null) {
              if (error.code === 2) resolve(undefined);
              else reject(new Error(`getent passwd ${name}: ${error.message}`));
              return;
            }
            // getent prints one line per match; a name matches at most one account.
            resolve(findInPasswd(stdout, name));
          },
        );
      });
    },
  };
}
