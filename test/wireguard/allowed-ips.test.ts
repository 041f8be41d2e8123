// The allowed-IPs table (worker/wireguard/allowed-ips.ts): CIDR parsing, longest-prefix match
// by example, and a seeded differential test against a brute-force reference that also checks
// the trie's shape (no leftover joining nodes) after every phase.

import { describe, expect, it } from "vitest";
import { AllowedIps, formatCidr, parseCidr } from "../../worker/wireguard/allowed-ips.ts";
import { formatIp, parseIp } from "../../worker/wireguard/ip-address.ts";
import { typeErrorOf } from "../helpers/errors.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

/** A peer: an object, as the device's are, compared by identity. */
interface Peer {
  name: string;
}
const A: Peer = { name: "A" };
const B: Peer = { name: "B" };
const C: Peer = { name: "C" };

/** The name of the peer `text` routes to, or undefined. */
function route(table: AllowedIps<Peer>, text: string): string | undefined {
  return table.lookup(parseIp(text))?.name;
}

describe("parseCidr", () => {
  it("parses prefixes, defaults the length and masks host bits", () => {
    const cases: [string, string][] = [
      ["10.0.0.1/32", "10.0.0.1/32"],
      ["10.0.0.0/8", "10.0.0.0/8"],
      ["0.0.0.0/0", "0.0.0.0/0"],
      ["fd00::/8", "fd00::/8"],
      ["::/0", "::/0"],
      ["2001:db8::1/128", "2001:db8::1/128"],
      ["10.0.0.7", "10.0.0.7/32"],
      ["fd00::7", "fd00::7/128"],
      ["10.1.2.3/8", "10.0.0.0/8"],
      ["10.1.2.3/0", "0.0.0.0/0"],
      ["10.255.255.255/9", "10.128.0.0/9"],
      ["2001:DB8:ffff::1/33", "2001:db8:8000::/33"],
      ["fd12:3456:789a::1/48", "fd12:3456:789a::/48"],
      ["::ffff:10.1.2.3/120", "::ffff:10.1.2.0/120"],
    ];
    for (const [text, want] of cases) expect(formatCidr(parseCidr(text)), text).toBe(want);
    expect(parseCidr("10.0.0.1").addr).toEqual(new Uint8Array([10, 0, 0, 1]));
  });

  it("names what is wrong", () => {
    const cases: [string, string][] = [
      ["", "allowed IP '': empty"],
      ["/8", "allowed IP '/8': empty"],
      ["10.0.0.256/8", "allowed IP '10.0.0.256/8': octet 4 out of range"],
      ["10.0.0.0/33", "allowed IP '10.0.0.0/33': prefix length /33 out of range (0-32)"],
      ["fd00::/129", "allowed IP 'fd00::/129': prefix length /129 out of range (0-128)"],
      ["10.0.0.0/99999", "allowed IP '10.0.0.0/99999': prefix length /99999 out of range (0-32)"],
      ["10.0.0.0/", "allowed IP '10.0.0.0/': prefix length is empty"],
      ["10.0.0.0/-1", "allowed IP '10.0.0.0/-1': prefix length is not a decimal number"],
      ["10.0.0.0/8/8", "allowed IP '10.0.0.0/8/8': prefix length is not a decimal number"],
      ["10.0.0.0/08", "allowed IP '10.0.0.0/08': prefix length has a leading zero"],
      ["1:2:3:4:5:6:7:8:9/64", "allowed IP '1:2:3:4:5:6:7:8:9/64': too many groups (9, want 8)"],
      ["1::2::/64", "allowed IP '1::2::/64': more than one '::'"],
      ["hello/world", "allowed IP 'hello/world': unexpected character 'h'"],
    ];
    for (const [text, message] of cases)
      expect(
        typeErrorOf(() => parseCidr(text)),
        text,
      ).toBe(message);
    expect(typeErrorOf(() => parseCidr("1.2.3/4", "route"))).toBe(
      "route '1.2.3/4': too few octets (3, want 4)",
    );
  });
});

describe("AllowedIps", () => {
  it("matches the longest of overlapping prefixes", () => {
    const t = new AllowedIps<Peer>();
    t.insert("10.0.0.0/8", A);
    t.insert("10.1.0.0/16", B);
    t.insert("10.1.2.3/32", C);
    t.insert("10.1.128.0/17", A);
    expect(route(t, "10.9.9.9")).toBe("A");
    expect(route(t, "10.1.0.1")).toBe("B");
    expect(route(t, "10.1.2.3")).toBe("C");
    expect(route(t, "10.1.2.4")).toBe("B");
    expect(route(t, "10.1.200.1")).toBe("A");
    expect(route(t, "11.0.0.1")).toBeUndefined();
    expect(route(t, "9.255.255.255")).toBeUndefined();
    expect(t.size).toBe(4);
  });

  it("inserts in any order to the same result", () => {
    const prefixes: [string, Peer][] = [
      ["10.1.2.3/32", C],
      ["10.1.0.0/16", B],
      ["10.0.0.0/8", A],
      ["10.1.2.0/24", A],
    ];
    for (const order of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
    ]) {
      const t = new AllowedIps<Peer>();
      for (const i of order) t.insert(...prefixes[i]!);
      expect(["10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.0"].map((a) => route(t, a))).toEqual([
        "C",
        "A",
        "B",
        "A",
      ]);
    }
  });

  it("takes /0 as the default route, below every longer prefix", () => {
    const t = new AllowedIps<Peer>();
    t.insert("0.0.0.0/0", A);
    t.insert("::/0", B);
    t.insert("192.168.0.0/16", C);
    expect(route(t, "8.8.8.8")).toBe("A");
    expect(route(t, "0.0.0.0")).toBe("A");
    expect(route(t, "255.255.255.255")).toBe("A");
    expect(route(t, "192.168.4.4")).toBe("C");
    expect(route(t, "2001:db8::1")).toBe("B");
    expect(route(t, "::")).toBe("B");
    expect(t.entriesFor(A)).toEqual(["0.0.0.0/0"]);
  });

  it("keeps IPv4 and IPv6 apart", () => {
    const t = new AllowedIps<Peer>();
    t.insert("::/0", A);
    t.insert("::ffff:10.0.0.0/104", B);
    t.insert("::a00:1/128", B); // ::10.0.0.1, the old IPv4-compatible form
    expect(route(t, "10.0.0.1")).toBeUndefined();
    expect(route(t, "::ffff:10.0.0.1")).toBe("B");
    t.insert("10.0.0.0/8", C);
    t.insert("0.0.0.0/0", C);
    expect(route(t, "10.0.0.1")).toBe("C");
    expect(route(t, "::1")).toBe("A");
    t.remove("0.0.0.0/0");
    t.remove("10.0.0.0/8");
    expect(route(t, "10.0.0.1")).toBeUndefined();
    expect(t.lookup(new Uint8Array(0))).toBeUndefined();
    expect(t.lookup(new Uint8Array(5))).toBeUndefined();
  });

  it("removes and re-inserts prefixes", () => {
    const t = new AllowedIps<Peer>();
    t.insert("10.0.0.0/8", A);
    t.insert("10.1.0.0/16", B);
    expect(t.remove("10.1.0.0/16")).toBe(true);
    expect(t.remove("10.1.0.0/16")).toBe(false);
    expect(t.remove("10.1.0.0/17")).toBe(false);
    expect(t.remove("10.0.0.0/9")).toBe(false);
    expect(route(t, "10.1.0.1")).toBe("A");
    t.insert("10.1.0.0/16", C);
    expect(route(t, "10.1.0.1")).toBe("C");
    expect(t.remove("10.1.2.3/8")).toBe(true); // host bits ignored, as on insert
    expect(route(t, "10.2.0.1")).toBeUndefined();
    expect(route(t, "10.1.0.1")).toBe("C");
    expect(t.size).toBe(1);
    expect(t.entriesFor(A)).toEqual([]);
  });

  it("gives an existing prefix to the new peer", () => {
    const t = new AllowedIps<Peer>();
    t.insert("fd00::/64", A);
    t.insert("fd00::1/128", A);
    t.insert("fd00::/64", B);
    expect(route(t, "fd00::2")).toBe("B");
    expect(route(t, "fd00::1")).toBe("A");
    expect(t.size).toBe(2);
    expect(t.entriesFor(A)).toEqual(["fd00::1/128"]);
    expect(t.entriesFor(B)).toEqual(["fd00::/64"]);
    t.insert("fd00::/64", B); // same peer again: nothing changes
    expect(t.size).toBe(2);
  });

  it("removes every prefix of a peer", () => {
    const t = new AllowedIps<Peer>();
    t.insert("10.0.0.0/8", A);
    t.insert("10.1.0.0/16", B);
    t.insert("10.1.1.0/24", A);
    t.insert("fd00::/8", A);
    t.insert("fd00:1::/32", B);
    t.removePeer(A);
    expect(t.size).toBe(2);
    expect(t.entriesFor(A)).toEqual([]);
    expect(route(t, "10.1.1.1")).toBe("B");
    expect(route(t, "10.2.0.0")).toBeUndefined();
    expect(route(t, "fd00:1::1")).toBe("B");
    expect(route(t, "fd00:2::1")).toBeUndefined();
    t.removePeer(A); // twice is harmless
    t.removePeer(B);
    expect(t.size).toBe(0);
    expect(route(t, "10.1.1.1")).toBeUndefined();
  });

  it("lists a peer's prefixes canonically, in insertion order", () => {
    const t = new AllowedIps<Peer>();
    t.insert("10.1.2.3/8", A);
    t.insert("2001:0DB8:0:0:1:0:0:1", A);
    t.insert({ addr: new Uint8Array([192, 168, 1, 77]), bits: 24 }, A);
    t.insert("::ffff:1.2.3.4", A);
    expect(t.entriesFor(A)).toEqual([
      "10.0.0.0/8",
      "2001:db8::1:0:0:1/128",
      "192.168.1.0/24",
      "::ffff:1.2.3.4/128",
    ]);
    expect(t.entriesFor(B)).toEqual([]);
  });

  it("takes prefixes as bytes, copying them, and looks up views into packets", () => {
    const t = new AllowedIps<Peer>();
    const addr = new Uint8Array([100, 64, 3, 9]);
    t.insert({ addr, bits: 24 }, A);
    expect([...addr]).toEqual([100, 64, 3, 9]); // the caller's bytes are not masked
    addr.fill(0); // nor kept
    const header = new Uint8Array(20);
    header.set([100, 64, 3, 200], 16); // an IPv4 header's destination
    expect(t.lookup(header.subarray(16, 20))).toBe(A);
    expect(typeErrorOf(() => t.insert({ addr: new Uint8Array(5), bits: 8 }, A))).toBe(
      "allowed IP: an address is 4 or 16 bytes, got 5",
    );
    expect(typeErrorOf(() => t.insert({ addr: new Uint8Array(4), bits: 33 }, A))).toBe(
      "allowed IP: prefix length 33 out of range (0-32)",
    );
    expect(typeErrorOf(() => t.insert({ addr: new Uint8Array(16), bits: 1.5 }, A))).toBe(
      "allowed IP: prefix length 1.5 out of range (0-128)",
    );
    expect(typeErrorOf(() => t.insert("10.0.0.0/33", A))).toBe(
      "allowed IP '10.0.0.0/33': prefix length /33 out of range (0-32)",
    );
  });
});

/** The trie's nodes, read through a test-only view of the private fields. */
interface NodeView {
  peer: unknown;
  bits: number;
  parent: NodeView | undefined;
  child: [NodeView | undefined, NodeView | undefined];
}

/** Checks the trie's invariants; returns its node count. */
function checkShape(table: AllowedIps<number>): number {
  const view = table as unknown as { root4?: NodeView; root6?: NodeView };
  let nodes = 0;
  const walk = (node: NodeView | undefined, parent: NodeView | undefined) => {
    if (node === undefined) return;
    nodes++;
    expect(node.parent).toBe(parent);
    if (parent !== undefined) expect(node.bits).toBeGreaterThan(parent.bits);
    // A joining node exists only to hold two subtrees apart.
    if (node.peer === undefined) expect(node.child.every((c) => c !== undefined)).toBe(true);
    walk(node.child[0], node);
    walk(node.child[1], node);
  };
  walk(view.root4, undefined);
  walk(view.root6, undefined);
  expect(nodes).toBeLessThanOrEqual(2 * table.size);
  return nodes;
}

describe("differential: AllowedIps against a brute-force table", () => {
  for (const family of [4, 16]) {
    it(`agrees on ${family === 4 ? "IPv4" : "IPv6"}: 3,000 prefixes, 3,000 lookups per phase`, () => {
      const ints = seededInts(family * 1000 + 7);
      const bytes = seededBytes(family * 1000 + 8);
      const maxBits = family * 8;
      // Prefixes near a few bases, so they nest and overlap instead of scattering.
      const bases = Array.from({ length: 6 }, () => bytes(family));
      const randomPrefix = () => {
        const addr = bases[ints(bases.length)]!.slice();
        const noise = bytes(family);
        for (let i = ints(family); i < family; i++) addr[i] = noise[i]!;
        // Mostly long prefixes, some of any length from 12 bits. Shorter ones come in a late
        // phase of their own: they cover much of the space, so early on they would leave
        // no lookup unrouted.
        const bits = ints(5) === 0 ? 12 + ints(maxBits - 11) : maxBits - ints(25);
        return parseCidr(`${formatIp(addr)}/${bits}`);
      };
      const table = new AllowedIps<number>();
      const reference = new Map<string, { addr: Uint8Array; bits: number; peer: number }>();
      const refLookup = (addr: Uint8Array): number | undefined => {
        let best: { bits: number; peer: number } | undefined;
        for (const e of reference.values()) {
          if (best !== undefined && e.bits <= best.bits) continue;
          // Byte by byte, then the partial byte: a plain definition of "covers".
          const full = e.bits >> 3;
          let ok = true;
          for (let i = 0; i < full && ok; i++) ok = addr[i] === e.addr[i];
          const mask = (0xff00 >> (e.bits & 7)) & 0xff;
          if (ok && mask !== 0) ok = (addr[full]! & mask) === e.addr[full];
          if (ok) best = e;
        }
        return best?.peer;
      };
      let lookups = 0;
      let hits = 0;
      let removed = 0;
      const compare = (phase: string) => {
        expect(table.size, phase).toBe(reference.size);
        const wrong: string[] = [];
        const missesBefore = lookups - hits;
        const entries = [...reference.values()];
        for (let n = 0; n < 3000; n++) {
          const near =
            entries.length > 0 && ints(4) !== 0 ? entries[ints(entries.length)]!.addr : undefined;
          const addr = bytes(family);
          if (near) addr.set(near.subarray(0, ints(family + 1)));
          lookups++;
          const got = table.lookup(addr);
          const want = refLookup(addr);
          if (want !== undefined) hits++;
          if (got !== want) wrong.push(`${formatIp(addr)}: got ${got}, want ${want}`);
        }
        expect(wrong.slice(0, 5), phase).toEqual([]);
        if (phase !== "after adding short prefixes" && reference.size > 0) {
          expect(lookups - hits - missesBefore, phase).toBeGreaterThan(100);
        }
        for (let peer = 0; peer < 40; peer++) {
          const want = [...reference].filter(([, e]) => e.peer === peer).map(([k]) => k);
          expect(table.entriesFor(peer).sort(), `${phase}: peer ${peer}`).toEqual(want.sort());
        }
        checkShape(table);
      };

      for (let n = 0; n < 3000; n++) {
        const p = randomPrefix();
        const peer = ints(40);
        table.insert(p, peer);
        reference.set(formatCidr(p), { ...p, peer });
      }
      compare("after inserting");
      for (let n = 0; n < 1500; n++) {
        // Half the time an existing prefix, half a random one (usually absent).
        const existing = [...reference.values()];
        const p =
          ints(2) === 0 && existing.length > 0 ? existing[ints(existing.length)]! : randomPrefix();
        const key = formatCidr(p);
        const present = reference.delete(key);
        if (present) removed++;
        expect(table.remove(ints(2) === 0 ? key : { addr: p.addr, bits: p.bits }), key).toBe(
          present,
        );
        if (n % 3 === 0) {
          const q = randomPrefix();
          const peer = ints(40);
          table.insert(formatCidr(q), peer);
          reference.set(formatCidr(q), { ...q, peer });
        }
      }
      compare("after removing and re-inserting");
      for (let peer = 0; peer < 40; peer += 3) {
        table.removePeer(peer);
        for (const [k, e] of reference) if (e.peer === peer) reference.delete(k);
      }
      compare("after removing peers");
      for (let n = 0; n < 12; n++) {
        // Given with host bits set, which insert must mask off.
        const raw = { addr: bytes(family), bits: ints(12) };
        const masked = parseCidr(`${formatIp(raw.addr)}/${raw.bits}`);
        const peer = ints(40);
        table.insert(raw, peer);
        reference.set(formatCidr(masked), { ...masked, peer });
      }
      compare("after adding short prefixes");
      for (let peer = 0; peer < 40; peer++) table.removePeer(peer);
      reference.clear();
      expect(checkShape(table)).toBe(0);
      compare("after removing everything");
      console.log(
        `allowed-ips differential (${family === 4 ? "IPv4" : "IPv6"}): ${lookups} lookups ` +
          `(${hits} routed), ${removed} prefixes removed one by one`,
      );
      // Both outcomes must be common, or the comparison proves little.
      expect(hits).toBeGreaterThan(lookups / 4);
      expect(lookups - hits).toBeGreaterThan(lookups / 10);
    });
  }
});
