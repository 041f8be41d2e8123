// The map's inbound filter (FilterRule[]) as nftables rules on the TUN interface
// (docs/agent-tun.md, "Filter model"). WireGuard's cryptokey routing already guarantees that
// a packet arriving on the interface comes from a peer of the map and carries one of that
// peer's mesh addresses as its source, so a source address here stands for the peer (what the
// userspace filter checks by key). A rule's users and tags become the addresses of the peers
// they select; its CIDRs are used as they are; its ports become `tcp dport`/`udp dport` sets
// or an ICMP match (`*` is TCP, UDP and ICMP, as in the userspace filter). Answers to flows
// this host opened, and ICMP errors about tracked flows, are accepted. A share recipient's
// node (PeerView.share, issue 17) is judged before the document's rules, by the rules whose
// `shares` hold its acceptance alone; whatever else comes from its addresses is dropped there,
// so no `any`, CIDR (even one covering the mesh range), user or tag rule lets it in
// (fail-closed, as in the userspace filter). Anything else arriving
// on the interface is dropped and counted. Other interfaces are not touched: the chain
// returns at once for them. A second chain, on the forward hook, drops every packet that
// enters from the interface and is not for this host (one the host would route on when
// ip_forward is 1): peers reach this node's mesh addresses, never its LAN through it.
//
// The ruleset is one table of its own (`inet corridor_<iface>`), replaced as a whole in one
// atomic `nft -f` transaction on every change, and deleted on close.

import { execFileSync } from "node:child_process";
import type { FilterRule, NetworkMap, PeerView, PortRange } from "../../../worker/control/types.ts";
import { formatIp, parseIp } from "../../../worker/wireguard/ip-address.ts";
import type { Logger } from "../../log.ts";
import type { HostCommands } from "./exec.ts";
import { withSecretFifo } from "./key-fifo.ts";
import { canonicalCidr } from "./tun-sync.ts";

/** The table holding an interface's filter. */
export function filterTable(iface: string): string {
  return `corridor_${iface.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** Addresses (and prefixes) of one family that a rule's source selects. */
interface Sources {
  v4: string[];
  v6: string[];
  /** The rule selects every source. */
  any: boolean;
}

/** Whether the rule selects the peer by identity; a share recipient by `shares` alone. */
function selects(rule: FilterRule, peer: PeerView): boolean {
  const src = rule.src;
  if (peer.share !== undefined) return src.shares?.includes(peer.share.acceptanceId) === true;
  if (src.any === true) return true;
  const user = peer.user?.id;
  if (user !== undefined && src.users?.includes(user)) return true;
  return peer.tags.some((tag) => src.tags?.includes(tag) === true);
}

/** `address` as a one-address prefix ("100.64.0.9/32"), or undefined when it does not parse. */
function hostPrefix(address: string): string | undefined {
  try {
    // Addresses may come as "100.64.0.1" or "100.64.0.1/32" (as in filter-rules.ts): the host
    // part is the address, so a recipient's addresses are always in its drop set.
    const slash = address.indexOf("/");
    const bytes = parseIp(slash < 0 ? address : address.slice(0, slash));
    return `${formatIp(bytes)}/${bytes.length * 8}`;
  } catch {
    return undefined;
  }
}

/** Splits prefixes by family into sorted, unique lists. */
function byFamily(cidrs: Iterable<string>): Pick<Sources, "v4" | "v6"> {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const cidr of cidrs) {
    const canonical = canonicalCidr(cidr);
    if (canonical === undefined) continue;
    (canonical.includes(":") ? v6 : v4).add(canonical);
  }
  return { v4: [...v4].sort(), v6: [...v6].sort() };
}

/** The addresses of `peers` as one-address prefixes. */
function addressesOf(peers: readonly PeerView[]): string[] {
  return peers.flatMap((peer) =>
    peer.addresses.map(hostPrefix).filter((p): p is string => p !== undefined),
  );
}

/**
 * What a rule selects among `peers` (users, tags, any; a share recipient only by `shares`)
 * and, unless `guestsOnly`, its CIDRs and `any`. For the recipients' rules `guestsOnly` is set:
 * only their own addresses.
 */
function sourcesOf(rule: FilterRule, peers: readonly PeerView[], guestsOnly: boolean): Sources {
  const selected = addressesOf(peers.filter((peer) => selects(rule, peer)));
  if (guestsOnly) return { ...byFamily(selected), any: false };
  return { ...byFamily([...selected, ...(rule.src.cidrs ?? [])]), any: rule.src.any === true };
}

/** The accept lines of one rule for `sources`, per family and protocol match. */
function acceptLines(rule: FilterRule, sources: Sources): string[] {
  const out: string[] = [];
  for (const family of ["ip", "ip6"] as const) {
    const list = family === "ip" ? sources.v4 : sources.v6;
    if (!sources.any && list.length === 0) continue;
    const nfproto = `meta nfproto ${family === "ip" ? "ipv4" : "ipv6"}`;
    const saddr = sources.any ? "" : `${family} saddr { ${list.join(", ")} }`;
    // An explicit family match: an inet chain sees both, and `ip saddr` alone would not
    // keep IPv6 packets out of a rule that names no IPv4 source (the "any" case).
    for (const match of portMatches(rule.ports, family)) {
      const words = [nfproto, saddr, match, "accept"].filter((w) => w !== "");
      out.push(`    ${words.join(" ")}`);
    }
  }
  return out;
}

function checkPort(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new RangeError(`filter port ${n}: 0-65535`);
  return n;
}

/**
 * The protocol and port matches of one rule, per family, with the userspace filter's meaning
 * (docs/control.md): `*` is TCP, UDP or ICMP; ports apply to TCP and UDP; ICMP has none.
 * Other IP protocols match no rule (the userspace filter drops them too).
 */
function portMatches(ports: readonly PortRange[], family: "ip" | "ip6"): string[] {
  const lists = { tcp: [] as string[], udp: [] as string[] };
  let icmp = false;
  for (const range of ports) {
    const first = checkPort(range.first);
    const last = checkPort(range.last);
    if (first > last) continue;
    const text =
      first === 0 && last === 65535 ? "*" : first === last ? `${first}` : `${first}-${last}`;
    if (range.proto === "tcp" || range.proto === "*") lists.tcp.push(text);
    if (range.proto === "udp" || range.proto === "*") lists.udp.push(text);
    if (range.proto === "icmp" || range.proto === "*") icmp = true;
  }
  const out: string[] = [];
  for (const proto of ["tcp", "udp"] as const) {
    const list = [...new Set(lists[proto])];
    if (list.length === 0) continue;
    out.push(
      list.includes("*") ? `meta l4proto ${proto}` : `${proto} dport { ${list.join(", ")} }`,
    );
  }
  if (icmp) out.push(family === "ip" ? "meta l4proto icmp" : "meta l4proto ipv6-icmp");
  return out;
}

/**
 * The nft script that replaces the interface's filter with `map`'s (atomically: the table is
 * made, deleted and made again in one transaction, so there is never a moment without it).
 */
export function filterRuleset(iface: string, map: Pick<NetworkMap, "peers" | "filter">): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface))
    throw new TypeError(`interface name ${JSON.stringify(iface)}`);
  const table = filterTable(iface);
  const guests = map.peers.filter((peer) => peer.share !== undefined);
  const members = map.peers.filter((peer) => peer.share === undefined);
  // Share recipients first: their own rules, then a drop of everything else from them, so
  // the document's rules below never see a recipient's packet.
  const guestRules: string[] = [];
  if (guests.length > 0) {
    for (const rule of map.filter)
      guestRules.push(...acceptLines(rule, sourcesOf(rule, guests, true)));
    const all = byFamily(addressesOf(guests));
    if (all.v4.length > 0)
      guestRules.push(`    meta nfproto ipv4 ip saddr { ${all.v4.join(", ")} } counter drop`);
    if (all.v6.length > 0)
      guestRules.push(`    meta nfproto ipv6 ip6 saddr { ${all.v6.join(", ")} } counter drop`);
  }
  const rules: string[] = [];
  for (const rule of map.filter) rules.push(...acceptLines(rule, sourcesOf(rule, members, false)));
  return [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    iifname != "${iface}" accept`,
    // Answers to what this host opened (and ICMP errors); a flow a peer opened is
    // judged packet by packet like a new one, as in the userspace filter, so a narrowed
    // policy also ends sessions it no longer allows.
    "    ct direction reply accept",
    "    ct state related accept",
    "    ct state invalid drop",
    ...guestRules,
    ...rules,
    "    counter drop",
    "  }",
    // What enters from the interface and is not for this host (its own mesh addresses are
    // judged on the input hook above) would be routed on by a host with ip_forward=1: peers
    // must not reach its LAN (or other interfaces) through it.
    "  chain forward {",
    "    type filter hook forward priority filter; policy accept;",
    `    iifname "${iface}" counter drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** An interface's filter table: loaded per map when it changes, deleted on close or exit. */
export class InterfaceFilter {
  private ruleset: string | undefined;
  private readonly table: string;
  /** At process exit without close(): the table goes (the interface has its own hook). */
  private readonly exitHook = () => {
    const [file, ...args] = this.commands.argv([
      this.commands.tools.nft,
      "delete",
      "table",
      "inet",
      this.table,
    ]);
    try {
      execFileSync(file ?? this.commands.tools.nft, args, { stdio: "ignore", timeout: 5000 });
    } catch {}
  };

  constructor(
    private readonly commands: HostCommands,
    private readonly iface: string,
    private readonly log: Logger,
  ) {
    this.table = filterTable(iface);
  }

  /** Loads `map`'s filter when it differs from the one loaded (one atomic `nft -f`). */
  async apply(map: Pick<NetworkMap, "peers" | "filter">): Promise<void> {
    const ruleset = filterRuleset(this.iface, map);
    if (ruleset === this.ruleset) return;
    // Through a named pipe: `nft -f /dev/stdin` fails on Node's socket stdio like wg does.
    await withSecretFifo(ruleset, (path) =>
      this.commands.must([this.commands.tools.nft, "-f", path]),
    );
    if (this.ruleset === undefined) process.on("exit", this.exitHook);
    this.ruleset = ruleset;
    this.log.info({ table: this.table, rules: map.filter.length }, "tun_filter_loaded");
  }

  /** Deletes the table (if one was loaded). */
  async close(): Promise<void> {
    if (this.ruleset === undefined) return;
    process.off("exit", this.exitHook);
    this.ruleset = undefined;
    const deleted = await this.commands.run([
      this.commands.tools.nft,
      "delete",
      "table",
      "inet",
      this.table,
    ]);
    if (deleted.code !== 0) {
      throw new Error(`\`nft delete table inet ${this.table}\` failed: ${deleted.stderr.trim()}`);
    }
  }
}
