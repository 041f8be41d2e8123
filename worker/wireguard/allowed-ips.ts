// Cryptokey routing (WireGuard paper §2): the allowed-IPs table maps an inner address to the
// peer that may use it. Sending looks up the destination to pick the peer; receiving looks up
// the decrypted packet's source and drops it unless the answer is the peer it came from.
//
// The model is wireguard-go's device/allowedips.go: one path-compressed binary trie per
// address family. Every node holds a masked prefix; a node without a peer exists only to
// join two subtrees that diverge at its prefix length, so such a node always has two
// children and the trie never holds more than twice as many nodes as prefixes. Keys are
// big-endian 32-bit words, so matching a node is a few integer compares and one Math.clz32.

import { formatIp, parseIp, quoteInput } from "./ip-address.ts";

/** An address prefix: `addr` (4 or 16 bytes) with its first `bits` bits significant. */
export interface Prefix {
  addr: Uint8Array;
  bits: number;
}

/**
 * Parses a CIDR such as "10.0.0.0/8" or "fd00::/8". Without "/", IPv4 means /32 and IPv6
 * /128. Host bits past the prefix length are cleared, as wg does ("10.1.2.3/8" is
 * 10.0.0.0/8). Throws a TypeError naming what is wrong, as `${what} '<text>': <reason>`.
 */
export function parseCidr(text: string, what = "allowed IP"): Prefix {
  const context = `${what} ${quoteInput(text)}`;
  const slash = text.indexOf("/");
  const addr = parseIp(slash === -1 ? text : text.slice(0, slash), context);
  const max = addr.length * 8;
  if (slash === -1) return { addr, bits: max };
  const digits = text.slice(slash + 1);
  if (digits === "") throw new TypeError(`${context}: prefix length is empty`);
  if (!/^[0-9]+$/.test(digits)) {
    throw new TypeError(`${context}: prefix length is not a decimal number`);
  }
  // A leading zero is refused as netip refuses it: "/08" is more likely a typo than 8.
  if (digits.length > 1 && digits.startsWith("0")) {
    throw new TypeError(`${context}: prefix length has a leading zero`);
  }
  const bits = digits.length > 3 ? Number.POSITIVE_INFINITY : Number(digits);
  if (bits > max) {
    throw new TypeError(`${context}: prefix length /${digits} out of range (0-${max})`);
  }
  maskBytes(addr, bits);
  return { addr, bits };
}

/** Formats a prefix as canonical CIDR text: "10.0.0.0/8", "fd00::/8". */
export function formatCidr(prefix: Prefix): string {
  return `${formatIp(prefix.addr)}/${prefix.bits}`;
}

/** Clears every bit of `addr` past the first `bits`, in place. */
function maskBytes(addr: Uint8Array, bits: number): void {
  for (let i = 0; i < addr.length; i++) {
    const keep = bits - i * 8;
    if (keep >= 8) continue;
    addr[i] = keep <= 0 ? 0 : addr[i]! & (0xff << (8 - keep));
  }
}

/** A trie node. `peer` is undefined on a joining node (which then has two children). */
class TrieNode<P> {
  parent: TrieNode<P> | undefined = undefined;
  readonly child: [TrieNode<P> | undefined, TrieNode<P> | undefined] = [undefined, undefined];

  constructor(
    /** The prefix, masked to `bits`, as big-endian 32-bit words (1 for IPv4, 4 for IPv6). */
    readonly key: Uint32Array,
    readonly bits: number,
    public peer: P | undefined,
  ) {}
}

/** The bit of `words` at position `i` (0 = most significant bit of the address). */
function bitAt(words: Uint32Array, i: number): 0 | 1 {
  return ((words[i >>> 5]! >>> (31 - (i & 31))) & 1) as 0 | 1;
}

/** How many leading bits `a` and `b` share. */
function commonBits(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < a.length; i++) {
    const diff = (a[i]! ^ b[i]!) >>> 0;
    if (diff !== 0) return i * 32 + Math.clz32(diff);
  }
  return a.length * 32;
}

/** Whether the first `node.bits` bits of `words` equal the node's prefix. */
function matches<P>(node: TrieNode<P>, words: Uint32Array): boolean {
  const full = node.bits >>> 5;
  const key = node.key;
  for (let i = 0; i < full; i++) if (key[i] !== words[i]) return false;
  const rest = node.bits & 31;
  if (rest === 0) return true;
  return ((key[full]! ^ words[full]!) & (0xffffffff << (32 - rest))) === 0;
}

/** `bytes` (4 or 16) as big-endian words, in a new array. */
function toWords(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(bytes.length >>> 2);
  readWords(bytes, words);
  return words;
}

/** Reads `bytes` into `words` as big-endian 32-bit words, without allocating. */
function readWords(bytes: Uint8Array, words: Uint32Array): void {
  for (let i = 0, o = 0; o < bytes.length; i++, o += 4) {
    words[i] = (bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!;
  }
}

/** The prefix a node stands for, back as bytes. */
function nodePrefix<P>(node: TrieNode<P>): Prefix {
  const addr = new Uint8Array(node.key.length * 4);
  for (let i = 0; i < node.key.length; i++) {
    const w = node.key[i]!;
    addr.set([w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff], i * 4);
  }
  return { addr, bits: node.bits };
}

/**
 * The allowed-IPs table: longest-prefix match from an address to a peer, IPv4 and IPv6 kept
 * apart (an IPv4 lookup never matches an IPv6 entry, IPv4-mapped ones included). `P` is
 * whatever the device uses for a peer; it is compared by identity.
 */
export class AllowedIps<P extends NonNullable<unknown>> {
  private root4: TrieNode<P> | undefined = undefined;
  private root6: TrieNode<P> | undefined = undefined;
  /** Each peer's nodes, in insertion order, for removePeer and entriesFor. */
  private readonly byPeer = new Map<P, Set<TrieNode<P>>>();
  /** Scratch for lookup, so the per-packet path allocates nothing. */
  private readonly scratch = new Uint32Array(4);
  private count = 0;

  /** How many prefixes the table holds. */
  get size(): number {
    return this.count;
  }

  /**
   * Routes `prefix` to `peer`. A prefix already present moves to `peer`, as in wireguard-go
   * (a prefix belongs to one peer at a time). Throws a TypeError for a malformed prefix.
   */
  insert(prefix: string | Prefix, peer: P): void {
    const { key, bits } = this.keyOf(prefix);
    let parent: TrieNode<P> | undefined;
    let node = key.length === 1 ? this.root4 : this.root6;
    // Walk down while the node is a prefix of the new key.
    while (node !== undefined && node.bits <= bits && commonBits(node.key, key) >= node.bits) {
      if (node.bits === bits) {
        this.setPeer(node, peer);
        return;
      }
      parent = node;
      node = node.child[bitAt(key, node.bits)];
    }
    const fresh = new TrieNode<P>(key, bits, undefined);
    this.setPeer(fresh, peer);
    if (node === undefined) {
      this.link(parent, fresh, key);
      return;
    }
    // `node` sits where the new prefix belongs but is not its ancestor: either the new
    // prefix contains it (fresh goes above it), or the two diverge (a joining node goes
    // above both, at the bit where they differ).
    const common = Math.min(commonBits(node.key, key), bits);
    if (common === bits) {
      this.link(parent, fresh, key);
      fresh.child[bitAt(node.key, bits)] = node;
      node.parent = fresh;
      return;
    }
    const joinKey = key.slice();
    maskWords(joinKey, common);
    const join = new TrieNode<P>(joinKey, common, undefined);
    this.link(parent, join, key);
    join.child[bitAt(node.key, common)] = node;
    join.child[bitAt(key, common)] = fresh;
    node.parent = join;
    fresh.parent = join;
  }

  /** Removes `prefix` from the table; returns whether it was there. */
  remove(prefix: string | Prefix): boolean {
    const { key, bits } = this.keyOf(prefix);
    let node = key.length === 1 ? this.root4 : this.root6;
    while (node !== undefined && node.bits <= bits && commonBits(node.key, key) >= node.bits) {
      if (node.bits === bits) {
        if (node.peer === undefined) return false;
        this.removeNode(node);
        return true;
      }
      node = node.child[bitAt(key, node.bits)];
    }
    return false;
  }

  /** Removes every prefix routed to `peer`. */
  removePeer(peer: P): void {
    const nodes = this.byPeer.get(peer);
    if (nodes === undefined) return;
    for (const node of [...nodes]) this.removeNode(node);
  }

  /**
   * The peer for `addr` (4 or 16 bytes, typically a view into an IP header) by longest
   * prefix, or undefined if none covers it or the length is neither 4 nor 16. Called per
   * packet, so it allocates nothing and does no string work.
   */
  lookup(addr: Uint8Array): P | undefined {
    let node: TrieNode<P> | undefined;
    if (addr.length === 4) node = this.root4;
    else if (addr.length === 16) node = this.root6;
    else return undefined;
    const words = this.scratch;
    readWords(addr, words);
    const maxBits = addr.length * 8;
    let found: P | undefined;
    while (node !== undefined && matches(node, words)) {
      if (node.peer !== undefined) found = node.peer;
      if (node.bits === maxBits) break;
      node = node.child[bitAt(words, node.bits)];
    }
    return found;
  }

  /** The prefixes routed to `peer`, as canonical CIDR text, in the order they were added. */
  entriesFor(peer: P): string[] {
    const nodes = this.byPeer.get(peer);
    if (nodes === undefined) return [];
    return [...nodes].map((node) => formatCidr(nodePrefix(node)));
  }

  /** A prefix as masked key words, validating the object form as parseCidr does text. */
  private keyOf(prefix: string | Prefix): { key: Uint32Array; bits: number } {
    if (typeof prefix === "string") {
      const parsed = parseCidr(prefix);
      return { key: toWords(parsed.addr), bits: parsed.bits };
    }
    const { addr, bits } = prefix;
    if (addr.length !== 4 && addr.length !== 16) {
      throw new TypeError(`allowed IP: an address is 4 or 16 bytes, got ${addr.length}`);
    }
    if (!Number.isInteger(bits) || bits < 0 || bits > addr.length * 8) {
      throw new TypeError(`allowed IP: prefix length ${bits} out of range (0-${addr.length * 8})`);
    }
    // toWords copies, so masking cannot touch the caller's bytes and the caller cannot
    // change the table afterwards by reusing its buffer.
    const key = toWords(addr);
    maskWords(key, bits);
    return { key, bits };
  }

  /** Puts `child` where `parent`'s branch for `key` goes, or at the root of its family. */
  private link(parent: TrieNode<P> | undefined, child: TrieNode<P>, key: Uint32Array): void {
    child.parent = parent;
    if (parent !== undefined) parent.child[bitAt(key, parent.bits)] = child;
    else if (key.length === 1) this.root4 = child;
    else this.root6 = child;
  }

  /** Sets a node's peer, keeping the per-peer index and the count in step. */
  private setPeer(node: TrieNode<P>, peer: P | undefined): void {
    const old = node.peer;
    if (old === peer) return;
    if (old !== undefined) {
      const nodes = this.byPeer.get(old)!;
      nodes.delete(node);
      if (nodes.size === 0) this.byPeer.delete(old);
      this.count--;
    }
    node.peer = peer;
    if (peer !== undefined) {
      let nodes = this.byPeer.get(peer);
      if (nodes === undefined) {
        nodes = new Set();
        this.byPeer.set(peer, nodes);
      }
      nodes.add(node);
      this.count++;
    }
  }

  /**
   * Drops a node's peer and prunes the trie as wireguard-go does: a node left with fewer
   * than two children goes, and so does a peerless parent that its going leaves with one.
   */
  private removeNode(node: TrieNode<P>): void {
    this.setPeer(node, undefined);
    const [left, right] = node.child;
    if (left !== undefined && right !== undefined) return;
    this.splice(node, left ?? right);
    const parent = node.parent;
    if (
      left === undefined &&
      right === undefined &&
      parent !== undefined &&
      parent.peer === undefined
    ) {
      this.splice(parent, parent.child[0] ?? parent.child[1]);
    }
  }

  /** Replaces `node` with `child` (its only child, or nothing) in the trie. */
  private splice(node: TrieNode<P>, child: TrieNode<P> | undefined): void {
    const parent = node.parent;
    if (child !== undefined) child.parent = parent;
    if (parent !== undefined) parent.child[bitAt(node.key, parent.bits)] = child;
    else if (node.key.length === 1) this.root4 = child;
    else this.root6 = child;
  }
}

/** Clears every bit of `words` past the first `bits`, in place. */
function maskWords(words: Uint32Array, bits: number): void {
  for (let i = 0; i < words.length; i++) {
    const keep = bits - i * 32;
    if (keep >= 32) continue;
    words[i] = keep <= 0 ? 0 : words[i]! & (0xffffffff << (32 - keep));
  }
}
