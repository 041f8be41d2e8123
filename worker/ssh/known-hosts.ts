// OpenSSH's known_hosts format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), read and written the way
// ssh(1) does, for the CLI's UserKnownHostsFile (issue 7, "Host keys"). Each line is
//
//   [@cert-authority|@revoked] hostpatterns keytype base64key [comment]
//
// hostpatterns is a comma-separated list of patterns (`*` and `?` wildcards, `!` negation,
// `[host]:port` for ports other than 22, matched case-insensitively) or one hashed name
// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. Lines are kept verbatim, so toString()
// round-trips comments, blank lines and lines we cannot parse (those are reported in
// `warnings`, never thrown). No Node built-ins: this runs in the Worker.

import { hmac } from "@noble/hashes/hmac.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { decodeBase64, encodeBase64, fingerprintSha256, keyTypeOf } from "./fingerprint.ts";

/** The marker of a known_hosts line, or "" for a plain host key. */
export type KnownHostsMarker = "" | "@cert-authority" | "@revoked";

/** A line of known_hosts that could not be parsed (it is still kept, unchanged). */
export interface KnownHostsWarning {
  /** 1-based line number. */
  line: number;
  message: string;
}

/** A key from known_hosts, as reported by lookup(). */
export interface KnownKey {
  keyType: string;
  /** "SHA256:…", as ssh-keygen -l prints it. */
  fingerprint: string;
  /** 1-based line number in the text (added entries are numbered after the parsed ones). */
  line: number;
}

/** The verdict of KnownHosts.lookup(). */
export interface KnownHostsResult {
  /**
   * match: this key is known for the host. mismatch: the host has keys of this type, none equal
   * (refuse, showing both fingerprints). other-type: no key of this type is known, but keys of
   * other types are; a server that offers none of the known types may be an impostor, so this is
   * a changed key too (refuse). unknown: no key at all is known for the host (trust on first use
   * is the caller's decision). revoked: a matching @revoked line lists it.
   */
  status: "match" | "mismatch" | "other-type" | "unknown" | "revoked";
  /**
   * The lines behind the verdict: the equal key, the differing keys of the same type, the keys
   * of other types, or the @revoked line.
   */
  known?: KnownKey[];
}

/** Options of KnownHosts.add(). */
export interface AddOptions {
  /** Write the host name hashed (`|1|salt|hmac`), as with HashKnownHosts yes. */
  hashed?: boolean;
  /** The 20-byte HMAC-SHA1 salt for a hashed name; random by default. */
  salt?: Uint8Array;
}

type Hosts =
  | { kind: "patterns"; patterns: string[] }
  | { kind: "hashed"; salt: Uint8Array; hash: Uint8Array };

interface Entry {
  line: number;
  marker: KnownHostsMarker;
  hosts: Hosts;
  keyType: string;
  blob: Uint8Array;
}

const HASH_MAGIC = "|1|";
const SHA1_LEN = 20;
/** RSA signature algorithms name keys of type ssh-rsa. */
const KEY_TYPE_ALIASES: Record<string, string> = {
  "rsa-sha2-256": "ssh-rsa",
  "rsa-sha2-512": "ssh-rsa",
};

/** The name ssh(1) looks up: "host" for port 22, "[host]:port" otherwise, lowercased. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 || port === 0 ? h : `[${h}]:${port}`;
}

/** `*` and `?` glob match (both sides already lowercased), linear-time backtracking. */
function globMatch(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const pc = pattern[p];
    if (pc === "*") {
      starP = p++;
      starT = t;
    } else if (pc !== undefined && (pc === "?" || pc === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

/** OpenSSH's match_hostname: a negated match wins, then any positive match. */
function patternsMatch(name: string, patterns: string[]): boolean {
  let positive = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (globMatch(name, pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

function hashName(salt: Uint8Array, name: string): Uint8Array {
  return hmac(sha1, salt, new TextEncoder().encode(name));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function hostsMatch(hosts: Hosts, name: string): boolean {
  if (hosts.kind === "patterns") return patternsMatch(name, hosts.patterns);
  return equalBytes(hashName(hosts.salt, name), hosts.hash);
}

/** Parses one line: an Entry, null for blank/comment lines, or an error message. */
function parseLine(text: string, line: number): Entry | null | string {
  const fields = text.trim().split(/[ \t]+/);
  if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) return null;
  let marker: KnownHostsMarker = "";
  if (fields[0].startsWith("@")) {
    const m = fields.shift();
    if (m !== "@cert-authority" && m !== "@revoked") return `unknown marker ${m}`;
    marker = m;
  }
  const [hostField, keyType, keyText] = fields;
  if (hostField === undefined || keyType === undefined || keyText === undefined) {
    return "expected host patterns, key type and base64 key";
  }
  let hosts: Hosts;
  if (hostField.startsWith(HASH_MAGIC)) {
    const parts = hostField.slice(HASH_MAGIC.length).split("|");
    const salt = parts.length === 2 ? decodeBase64(parts[0] ?? "") : undefined;
    const hash = parts.length === 2 ? decodeBase64(parts[1] ?? "") : undefined;
    if (salt?.length !== SHA1_LEN || hash?.length !== SHA1_LEN) return "malformed hashed host name";
    hosts = { kind: "hashed", salt, hash };
  } else {
    const patterns = hostField.split(",");
    if (patterns.some((p) => p === "" || p === "!")) return "empty host pattern";
    hosts = { kind: "patterns", patterns };
  }
  const blob = decodeBase64(keyText);
  if (blob === undefined || blob.length === 0) return "key is not valid base64";
  let blobType: string;
  try {
    blobType = keyTypeOf(blob);
  } catch {
    return "key blob has no valid key type";
  }
  if (blobType !== keyType) return `key type ${keyType} but the key is ${blobType}`;
  return { line, marker, hosts, keyType, blob };
}

/**
 * An OpenSSH known_hosts file in memory: parse, look up host keys, add keys (plain or hashed)
 * and print it back, with every line not written by add() unchanged.
 */
export class KnownHosts {
  /** Lines that could not be parsed; they are kept and printed back unchanged. */
  readonly warnings: KnownHostsWarning[] = [];
  private readonly lines: string[] = [];
  private readonly entries: Entry[] = [];
  private finalNewline = true;

  /** Parses known_hosts text. Never throws: bad lines are kept verbatim and listed in warnings. */
  static parse(text: string): KnownHosts {
    const kh = new KnownHosts();
    if (text === "") return kh;
    const lines = text.split("\n");
    kh.finalNewline = text.endsWith("\n");
    if (kh.finalNewline) lines.pop();
    for (const [i, raw] of lines.entries()) {
      kh.lines.push(raw);
      const parsed = parseLine(raw.endsWith("\r") ? raw.slice(0, -1) : raw, i + 1);
      if (typeof parsed === "string") kh.warnings.push({ line: i + 1, message: parsed });
      else if (parsed !== null) kh.entries.push(parsed);
    }
    return kh;
  }

  /**
   * Checks the key a server presented. `keyType` is the key's type ("ssh-rsa" for rsa-sha2-*
   * host key algorithms, which are accepted as aliases). A key on a matching @revoked line is
   * "revoked" (as in ssh(1), the line's host patterns must match); @cert-authority lines are not
   * used for plain host keys. Port 22 looks up "host", others "[host]:port". A key of a type
   * the host has no line for is "other-type" when the host has lines of other types, "unknown"
   * only when it has none.
   */
  lookup(host: string, port: number, keyType: string, blob: Uint8Array): KnownHostsResult {
    const type = KEY_TYPE_ALIASES[keyType] ?? keyType;
    const name = knownHostsName(host, port);
    const report = (e: Entry): KnownKey => ({
      keyType: e.keyType,
      fingerprint: fingerprintSha256(e.blob),
      line: e.line,
    });
    const forHost = this.entries.filter((e) => hostsMatch(e.hosts, name));
    const revoked = forHost.filter((e) => e.marker === "@revoked" && equalBytes(e.blob, blob));
    if (revoked.length > 0) return { status: "revoked", known: revoked.map(report) };
    const sameType = forHost.filter((e) => e.marker === "" && e.keyType === type);
    const equal = sameType.filter((e) => equalBytes(e.blob, blob));
    if (equal.length > 0) return { status: "match", known: equal.map(report) };
    if (sameType.length > 0) return { status: "mismatch", known: sameType.map(report) };
    const otherTypes = forHost.filter((e) => e.marker === "");
    if (otherTypes.length > 0) return { status: "other-type", known: otherTypes.map(report) };
    return { status: "unknown" };
  }

  /**
   * Removes every plain and @revoked line whose hosts match host:port (hashed ones included),
   * as `ssh-keygen -R` does; returns how many lines went. Other lines keep their text.
   */
  remove(host: string, port: number): number {
    const name = knownHostsName(host, port);
    const doomed = new Set(
      this.entries
        .filter((e) => e.marker !== "@cert-authority" && hostsMatch(e.hosts, name))
        .map((e) => e.line),
    );
    if (doomed.size === 0) return 0;
    const kept = this.lines.filter((_, i) => !doomed.has(i + 1));
    const fresh = KnownHosts.parse(
      kept.length === 0 ? "" : `${kept.join("\n")}${this.finalNewline ? "\n" : ""}`,
    );
    this.lines.splice(0, this.lines.length, ...fresh.lines);
    this.entries.splice(0, this.entries.length, ...fresh.entries);
    this.warnings.splice(0, this.warnings.length, ...fresh.warnings);
    return doomed.size;
  }

  /** The key types known for host:port (plain lines only), in file order, without repeats. */
  keyTypesFor(host: string, port: number): string[] {
    const name = knownHostsName(host, port);
    const types = this.entries
      .filter((e) => e.marker === "" && hostsMatch(e.hosts, name))
      .map((e) => e.keyType);
    return [...new Set(types)];
  }

  /**
   * Appends a plain host key line for `host` (port 22 → "host", else "[host]:port"), hashed
   * when options.hashed. Throws a TypeError when the host, port, salt or key blob is invalid or
   * the blob's type is not `keyType`.
   */
  add(
    host: string,
    port: number,
    keyType: string,
    blob: Uint8Array,
    options: AddOptions = {},
  ): void {
    if (typeof host !== "string" || host === "" || /[\s,]/.test(host) || host.startsWith("!")) {
      throw new TypeError(`KnownHosts.add: bad host name ${JSON.stringify(host)}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(`KnownHosts.add: bad port ${port}`);
    }
    const blobType = keyTypeOf(blob);
    if (blobType !== keyType) {
      throw new TypeError(`KnownHosts.add: key type ${keyType} but the key is ${blobType}`);
    }
    const name = knownHostsName(host, port);
    let hosts: Hosts;
    let field: string;
    if (options.hashed) {
      const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SHA1_LEN));
      if (!(salt instanceof Uint8Array) || salt.length !== SHA1_LEN) {
        throw new TypeError(`KnownHosts.add: the salt must be ${SHA1_LEN} bytes`);
      }
      const hash = hashName(salt, name);
      hosts = { kind: "hashed", salt: salt.slice(), hash };
      field = `${HASH_MAGIC}${encodeBase64(salt)}|${encodeBase64(hash)}`;
    } else {
      hosts = { kind: "patterns", patterns: [name] };
      field = name;
    }
    if (!this.finalNewline && this.lines.length > 0) this.finalNewline = true;
    this.lines.push(`${field} ${keyType} ${encodeBase64(blob)}`);
    this.entries.push({ line: this.lines.length, marker: "", hosts, keyType, blob: blob.slice() });
  }

  /** The file's text: parsed lines unchanged, added lines after them, newline-terminated. */
  toString(): string {
    if (this.lines.length === 0) return "";
    return this.lines.join("\n") + (this.finalNewline ? "\n" : "");
  }
}
