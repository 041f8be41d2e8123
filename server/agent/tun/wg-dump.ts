// A bounds-checked parser of `wg show IFACE dump` (wg(8)): the first line is the interface
// (private key, public key, listen port, fwmark), then one line per peer (public key, preshared
// key, endpoint, allowed IPs, latest handshake, rx bytes, tx bytes, persistent keepalive),
// fields separated by tabs. TUN mode reads the interface's peers from it to compute what to
// change, and the handshake and byte counters for `corridor status`. The private key on the
// first line is checked for shape and dropped: it never leaves this function.

/** The interface line, without its private key. */
export interface WgDumpInterface {
  publicKey: string;
  listenPort: number;
  /** 0 when off. */
  fwmark: number;
}

/** One peer line. */
export interface WgDumpPeer {
  publicKey: string;
  hasPresharedKey: boolean;
  /** "ip:port" ("[v6]:port") as wg prints it, or null before the peer has one. */
  endpoint: string | null;
  /** CIDRs ("100.64.0.7/32"), empty when none. */
  allowedIps: string[];
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds, or null when off. */
  persistentKeepalive: number | null;
}

/** A parsed dump. */
export interface WgDump {
  iface: WgDumpInterface;
  peers: WgDumpPeer[];
}

/** Limits of the parser (a dump beyond them is refused, not truncated). */
export const WG_DUMP_LIMITS = {
  /** Peer lines. */
  maxPeers: 100_000,
  /** Allowed IPs of one peer. */
  maxAllowedIps: 1024,
  /** Characters of one line. */
  maxLineLength: 64 * 1024,
} as const;

/** The dump could not be parsed: the message names the line and field. */
export class WgDumpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WgDumpError";
  }
}

const KEY = /^[A-Za-z0-9+/]{43}=$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const ENDPOINT = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.%A-Za-z0-9]{2,64}\]):(\d{1,5})$/;
const CIDR4 = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const CIDR6 = /^[0-9A-Fa-f:.]{2,45}\/\d{1,3}$/;

function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);
}

function key(field: string | undefined, what: string): string {
  if (field === undefined || !KEY.test(field)) {
    throw new WgDumpError(`${what}: expected a base64 key, got ${show(field ?? "")}`);
  }
  return field;
}

function count(field: string | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (field === undefined || !DECIMAL.test(field)) {
    throw new WgDumpError(`${what}: expected a decimal number, got ${show(field ?? "")}`);
  }
  const value = Number(field);
  if (value > max) throw new WgDumpError(`${what}: ${value} is above ${max}`);
  return value;
}

function endpoint(field: string, what: string): string | null {
  if (field === "(none)") return null;
  const m = ENDPOINT.exec(field);
  if (m === null || Number(m[3]) > 65535 || Number(m[3]) === 0) {
    throw new WgDumpError(`${what}: expected "ip:port" or (none), got ${show(field)}`);
  }
  if (m[1] !== undefined && !m[1].startsWith("[") && m[1].split(".").some((o) => Number(o) > 255))
    throw new WgDumpError(`${what}: bad IPv4 address in ${show(field)}`);
  return field;
}

function allowedIps(field: string, what: string): string[] {
  if (field === "(none)") return [];
  const list = field.split(",");
  if (list.length > WG_DUMP_LIMITS.maxAllowedIps) {
    throw new WgDumpError(`${what}: more than ${WG_DUMP_LIMITS.maxAllowedIps} allowed IPs`);
  }
  for (const cidr of list) {
    const bits = Number(cidr.slice(cidr.indexOf("/") + 1));
    const v4 = CIDR4.test(cidr);
    const ok = v4
      ? bits <= 32 &&
        cidr
          .split("/")[0]
          ?.split(".")
          .every((o) => Number(o) <= 255) === true
      : CIDR6.test(cidr) && cidr.includes(":") && bits <= 128;
    if (!ok) throw new WgDumpError(`${what}: bad allowed IP ${show(cidr)}`);
  }
  return list;
}

/** wg prints a set fwmark as hex ("0x1234"); decimal is accepted too. */
function mark(field: string): number {
  if (/^0x[0-9a-f]{1,8}$/i.test(field)) return Number.parseInt(field.slice(2), 16);
  return count(field, "wg dump line 1 fwmark", 0xffffffff);
}

/** Parses one peer line (8 tab-separated fields). */
function peerLine(line: string, n: number): WgDumpPeer {
  const f = line.split("\t");
  const what = `wg dump line ${n}`;
  if (f.length !== 8) throw new WgDumpError(`${what}: expected 8 fields, got ${f.length}`);
  const psk = f[1] ?? "";
  if (psk !== "(none)") key(psk, `${what} preshared key`);
  const keepalive = f[7] ?? "";
  return {
    publicKey: key(f[0], `${what} public key`),
    hasPresharedKey: psk !== "(none)",
    endpoint: endpoint(f[2] ?? "", `${what} endpoint`),
    allowedIps: allowedIps(f[3] ?? "", `${what} allowed IPs`),
    latestHandshake: count(f[4], `${what} latest handshake`),
    rxBytes: count(f[5], `${what} rx bytes`),
    txBytes: count(f[6], `${what} tx bytes`),
    persistentKeepalive:
      keepalive === "off" ? null : count(keepalive, `${what} persistent keepalive`, 65535),
  };
}

/**
 * Parses the whole output of `wg show IFACE dump`. Throws WgDumpError naming the line and the
 * field that is wrong; never returns a partial result.
 */
export function parseWgDump(text: string): WgDump {
  if (typeof text !== "string") throw new WgDumpError("wg dump: expected text");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new WgDumpError("wg dump: empty (no interface line)");
  if (lines.length - 1 > WG_DUMP_LIMITS.maxPeers) {
    throw new WgDumpError(`wg dump: more than ${WG_DUMP_LIMITS.maxPeers} peers`);
  }
  lines.forEach((line, i) => {
    if (line.length > WG_DUMP_LIMITS.maxLineLength) {
      throw new WgDumpError(`wg dump line ${i + 1}: longer than ${WG_DUMP_LIMITS.maxLineLength}`);
    }
  });
  const head = (lines[0] ?? "").split("\t");
  if (head.length !== 4) {
    throw new WgDumpError(`wg dump line 1 (interface): expected 4 fields, got ${head.length}`);
  }
  // The private key is checked for shape only (or "(none)" before one is set), then dropped.
  if (head[0] !== "(none)") key(head[0], "wg dump line 1 private key");
  const fwmark = head[3] ?? "";
  const iface: WgDumpInterface = {
    publicKey: head[1] === "(none)" ? "" : key(head[1], "wg dump line 1 public key"),
    listenPort: count(head[2], "wg dump line 1 listen port", 65535),
    fwmark: fwmark === "off" ? 0 : mark(fwmark),
  };
  const peers = lines.slice(1).map((line, i) => peerLine(line, i + 2));
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.publicKey)) throw new WgDumpError(`wg dump: peer ${peer.publicKey} twice`);
    seen.add(peer.publicKey);
  }
  return { iface, peers };
}
