// The map's filter as nftables rules (server/agent/tun/nft-filter.ts): which peers' addresses
// each rule selects (user, tag, CIDR, any), ports with the userspace filter's meaning (`*` =
// TCP, UDP and ICMP; ports for TCP and UDP only), refusals of bad input, and a seeded check
// that the kernel accepts what is generated: 80 random maps, each loaded with `nft -f` in a
// network namespace of its own (`unshare -n`, gone when nft exits): the host's rules never
// change.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCommand } from "../../server/agent/tun/exec.ts";
import { filterRuleset, filterTable } from "../../server/agent/tun/nft-filter.ts";
import type { FilterRule, PeerView, PortRange } from "../../worker/control/types.ts";
import { describeWithPrereq, executable, prereq, root } from "../helpers/prereq.ts";
import { seededInts } from "../helpers/seeded.ts";

function peer(id: number, user: number | null, tags: string[] = []): PeerView {
  return {
    id,
    key: Buffer.alloc(32, id).toString("base64"),
    name: `n${id}`,
    addresses: [`100.64.0.${id}`, `fd7a:115c:a1e0::${id.toString(16)}`],
    user: user === null ? null : { id: user, name: `u${user}`, email: "", signedInAt: null },
    tags,
    hostname: `n${id}`,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: "",
  };
}

const peers = [peer(2, 7), peer(3, 8), peer(4, null, ["tag:db"])];
const lines = (filter: FilterRule[]) =>
  filterRuleset("corridor0", { peers, filter })
    .split("\n")
    .filter((l) => l.endsWith(" accept") && l.includes("nfproto"))
    .map((l) => l.trim());

describe("filterRuleset", () => {
  it("selects peers by user and tag, uses CIDRs as they are, and maps ports", () => {
    expect(
      lines([{ src: { users: [7] }, ports: [{ proto: "tcp", first: 22, last: 22 }] }]),
    ).toEqual([
      "meta nfproto ipv4 ip saddr { 100.64.0.2/32 } tcp dport { 22 } accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::2/128 } tcp dport { 22 } accept",
    ]);
    expect(
      lines([
        {
          src: { tags: ["tag:db"], cidrs: ["10.1.0.0/16"] },
          ports: [
            { proto: "udp", first: 5000, last: 5010 },
            { proto: "icmp", first: 0, last: 65535 },
          ],
        },
      ]),
    ).toEqual([
      "meta nfproto ipv4 ip saddr { 10.1.0.0/16, 100.64.0.4/32 } udp dport { 5000-5010 } accept",
      "meta nfproto ipv4 ip saddr { 10.1.0.0/16, 100.64.0.4/32 } meta l4proto icmp accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::4/128 } udp dport { 5000-5010 } accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::4/128 } meta l4proto ipv6-icmp accept",
    ]);
  });

  it("`*` is TCP, UDP and ICMP (ports for TCP and UDP); `any` needs no source match", () => {
    expect(lines([{ src: { any: true }, ports: [{ proto: "*", first: 443, last: 443 }] }])).toEqual(
      [
        "meta nfproto ipv4 tcp dport { 443 } accept",
        "meta nfproto ipv4 udp dport { 443 } accept",
        "meta nfproto ipv4 meta l4proto icmp accept",
        "meta nfproto ipv6 tcp dport { 443 } accept",
        "meta nfproto ipv6 udp dport { 443 } accept",
        "meta nfproto ipv6 meta l4proto ipv6-icmp accept",
      ],
    );
    expect(
      lines([{ src: { any: true }, ports: [{ proto: "*", first: 0, last: 65535 }] }]),
    ).toContain("meta nfproto ipv4 meta l4proto tcp accept");
  });

  it("a rule that selects nobody adds nothing; the rest is dropped and only our interface is judged", () => {
    const text = filterRuleset("corridor0", {
      peers,
      filter: [{ src: { users: [99] }, ports: [{ proto: "tcp", first: 1, last: 2 }] }],
    });
    expect(text).not.toMatch(/saddr/);
    expect(text).toContain('iifname != "corridor0" accept');
    expect(text).toContain("ct direction reply accept");
    const input = text.slice(text.indexOf("chain input"), text.indexOf("chain forward"));
    expect(input.trim().split("\n").at(-2)?.trim()).toBe("counter drop");
    expect(filterTable("wg.0-a")).toBe("corridor_wg_0_a");
  });

  it("a share recipient is judged first, by its `shares` rules alone, then dropped", () => {
    const guest: PeerView = {
      ...peer(9, null),
      addresses: ["100.64.0.9/32", "fd7a:115c:a1e0::9/128"],
      share: { acceptanceId: 5 },
    };
    const other: PeerView = { ...peer(10, null), share: { acceptanceId: 6 } };
    const text = filterRuleset("corridor0", {
      peers: [...peers, guest, other],
      filter: [
        // The document: everything for everybody, and a CIDR covering the mesh range.
        { src: { any: true }, ports: [{ proto: "*", first: 0, last: 65535 }] },
        { src: { cidrs: ["100.64.0.0/10"] }, ports: [{ proto: "tcp", first: 0, last: 65535 }] },
        { src: { users: [7], shares: [5] }, ports: [{ proto: "tcp", first: 443, last: 443 }] },
        { src: { shares: [5] }, ports: [{ proto: "tcp", first: 8080, last: 8080 }] },
      ],
    });
    const input = text
      .slice(text.indexOf("ct state invalid drop"), text.indexOf("chain forward"))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.includes("nfproto"));
    expect(input).toEqual([
      // The recipient's own rules: only its addresses, only the shared ports.
      "meta nfproto ipv4 ip saddr { 100.64.0.9/32 } tcp dport { 443 } accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::9/128 } tcp dport { 443 } accept",
      "meta nfproto ipv4 ip saddr { 100.64.0.9/32 } tcp dport { 8080 } accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::9/128 } tcp dport { 8080 } accept",
      // Every recipient's other packets end here, before the document's rules.
      "meta nfproto ipv4 ip saddr { 100.64.0.10/32, 100.64.0.9/32 } counter drop",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::9/128, fd7a:115c:a1e0::a/128 } counter drop",
      // The document's rules, as before (the `shares` part selects no member).
      "meta nfproto ipv4 meta l4proto tcp accept",
      "meta nfproto ipv4 meta l4proto udp accept",
      "meta nfproto ipv4 meta l4proto icmp accept",
      "meta nfproto ipv6 meta l4proto tcp accept",
      "meta nfproto ipv6 meta l4proto udp accept",
      "meta nfproto ipv6 meta l4proto ipv6-icmp accept",
      "meta nfproto ipv4 ip saddr { 100.64.0.0/10 } meta l4proto tcp accept",
      "meta nfproto ipv4 ip saddr { 100.64.0.2/32 } tcp dport { 443 } accept",
      "meta nfproto ipv6 ip6 saddr { fd7a:115c:a1e0::2/128 } tcp dport { 443 } accept",
    ]);
    // No recipient: no recipient lines at all.
    expect(filterRuleset("corridor0", { peers, filter: [] })).not.toMatch(/saddr/);
  });

  it("a forward-hook chain drops whatever enters from the interface and is not for this host", () => {
    const text = filterRuleset("corridor0", { peers, filter: [] });
    const forward = text.slice(text.indexOf("chain forward"));
    expect(forward).toContain("type filter hook forward priority filter; policy accept;");
    expect(forward).toContain('iifname "corridor0" counter drop');
  });

  it("refuses a bad interface name or port", () => {
    expect(() => filterRuleset('x" accept', { peers, filter: [] })).toThrow(TypeError);
    const bad: PortRange = { proto: "tcp", first: 1, last: 70000 };
    expect(() =>
      filterRuleset("c0", { peers, filter: [{ src: { any: true }, ports: [bad] }] }),
    ).toThrow(/70000/);
  });
});

const nft = "/usr/sbin/nft";
const need = prereq(root(), executable(nft), executable("/usr/bin/unshare"));

describeWithPrereq(need, "generated rulesets loaded by the kernel (nft -f, private netns)", () => {
  const dir = mkdtempSync(join(tmpdir(), "corridor-nft-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("80 seeded random maps: the kernel loads every ruleset", async () => {
    const int = seededInts(0x4f7);
    const protos = ["tcp", "udp", "icmp", "*"] as const;
    for (let n = 0; n < 80; n++) {
      const many = Array.from({ length: 1 + int(20) }, (_, i) => {
        const view = peer(i + 2, int(3) === 0 ? null : int(4), int(2) === 0 ? ["tag:a"] : []);
        // Some share recipients (acceptances 0-2): judged first, then dropped.
        return int(4) === 0
          ? { ...view, user: null, tags: [], share: { acceptanceId: int(3) } }
          : view;
      });
      const filter: FilterRule[] = Array.from({ length: int(6) }, () => {
        const first = int(3) === 0 ? 0 : int(65536);
        return {
          src: {
            any: int(8) === 0 ? true : undefined,
            users: [int(4)],
            tags: int(2) === 0 ? ["tag:a"] : [],
            cidrs:
              int(3) === 0 ? [`10.${int(256)}.0.0/16`, `fd00:${int(65536).toString(16)}::/32`] : [],
            shares: int(3) === 0 ? [int(3)] : undefined,
          },
          ports: Array.from({ length: 1 + int(3) }, () => ({
            proto: protos[int(4)] ?? "tcp",
            first,
            last: int(2) === 0 ? 65535 : Math.min(65535, first + int(100)),
          })),
        };
      });
      const file = join(dir, `rules-${n}.nft`);
      const text = filterRuleset(`c${n}`, { peers: many, filter });
      writeFileSync(file, text);
      const checked = await runCommand(["/usr/bin/unshare", "-n", nft, "-f", file]);
      expect(checked.code, `map ${n}: ${checked.stderr}\n${text}`).toBe(0);
    }
  }, 120_000);
});
