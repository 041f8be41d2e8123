// wg-quick configuration files ([Interface] and [Peer] sections of `Key = value` lines): parsed
// into plain data the device can be configured from, and written back. The reading follows
// wg-quick and `wg setconf`: keys are case-insensitive, '#' starts a comment anywhere on a line,
// lists are comma-separated and Address, DNS and AllowedIPs accumulate over repeated lines.
// It is stricter where wg would silently do something surprising: unknown keys, a single-valued
// key given twice (wg keeps the last) and duplicate peers are errors with the line they are on.

import { formatCidr, parseCidr } from "./allowed-ips.ts";
import { formatIp, parseIp, quoteInput } from "./ip-address.ts";
import { keyFromBase64, keyToBase64 } from "./keys.ts";

/** The [Interface] section. */
export interface WgInterfaceConfig {
  /** The 32-byte private key. */
  privateKey: Uint8Array;
  /**
   * The interface's addresses, each canonical "ip/prefix" with its host bits kept ("10.0.0.1/24";
   * a bare IP gets /32 or /128, as in wg-quick).
   */
  addresses: string[];
  /** UDP port to listen on; absent means a random one. */
  listenPort?: number;
  /** The tunnel MTU. */
  mtu?: number;
  /** DNS servers (canonical IP text) and search domains (names), in file order, as wg-quick. */
  dns: string[];
}

/** One [Peer] section. */
export interface WgPeerConfig {
  /** The peer's 32-byte public key; unique among the peers. */
  publicKey: Uint8Array;
  /** Optional 32-byte preshared key. */
  presharedKey?: Uint8Array;
  /**
   * "host:port" or "[ipv6]:port", IPs in canonical form; the host may be a name, resolved by
   * whoever connects.
   */
  endpoint?: string;
  /**
   * The peer's allowed IPs, each canonical CIDR masked to its prefix as wg does ("10.1.2.3/8" is
   * "10.0.0.0/8"; a bare IP gets /32 or /128).
   */
  allowedIps: string[];
  /** Keepalive interval in seconds; 0 means off (the file may say "off"). */
  persistentKeepalive?: number;
}

/** A parsed configuration file. */
export interface WgConfig {
  interface: WgInterfaceConfig;
  peers: WgPeerConfig[];
  /** Things accepted but ignored (wg-quick-only settings), each "line N: ...". */
  warnings: string[];
}

/** A configuration file that cannot be used; `line` (1-based) is where the problem is. */
export class ConfigError extends Error {
  /** 1-based line number of the problem. */
  readonly line: number;
  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.name = "ConfigError";
    this.line = line;
  }
}

// ---- values. Each checker returns the value in normal form or throws a TypeError naming the
// key; parseConfig adds the line, formatConfig reuses them so what it writes reads back. IPs
// are read by ip-address.ts and allowed-ips.ts, the parsers the device itself uses, and
// written back in canonical form (RFC 5952 for IPv6), so equal settings compare equal.

// A DNS name: dot-separated labels of letters, digits, '-' and '_' (SRV-style names), at most
// 63 characters each and 253 in all. Digits-and-dots text is an IPv4 address or nothing.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function isHostName(s: string): boolean {
  const name = s.endsWith(".") ? s.slice(0, -1) : s;
  if (name.length === 0 || name.length > 253 || /^[\d.]+$/.test(name)) return false;
  return name.split(".").every((label) => LABEL.test(label));
}

// Text that can only have been meant as an IP address: parse it as one, so the error says
// what is wrong with it rather than that it is not a host name.
function looksLikeIp(s: string): boolean {
  return s.includes(":") || /^[\d.]+$/.test(s);
}

/** An interface address: the host bits are the point, so unlike an allowed IP it is not masked. */
function checkAddress(name: string, text: string): string {
  const { bits } = parseCidr(text, `${name}:`);
  const slash = text.indexOf("/");
  return `${formatIp(parseIp(slash < 0 ? text : text.slice(0, slash)))}/${bits}`;
}

/** An allowed IP, masked to its prefix as wg does ("10.1.2.3/8" is 10.0.0.0/8). */
function checkAllowedIp(name: string, text: string): string {
  return formatCidr(parseCidr(text, `${name}:`));
}

function checkDns(name: string, text: string): string {
  if (looksLikeIp(text)) return formatIp(parseIp(text, `${name}: ${quoteInput(text)}`));
  if (isHostName(text)) return text;
  throw new TypeError(`${name}: ${quoteInput(text)} is neither an IP address nor a search domain`);
}

function checkEndpoint(name: string, text: string): string {
  const context = `${name}: ${quoteInput(text)}`;
  let host: string;
  let port: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new TypeError(`${context} is not [ipv6-address]:port`);
    }
    const addr = parseIp(text.slice(1, close), context);
    if (addr.length !== 16) throw new TypeError(`${context}: brackets are for IPv6 addresses`);
    host = `[${formatIp(addr)}]`;
    port = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new TypeError(`${context} has no :port`);
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) {
      throw new TypeError(`${context}: an IPv6 address goes in brackets, as in [fd00::1]:51820`);
    }
    if (looksLikeIp(host)) host = formatIp(parseIp(host, context));
    else if (!isHostName(host)) throw new TypeError(`${context}: the host is not a valid name`);
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new TypeError(`${context}: the port must be 1-65535`);
  }
  return `${host}:${Number(port)}`;
}

function checkInteger(
  name: string,
  text: string,
  min: number,
  max: number,
  what: string,
  orElse = "",
): number {
  if (/^\d{1,6}$/.test(text) && Number(text) >= min && Number(text) <= max) return Number(text);
  throw new TypeError(`${name}: ${quoteInput(text)} is not ${what} (${min}-${max})${orElse}`);
}

const checkPort = (name: string, text: string) => checkInteger(name, text, 0, 65535, "a port");
// 68 is the smallest MTU Linux lets a WireGuard interface have (ETH_MIN_MTU).
const checkMtu = (name: string, text: string) => checkInteger(name, text, 68, 65535, "an MTU");

function checkKeepalive(name: string, text: string): number {
  if (text.toLowerCase() === "off") return 0;
  return checkInteger(name, text, 0, 65535, "a number of seconds", " or 'off'");
}

function list(name: string, text: string, check: (name: string, item: string) => string) {
  return text.split(",").map((item) => {
    const trimmed = item.trim();
    if (trimmed === "") throw new TypeError(`${name}: empty entry in the comma-separated list`);
    return check(name, trimmed);
  });
}

// ---- the file.

type Section = "Interface" | "Peer";

const INTERFACE_KEYS = ["PrivateKey", "Address", "ListenPort", "MTU", "DNS"] as const;
const PEER_KEYS = [
  "PublicKey",
  "PresharedKey",
  "Endpoint",
  "AllowedIPs",
  "PersistentKeepalive",
] as const;
// Settings wg-quick acts on around the kernel interface (routing table, hooks, firewall mark,
// saving state); there is no kernel interface here, so they are read and ignored.
const WG_QUICK_ONLY = ["Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig", "FwMark"];
// Keys that may appear once per section; the others accumulate.
const SINGLE = new Set([
  "PrivateKey",
  "ListenPort",
  "MTU",
  "PublicKey",
  "PresharedKey",
  "Endpoint",
  "PersistentKeepalive",
]);

const canonical = new Map<string, string>(
  [...INTERFACE_KEYS, ...PEER_KEYS, ...WG_QUICK_ONLY].map((k) => [k.toLowerCase(), k]),
);

// Text before '=' that cannot be a key name is not echoed: a private key pasted on a line of
// its own reads as "<key>=" with an empty value, and must not end up in an error log.
function isKeyName(key: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_-]{0,23}$/.test(key);
}

const NOT_A_NAME = "the text before '=' is not a key name (not shown: it may be a secret)";

// Sections while they are read: the key that makes them valid may not have come yet.
type InterfaceDraft = Omit<WgInterfaceConfig, "privateKey"> & { privateKey?: Uint8Array };
type PeerDraft = Omit<WgPeerConfig, "publicKey"> & { publicKey?: Uint8Array };

interface OpenSection {
  kind: Section;
  /** Line of the section's header. */
  line: number;
  /** Line each key was first set on. */
  seen: Map<string, number>;
  peer?: PeerDraft;
}

/** Parses a wg-quick configuration file; throws ConfigError naming the line of a problem. */
export function parseConfig(text: string): WgConfig {
  let iface: InterfaceDraft | undefined;
  let ifaceLine = 0;
  const peers: WgPeerConfig[] = [];
  const peerKeys = new Map<string, number>(); // base64 public key -> line of its [Peer]
  const warnings: string[] = [];
  let open: OpenSection | undefined;

  const close = () => {
    if (open?.kind === "Interface" && iface?.privateKey === undefined) {
      throw new ConfigError(open.line, "[Interface] has no PrivateKey");
    }
    if (open?.peer !== undefined) {
      const { publicKey, ...rest } = open.peer;
      if (publicKey === undefined) throw new ConfigError(open.line, "[Peer] has no PublicKey");
      peers.push({ publicKey, ...rest });
    }
    open = undefined;
  };

  const lines = text.split("\n");
  for (const [index, raw] of lines.entries()) {
    const n = index + 1;
    const hash = raw.indexOf("#");
    const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (content === "") continue;

    if (content.startsWith("[")) {
      close();
      const header = content.toLowerCase();
      if (header === "[interface]") {
        if (iface !== undefined) {
          throw new ConfigError(
            n,
            `a second [Interface] section (the first is on line ${ifaceLine})`,
          );
        }
        iface = { addresses: [], dns: [] };
        ifaceLine = n;
        open = { kind: "Interface", line: n, seen: new Map() };
      } else if (header === "[peer]") {
        open = { kind: "Peer", line: n, seen: new Map(), peer: { allowedIps: [] } };
      } else {
        throw new ConfigError(
          n,
          `unknown section ${quoteInput(content)} (expected [Interface] or [Peer])`,
        );
      }
      continue;
    }

    const eq = content.indexOf("=");
    if (eq < 0) throw new ConfigError(n, "expected 'Key = value' but there is no '='");
    const rawKey = content.slice(0, eq).trim();
    const value = content.slice(eq + 1).trim();
    if (rawKey === "") throw new ConfigError(n, "no key before '='");
    const key = canonical.get(rawKey.toLowerCase());
    if (key === undefined && !isKeyName(rawKey)) throw new ConfigError(n, NOT_A_NAME);
    if (open === undefined) {
      throw new ConfigError(n, `${key ?? rawKey} is outside any section`);
    }
    const inInterface = (INTERFACE_KEYS as readonly string[]).includes(key ?? "");
    const inPeer = (PEER_KEYS as readonly string[]).includes(key ?? "");
    const wgQuickOnly = WG_QUICK_ONLY.includes(key ?? "");
    if (
      key === undefined ||
      (open.kind === "Peer" && !inPeer) ||
      (open.kind === "Interface" && inPeer)
    ) {
      const where = key === undefined ? "" : ` (it belongs in [${inPeer ? "Peer" : "Interface"}])`;
      throw new ConfigError(n, `unknown key ${key ?? `'${rawKey}'`} in [${open.kind}]${where}`);
    }
    if (wgQuickOnly) {
      warnings.push(`line ${n}: ${key} is a wg-quick setting with no effect here; ignored`);
      continue;
    }
    const first = open.seen.get(key);
    if (first !== undefined && SINGLE.has(key)) {
      throw new ConfigError(n, `${key} is given twice in this section (first on line ${first})`);
    }
    open.seen.set(key, n);
    if (value === "" && key !== "AllowedIPs") throw new ConfigError(n, `${key} has no value`);

    try {
      if (inInterface && iface !== undefined) {
        setInterfaceKey(iface, key, value);
      } else if (open.peer !== undefined) {
        setPeerKey(open.peer, key, value);
        if (key === "PublicKey" && open.peer.publicKey !== undefined) {
          const b64 = keyToBase64(open.peer.publicKey);
          const other = peerKeys.get(b64);
          if (other !== undefined) {
            throw new TypeError(`PublicKey: the same key as the [Peer] on line ${other}`);
          }
          peerKeys.set(b64, open.line);
        }
      }
    } catch (error) {
      if (error instanceof TypeError) throw new ConfigError(n, error.message);
      throw error;
    }
  }
  close();
  if (iface === undefined) throw new ConfigError(1, "no [Interface] section");
  const { privateKey, ...rest } = iface;
  // close() has seen the PrivateKey of the one [Interface]; this narrows the type.
  if (privateKey === undefined) throw new ConfigError(ifaceLine, "[Interface] has no PrivateKey");
  return { interface: { privateKey, ...rest }, peers, warnings };
}

function setInterfaceKey(iface: InterfaceDraft, key: string, value: string): void {
  if (key === "PrivateKey") iface.privateKey = keyFromBase64(value, key);
  else if (key === "Address") iface.addresses.push(...list(key, value, checkAddress));
  else if (key === "ListenPort") iface.listenPort = checkPort(key, value);
  else if (key === "MTU") iface.mtu = checkMtu(key, value);
  else if (key === "DNS") iface.dns.push(...list(key, value, checkDns));
}

function setPeerKey(peer: PeerDraft, key: string, value: string): void {
  if (key === "PublicKey") peer.publicKey = keyFromBase64(value, key);
  else if (key === "PresharedKey") peer.presharedKey = keyFromBase64(value, key);
  else if (key === "Endpoint") peer.endpoint = checkEndpoint(key, value);
  else if (key === "PersistentKeepalive") peer.persistentKeepalive = checkKeepalive(key, value);
  // An empty AllowedIPs is allowed: a peer with no routes (yet) is a valid configuration.
  else if (key === "AllowedIPs" && value !== "") {
    peer.allowedIps.push(...list(key, value, checkAllowedIp));
  }
}

/**
 * Writes `cfg` as a configuration file that parseConfig reads back to the same data (warnings
 * aside: ignored wg-quick settings are not kept). Throws a TypeError for a value parseConfig
 * would not have produced, so a bad value is caught here rather than on the next read.
 */
export function formatConfig(cfg: WgConfig): string {
  const i = cfg.interface;
  const lines = ["[Interface]", `PrivateKey = ${keyToBase64(i.privateKey)}`];
  const listLine = (key: string, items: string[], check: (k: string, v: string) => string) => {
    if (items.length > 0) lines.push(`${key} = ${items.map((v) => check(key, v)).join(", ")}`);
  };
  const numberLine = (
    key: string,
    value: number | undefined,
    check: (k: string, v: string) => number,
  ) => {
    if (value !== undefined) lines.push(`${key} = ${check(key, String(value))}`);
  };
  listLine("Address", i.addresses, checkAddress);
  numberLine("ListenPort", i.listenPort, checkPort);
  numberLine("MTU", i.mtu, checkMtu);
  listLine("DNS", i.dns, checkDns);
  const seen = new Set<string>();
  for (const peer of cfg.peers) {
    const publicKey = keyToBase64(peer.publicKey);
    if (seen.has(publicKey)) throw new TypeError(`formatConfig: two peers share ${publicKey}`);
    seen.add(publicKey);
    lines.push("", "[Peer]", `PublicKey = ${publicKey}`);
    if (peer.presharedKey !== undefined) {
      lines.push(`PresharedKey = ${keyToBase64(peer.presharedKey)}`);
    }
    if (peer.endpoint !== undefined) {
      lines.push(`Endpoint = ${checkEndpoint("Endpoint", peer.endpoint)}`);
    }
    listLine("AllowedIPs", peer.allowedIps, checkAllowedIp);
    numberLine("PersistentKeepalive", peer.persistentKeepalive, checkKeepalive);
  }
  return `${lines.join("\n")}\n`;
}
