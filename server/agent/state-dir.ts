// The agent's state directory (docs/agent.md, "State"): its WireGuard key `node.key`, its SSH
// host key `ssh_host_ed25519_key` (+ `.pub`) and, by default, its local socket `agent.sock`.
// The directory is made 0700 and the keys 0600, each written once, atomically (a temporary file
// in the same directory, fsynced, then hard-linked into place, which fails if another process
// got there first: then that process's key is used). A restart reads the same keys, so the
// control server knows the node again (no new auth key) and clients keep trusting the host key.
// Others being able to read the directory or a key earns a warning naming the chmod to run,
// as OpenSSH and wg-quick do; a file that holds no key is an error naming the file, never
// silently replaced (the node would come back as someone else).

import { generateKeyPairSync, randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import ssh2 from "ssh2";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";

// ssh2 is CommonJS: Node's ESM loader gives it a default export only (named imports fail
// outside a bundler), so take its parts from that.
const sshUtils = ssh2.utils;

/** The node's WireGuard private key (base64, as `wg genkey` writes it). */
export const NODE_KEY_FILE = "node.key";
/** The SSH server's host key, OpenSSH format (`ssh-keygen -lf` reads it). */
export const HOST_KEY_FILE = "ssh_host_ed25519_key";
/** The local socket's default name. */
export const SOCKET_FILE = "agent.sock";

/** A host key file larger than this is not an ed25519 key (they are ~400 bytes). */
const MAX_HOST_KEY_BYTES = 16 * 1024;
/** A node key file larger than this is not one base64 key (44 characters and a newline). */
const MAX_NODE_KEY_BYTES = 1024;

/** The SSH host key: its private key (OpenSSH PEM) and its public line. */
export interface HostKey {
  /** "-----BEGIN OPENSSH PRIVATE KEY-----..." as ssh2's Server takes it. */
  privateKey: string;
  /** "ssh-ed25519 AAAA..." (no comment): what the map publishes and known_hosts holds. */
  publicLine: string;
}

/** An opened state directory. */
export interface StateDir {
  /** Its absolute path. */
  dir: string;
  /** The node's WireGuard private key. */
  nodeKey: Uint8Array;
  hostKey: HostKey;
  /** Which files were made now (a first start), by name. */
  created: string[];
  /** Sentences for the operator: files others can read, with the chmod that fixes it. */
  warnings: string[];
  /** Where the local socket goes unless --socket says otherwise. */
  socketPath: string;
}

/**
 * The default state directory: `$XDG_STATE_HOME/corridor/agent`, else
 * `~/.local/state/corridor/agent` (a relative XDG_STATE_HOME is ignored, as the XDG spec says).
 */
export function defaultStateDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
): string {
  const xdg = env.XDG_STATE_HOME;
  const base = xdg?.startsWith("/") ? xdg : join(home, ".local", "state");
  return join(base, "corridor", "agent");
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A sentence when group or others have any access to `path` (dir or file), else null. */
function openToOthers(path: string, what: string, fix: number): string | null {
  const mode = statSync(path).mode & 0o7777;
  if ((mode & 0o077) === 0) return null;
  const octal = mode.toString(8).padStart(4, "0");
  return `WARNING: permissions ${octal} for ${what} '${path}' are too open: other users of this machine can read the agent's keys. Protect it with: chmod ${fix.toString(8)} '${path}'`;
}

/**
 * Writes `data` to `path` only if `path` does not exist: temporary file (0600, fsynced), then a
 * hard link to `path`. Returns false when `path` appeared meanwhile (EEXIST).
 */
export function writeNewFileAtomic(path: string, data: string, mode = 0o600): boolean {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", 0o600);
  try {
    try {
      const bytes = Buffer.from(data, "utf8");
      for (let offset = 0; offset < bytes.length; ) {
        offset += writeSync(fd, bytes, offset, bytes.length - offset);
      }
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
    } catch (error) {
      if (errnoCode(error) === "EEXIST") return false;
      throw error;
    }
    return true;
  } finally {
    unlinkSync(temp);
  }
}

/** Reads a file of at most `max` bytes; undefined when it does not exist. */
function readSmall(path: string, max: number): string | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read: ${(error as Error).message}`);
  }
  if (size > max) throw new Error(`${path}: ${size} bytes is too large for a key file`);
  return readFileSync(path, "utf8");
}

/** Parses a node key file's text (one base64 X25519 key); throws naming the file. */
export function parseNodeKey(text: string, file: string): Uint8Array {
  return keyFromBase64(text.trim(), file);
}

/**
 * Parses an OpenSSH ed25519 private key file's text; returns the key and its public line.
 * Throws naming the file when it is not one (another type, encrypted, garbage).
 */
export function parseHostKey(text: string, file: string): HostKey {
  const parsed = sshUtils.parseKey(text);
  if (parsed instanceof Error) {
    throw new Error(`${file}: not an OpenSSH private key: ${parsed.message}`);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || !key.isPrivateKey()) {
    throw new Error(`${file}: holds no private key`);
  }
  if (key.type !== "ssh-ed25519") {
    throw new Error(`${file}: is a ${key.type} key; the agent's host key is ssh-ed25519`);
  }
  return { privateKey: text, publicLine: `ssh-ed25519 ${key.getPublicSSH().toString("base64")}` };
}

/** An SSH wire string: u32 length, then the bytes. */
function sshString(bytes: Uint8Array | string): Buffer {
  const body = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/**
 * A new ed25519 host key in OpenSSH's private key format (PROTOCOL.key in OpenSSH's sources:
 * unencrypted, one key). Written here rather than by ssh2's generator, which drops a leading
 * zero byte of the public key (about one key in 256) and so writes a file nobody can read.
 */
export function generateHostKey(comment = "corridor-agent"): string {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const pub = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d ?? "", "base64url");
  if (pub.length !== 32 || seed.length !== 32) throw new Error("ed25519: unexpected key length");
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Padded with 1, 2, 3, ... to the cipher's block size (8 for "none").
  const padding = Buffer.from(
    Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1),
  );
  secret = Buffer.concat([secret, padding]);
  const whole = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(secret),
  ]);
  seed.fill(0);
  secret.fill(0);
  const lines = whole.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function loadNodeKey(dir: string, created: string[]): Uint8Array {
  const file = join(dir, NODE_KEY_FILE);
  const text = readSmall(file, MAX_NODE_KEY_BYTES);
  if (text !== undefined) return parseNodeKey(text, file);
  const fresh = generatePrivateKey();
  if (writeNewFileAtomic(file, `${keyToBase64(fresh)}\n`)) {
    created.push(NODE_KEY_FILE);
    return fresh;
  }
  // Another agent on the same directory wrote its key first: use that one.
  fresh.fill(0);
  return parseNodeKey(readSmall(file, MAX_NODE_KEY_BYTES) ?? "", file);
}

function loadHostKey(dir: string, created: string[]): HostKey {
  const file = join(dir, HOST_KEY_FILE);
  let text = readSmall(file, MAX_HOST_KEY_BYTES);
  if (text === undefined) {
    const fresh = generateHostKey();
    if (writeNewFileAtomic(file, fresh)) {
      created.push(HOST_KEY_FILE);
      text = fresh;
    } else {
      text = readSmall(file, MAX_HOST_KEY_BYTES) ?? "";
    }
  }
  const key = parseHostKey(text, file);
  // The .pub is for people and ssh-keygen; the private key is the truth, so a missing or stale
  // .pub is written again from it.
  const pubFile = `${file}.pub`;
  const pubLine = `${key.publicLine} corridor-agent\n`;
  let pub: string | undefined;
  try {
    pub = readSmall(pubFile, MAX_HOST_KEY_BYTES);
  } catch {
    pub = undefined;
  }
  if (pub === undefined || !pub.startsWith(`${key.publicLine} `)) {
    if (pub !== undefined) unlinkSync(pubFile);
    if (writeNewFileAtomic(pubFile, pubLine, 0o644)) created.push(`${HOST_KEY_FILE}.pub`);
  }
  return key;
}

/**
 * Opens the state directory `dir` (made 0700 with its parents when missing), reading its keys
 * or making them on first use. Throws an Error naming the file when one cannot be read or
 * written, or holds no key.
 */
export function openStateDir(dir: string): StateDir {
  const path = resolve(dir);
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new Error(`${path}: cannot make the state directory: ${(error as Error).message}`);
  }
  if (!statSync(path).isDirectory()) throw new Error(`${path}: is not a directory`);
  const created: string[] = [];
  const nodeKey = loadNodeKey(path, created);
  const hostKey = loadHostKey(path, created);
  const warnings = [
    openToOthers(path, "the state directory", 0o700),
    openToOthers(join(path, NODE_KEY_FILE), "the node key", 0o600),
    openToOthers(join(path, HOST_KEY_FILE), "the SSH host key", 0o600),
  ].filter((w): w is string => w !== null);
  return { dir: path, nodeKey, hostKey, created, warnings, socketPath: join(path, SOCKET_FILE) };
}
