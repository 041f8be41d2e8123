// The share quarantine holds against the document's own rules (issue 17): the overlay names a
// recipient by its acceptance (`src.shares`), and every enforcer matches a recipient's node
// (PeerView.share) by such a rule alone. Under "everything may reach everything, ssh as root
// for all" a recipient of port 8080 reaches port 8080 only and logs in as the share's users
// only, while an ordinary peer keeps the document's `*`; a rule whose CIDR covers the mesh
// range does not let a recipient in; a peer without `share` is never matched by `shares`.
// Checked on the compiled rules of the userspace filter (filter-rules.ts), the agent's login
// decision (access.ts) and the codec (a recipient's view and a `shares` selector round-trip).

import { describe, expect, it } from "vitest";
import { decideLogin, selects } from "../../server/agent/ssh/access.ts";
import type { LocalUser } from "../../server/agent/ssh/users.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import type { CompiledPolicy, PolicyNode, PolicyUser } from "../../server/control/policy/types.ts";
import { type ActiveShare, withShares } from "../../server/control/shares/overlay.ts";
import { decodeServerMessage, encodeServerMessage } from "../../worker/control/codec.ts";
import { compilePeer, compileRule, rangesAccept } from "../../worker/control/filter-rules.ts";
import { FLOW_TCP, FLOW_UDP } from "../../worker/control/flow-table.ts";
import type { FilterRule, PeerView, SshRule } from "../../worker/control/types.ts";
import { mapMessage, peer } from "./codec-fixtures.ts";

const USERS: PolicyUser[] = [
  { id: 1, email: "owner@example.com", role: "owner" },
  { id: 3, email: "alice@example.com", role: "member" },
];

const ALLOW_ALL = `{ "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "ssh": [{ "action": "accept", "src": ["*"], "dst": ["*"], "users": ["root"] }] }`;

function compiled(text: string): CompiledPolicy {
  const result = compilePolicy(text, USERS);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

// alice's device D (node 10); the recipient's node R (acceptance 5, node 101).
const D: PolicyNode = {
  id: 10,
  principal: { kind: "user", userId: 3 },
  addresses: ["100.64.0.10", "fd7a:115c:a1e0::a"],
};
const R_V4 = "100.64.1.101";
const R_V6 = "fd7a:115c:a1e0::1:65";
const SHARE: ActiveShare = {
  shareId: "share-web",
  deviceNodeId: D.id,
  sshUsers: ["guest"],
  ports: [8080],
  recipients: [{ acceptanceId: 5, nodeId: 101, addresses: [R_V4, R_V6] }],
};

/** The recipient's node as the device's map shows it. */
const guest: PeerView = peer(101, {
  name: "share-1",
  addresses: [R_V4, R_V6],
  user: null,
  tags: [],
  share: { acceptanceId: 5 },
});
/** An ordinary peer (the owner's laptop). */
const member: PeerView = peer(20, {
  user: { id: 1, name: "Owner", email: "owner@example.com", signedInAt: null },
  tags: [],
});

const account = (name: string, uid: number): LocalUser => ({
  name,
  uid,
  gid: uid,
  home: `/home/${name}`,
  shell: "/bin/sh",
});

/** Whether `view` may open TCP `port` on the device under `filter` (the userspace filter's answer). */
function opens(filter: readonly FilterRule[], view: PeerView, port: number, proto = FLOW_TCP) {
  const compiledPeer = compilePeer(view, filter.map(compileRule));
  return compiledPeer.ranges.map((ranges) => rangesAccept(ranges, proto, port));
}

function login(rules: readonly SshRule[], caller: PeerView, address: string, user: string) {
  return decideLogin({
    caller,
    address,
    rules,
    requested: user,
    account: account(user, user === "root" ? 0 : 1000),
    now: 1_800_000_000_000,
    runAs: "any",
    checkUrl: "https://control.example/login/check",
  }).allowed;
}

describe("the share quarantine against the document's rules", () => {
  const policy = withShares(compiled(ALLOW_ALL), [SHARE]);
  const filter = policy.filterFor(D);
  const ssh = policy.sshFor(D);

  it("names the recipient by its acceptance, never by address", () => {
    expect(filter.at(-1)).toEqual({
      src: { shares: [5] },
      ports: [
        { proto: "tcp", first: 22, last: 22 },
        { proto: "tcp", first: 8080, last: 8080 },
      ],
    });
    expect(ssh.at(-1)).toEqual({ src: { shares: [5] }, users: ["guest"], action: "accept" });
    for (const rule of [...filter, ...ssh]) {
      if (rule.src.shares !== undefined) expect(rule.src.cidrs).toBeUndefined();
    }
    // The document's `*` is still there for everybody else.
    expect(filter.some((rule) => rule.src.any === true)).toBe(true);
  });

  it("the packet filter opens the shared ports to the recipient, and `*` to an ordinary peer", () => {
    expect(opens(filter, guest, 8080)).toEqual([true, true]);
    expect(opens(filter, guest, 22)).toEqual([true, true]);
    for (const port of [21, 80, 443, 5432, 8081])
      expect(opens(filter, guest, port)).toEqual([false, false]);
    expect(opens(filter, guest, 53, FLOW_UDP)).toEqual([false, false]);
    for (const port of [22, 80, 8080, 5432])
      expect(opens(filter, member, port)).toEqual([true, true]);
    expect(opens(filter, member, 53, FLOW_UDP)).toEqual([true, true]);
  });

  it("SSH lets the recipient be the share's users only, and an ordinary peer root", () => {
    expect(login(ssh, guest, R_V4, "guest")).toBe(true);
    expect(login(ssh, guest, R_V4, "root")).toBe(false);
    expect(login(ssh, guest, R_V6, "root")).toBe(false);
    expect(login(ssh, member, member.addresses[0]!, "root")).toBe(true);
    expect(login(ssh, member, member.addresses[0]!, "guest")).toBe(false);
  });

  it("a CIDR covering the mesh range, a user or a tag rule does not let the recipient in", () => {
    const wide: FilterRule[] = [
      {
        src: { cidrs: ["100.64.0.0/10", "fd7a:115c:a1e0::/48", "0.0.0.0/0", "::/0"] },
        ports: [{ proto: "*", first: 0, last: 65535 }],
      },
      { src: { users: [1, 3] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
      { src: { tags: ["tag:server"] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
      ...filter.filter((rule) => rule.src.shares !== undefined),
    ];
    expect(opens(wide, guest, 443)).toEqual([false, false]);
    expect(opens(wide, guest, 8080)).toEqual([true, true]);
    expect(opens(wide, member, 443)).toEqual([true, true]);
    const wideSsh: SshRule[] = [
      { src: { cidrs: ["100.64.0.0/10", "::/0"] }, users: ["root"], action: "accept" },
      { src: { any: true }, users: ["root"], action: "accept" },
    ];
    expect(login(wideSsh, guest, R_V4, "root")).toBe(false);
    expect(login(wideSsh, guest, R_V6, "root")).toBe(false);
    expect(selects({ cidrs: ["100.64.0.0/10"] }, guest, R_V4)).toBe(false);
  });

  it("another acceptance's rule, or a peer without `share`, is not selected by `shares`", () => {
    const other: PeerView = { ...guest, share: { acceptanceId: 6 } };
    expect(opens(filter, other, 8080)).toEqual([false, false]);
    expect(login(ssh, other, R_V4, "guest")).toBe(false);
    // The recipient's addresses on a peer without the mark: only the document's rules count.
    const unmarked: PeerView = { ...member, addresses: guest.addresses };
    const onlyShare: FilterRule[] = [
      { src: { shares: [5] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
    ];
    expect(opens(onlyShare, unmarked, 8080)).toEqual([false, false]);
    expect(selects({ shares: [5] }, unmarked, R_V4)).toBe(false);
  });

  it("a recipient's view and a `shares` selector cross the wire unchanged", () => {
    const message = mapMessage(2);
    message.map.peers.push(guest);
    message.map.filter = [...filter];
    message.map.ssh = [...ssh];
    const decoded = decodeServerMessage(encodeServerMessage(message));
    expect(decoded).toEqual(message);
    if (decoded.type !== "map") throw new Error(decoded.type);
    expect(decoded.map.peers.at(-1)!.share).toEqual({ acceptanceId: 5 });
    expect(decoded.map.peers[0]!.share).toBeUndefined();
  });
});
