// The share overlay (server/control/shares/overlay.ts) on the real policy engine: a share's
// recipient sees its device and nothing else whatever the document says (even "everything may
// reach everything"), nobody may open anything towards it, the device gains exactly one filter
// rule and one SSH rule per share (sources: the recipients' acceptances, `shares`) and keeps every other
// answer; the document is never asked about a share principal. Also the shares in force as
// read from the store's open acceptances (shares/share-active.ts).

import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import type {
  CompiledPolicy,
  PolicyNode,
  PolicySubject,
  PolicyUser,
  Principal,
} from "../../server/control/policy/types.ts";
import { type ActiveShare, withShares } from "../../server/control/shares/overlay.ts";
import { activeShares } from "../../server/control/shares/share-active.ts";
import type {
  OpenAcceptance,
  ShareAcceptanceRecord,
  ShareRecord,
} from "../../server/control/store/types.ts";

const USERS: PolicyUser[] = [
  { id: 1, email: "owner@example.com", role: "owner" },
  { id: 3, email: "alice@example.com", role: "member" },
  { id: 4, email: "bob@example.com", role: "member" },
];

const ALLOW_ALL = `{ "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "ssh": [{ "action": "accept", "src": ["*"], "dst": ["*"], "users": ["root"] }] }`;

const SELF_ONLY = `{ "acls": [
  { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
  { "action": "accept", "src": ["bob@example.com"], "dst": ["alice@example.com:443"] } ] }`;

function compiled(text: string): CompiledPolicy {
  const result = compilePolicy(text, USERS);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

const subjectPrincipal = (s: PolicySubject): Principal => ("principal" in s ? s.principal : s);

/** `base`, failing the test if it is ever asked about a share principal. */
function guarded(base: CompiledPolicy): CompiledPolicy {
  /** Returns its subjects after checking that none is a share's recipient. */
  const check = <T extends PolicySubject[]>(...subjects: T): T => {
    for (const s of subjects)
      if (subjectPrincipal(s).kind === "share") throw new Error("base asked about a share");
    return subjects;
  };
  return {
    canReach: (a, b) => base.canReach(...check(a, b)),
    filterFor: (d) => base.filterFor(...check(d)),
    sshFor: (d) => base.sshFor(...check(d)),
    subjectKey: (n) => base.subjectKey!(...check(n)),
    mayUseTag: (u, t) => base.mayUseTag(u, t),
    withUsers: (users) => guarded(base.withUsers(users)),
  };
}

const dev = (id: number, userId: number, n = id): PolicyNode => ({
  id,
  principal: { kind: "user", userId },
  addresses: [`100.64.0.${n}`, `fd7a::${n}`],
});
const recipient = (acceptanceId: number, id: number): PolicyNode => ({
  id,
  principal: { kind: "share", acceptanceId },
  addresses: [`100.64.1.${id}`, `fd7a::1:${id}`],
});
const asRecipient = (n: PolicyNode) => ({
  acceptanceId: (n.principal as { acceptanceId: number }).acceptanceId,
  nodeId: n.id,
  addresses: n.addresses,
});

// alice's device D (node 10) and her other host H (11); bob's laptop B (20); a tagged server.
const D = dev(10, 3);
const H = dev(11, 3);
const B = dev(20, 4);
const SERVER: PolicyNode = {
  id: 30,
  principal: { kind: "tags", tags: ["tag:server"] },
  addresses: ["100.64.0.30", "fd7a::30"],
};
const R1 = recipient(1, 101);
const R2 = recipient(2, 102);
const R3 = recipient(3, 103);

const webShare: ActiveShare = {
  shareId: "share-web",
  deviceNodeId: D.id,
  sshUsers: [],
  ports: [8080, 3000],
  recipients: [asRecipient(R1)],
};

describe("withShares", () => {
  it("shows a recipient its device only, even when the document lets everything reach everything", () => {
    const policy = withShares(guarded(compiled(ALLOW_ALL)), [webShare]);
    for (const other of [H, B, SERVER, R2]) {
      expect(policy.canReach(R1, other)).toBe(false);
      expect(policy.canReach(other, R1)).toBe(false);
    }
    expect(policy.canReach(R1, D)).toBe(true);
    // The device cannot open anything on the recipient (yet both maps list each other).
    expect(policy.canReach(D, R1)).toBe(false);
    expect(policy.canReach(R1.principal, D)).toBe(true);
    expect(policy.filterFor(R1)).toEqual([]);
    expect(policy.sshFor(R1)).toEqual([]);
    expect(policy.filterFor(R1.principal)).toEqual([]);
    // An acceptance the overlay does not know (ended, or not loaded yet) reaches nothing.
    expect(policy.canReach(R3, D)).toBe(false);
    expect(policy.subjectKey!(R1)).toBe("s:1");
  });

  it("adds the share's rules to its device and leaves every other answer as it was", () => {
    const base = compiled(SELF_ONLY);
    const policy = withShares(guarded(base), [{ ...webShare, sshUsers: ["alice", "deploy"] }]);
    const shares = [1];
    const tcp = (p: number) => ({ proto: "tcp", first: p, last: p });
    expect(policy.filterFor(D)).toEqual([
      ...base.filterFor(D),
      { src: { shares }, ports: [tcp(22), tcp(3000), tcp(8080)] },
    ]);
    expect(policy.sshFor(D)).toEqual([
      ...base.sshFor(D),
      { src: { shares }, users: ["alice", "deploy"], action: "accept" },
    ]);
    // The device's own group: its user's other host keeps the document's rules.
    expect(policy.subjectKey!(D)).toBe(`${base.subjectKey!(D)}#share-dev:10`);
    expect(policy.subjectKey!(H)).toBe(base.subjectKey!(H));
    for (const n of [H, B, SERVER]) {
      expect(policy.filterFor(n)).toEqual(base.filterFor(n));
      expect(policy.sshFor(n)).toEqual(base.sshFor(n));
    }
    // The device's other peers: as the document says (bob reaches alice's nodes on 443).
    for (const [a, b] of [
      [B, D],
      [D, H],
      [H, D],
      [D, B],
      [SERVER, D],
      [B, H],
    ] as const) {
      expect(policy.canReach(a, b)).toBe(base.canReach(a, b));
    }
    expect(policy.canReach(B, D)).toBe(true);
    expect(policy.mayUseTag(1, "tag:server")).toBe(base.mayUseTag(1, "tag:server"));
    // Frozen: callers share the answers.
    expect(Object.isFrozen(policy.filterFor(D))).toBe(true);
  });

  it("lets two acceptances of one share each reach the device, and only it", () => {
    const policy = withShares(guarded(compiled(ALLOW_ALL)), [
      { ...webShare, recipients: [asRecipient(R2), asRecipient(R1)] },
    ]);
    expect(policy.canReach(R1, D)).toBe(true);
    expect(policy.canReach(R2, D)).toBe(true);
    expect(policy.canReach(R1, R2)).toBe(false);
    expect(policy.canReach(R2, R1)).toBe(false);
    expect(policy.subjectKey!(R1)).not.toBe(policy.subjectKey!(R2));
    const extra = policy.filterFor(D).at(-1)!;
    expect(extra.src).toEqual({ shares: [1, 2] });
  });

  it("keeps two shares of one device apart: each rule opens its own ports", () => {
    const ssh: ActiveShare = {
      shareId: "share-ssh",
      deviceNodeId: D.id,
      sshUsers: ["alice"],
      ports: [],
      recipients: [asRecipient(R2)],
    };
    const base = compiled(SELF_ONLY);
    const policy = withShares(guarded(base), [webShare, ssh]);
    const added = policy.filterFor(D).slice(base.filterFor(D).length);
    expect(added).toEqual([
      {
        src: { shares: [2] },
        ports: [{ proto: "tcp", first: 22, last: 22 }],
      },
      {
        src: { shares: [1] },
        ports: [
          { proto: "tcp", first: 3000, last: 3000 },
          { proto: "tcp", first: 8080, last: 8080 },
        ],
      },
    ]);
    expect(policy.sshFor(D).slice(base.sshFor(D).length)).toEqual([
      {
        src: { shares: [2] },
        users: ["alice"],
        action: "accept",
      },
    ]);
    // Given in another order, the same answers (the mapper compares rules as JSON).
    const swapped = withShares(base, [ssh, webShare]);
    expect(swapped.filterFor(D)).toEqual(policy.filterFor(D));
    expect(policy.canReach(R1, D) && policy.canReach(R2, D)).toBe(true);
  });

  it("keeps a device visible to its normal peers, and the recipient away from them", () => {
    const base = compiled(SELF_ONLY);
    const policy = withShares(guarded(base), [webShare]);
    // bob already sees alice's D (443) and still does; the recipient sees neither bob nor H.
    expect(policy.canReach(B, D)).toBe(true);
    expect(policy.canReach(D, H) || policy.canReach(H, D)).toBe(true);
    expect(policy.canReach(R1, B) || policy.canReach(B, R1)).toBe(false);
    expect(policy.canReach(R1, H) || policy.canReach(H, R1)).toBe(false);
  });

  it("rebinds users under the overlay (withUsers keeps the shares)", () => {
    const policy = withShares(guarded(compiled(SELF_ONLY)), [webShare]);
    const rebound = policy.withUsers(USERS.filter((u) => u.id !== 4));
    expect(rebound.canReach(R1, D)).toBe(true);
    expect(rebound.canReach(R1, H)).toBe(false);
    expect(rebound.filterFor(D).at(-1)).toEqual(policy.filterFor(D).at(-1));
    // bob is gone from the users: the document no longer lets him in.
    expect(rebound.canReach(B, D)).toBe(false);
  });

  it("answers nothing for a share principal from the document itself (fail closed)", () => {
    const base = compiled(ALLOW_ALL);
    expect(base.canReach(R1, D)).toBe(false);
    expect(base.canReach(D, R1)).toBe(false);
    expect(base.filterFor(R1)).toEqual([]);
    expect(base.sshFor(R1)).toEqual([]);
  });

  it("is the document itself with no shares, the overlay answering only for recipients", () => {
    const base = compiled(SELF_ONLY);
    const policy = withShares(guarded(base), []);
    for (const n of [D, H, B, SERVER]) {
      expect(policy.subjectKey!(n)).toBe(base.subjectKey!(n));
      expect(policy.filterFor(n)).toEqual(base.filterFor(n));
    }
    expect(policy.canReach(R1, D)).toBe(false);
  });
});

describe("activeShares (the shares in force, from the store's open acceptances)", () => {
  const shareRecord = (id: string, extra: Partial<ShareRecord> = {}): ShareRecord => ({
    id,
    secretHash: "",
    nodeId: 10,
    createdBy: 3,
    sshUsers: [],
    ports: [8080],
    audience: "anyone",
    emails: [],
    expiresAt: 2_000,
    maxUses: null,
    uses: 1,
    note: "",
    createdAt: 0,
    revokedAt: null,
    ...extra,
  });
  const acceptance = (
    id: number,
    shareId: string,
    nodeId: number | null,
  ): ShareAcceptanceRecord => ({
    id,
    shareId,
    nodeId,
    userId: null,
    guestName: `Guest ${id}`,
    userAgent: "",
    acceptedAt: 0,
    endedAt: null,
    endReason: null,
  });
  const nodes = new Map([
    [101, { ipv4: "100.64.1.101", ipv6: "fd7a::1:101", shareAcceptanceId: 1 }],
    [102, { ipv4: "100.64.1.102", ipv6: "fd7a::1:102", shareAcceptanceId: 2 }],
    [103, { ipv4: "100.64.1.103", ipv6: "fd7a::1:103", shareAcceptanceId: 99 }],
    [104, { ipv4: "100.64.1.104", ipv6: "fd7a::1:104", shareAcceptanceId: 4 }],
    [105, { ipv4: "100.64.1.105", ipv6: "fd7a::1:105", shareAcceptanceId: 5 }],
  ]);

  it("groups recipients by share and leaves out what may not reach anything", () => {
    const web = shareRecord("web");
    const open: OpenAcceptance[] = [
      { acceptance: acceptance(1, "web", 101), share: web },
      { acceptance: acceptance(2, "web", 102), share: web },
      // A node that is not this acceptance's, a node gone, a revoked and an expired share.
      { acceptance: acceptance(3, "web", 103), share: web },
      { acceptance: acceptance(6, "web", null), share: web },
      { acceptance: acceptance(4, "old", 104), share: shareRecord("old", { revokedAt: 500 }) },
      { acceptance: acceptance(5, "late", 105), share: shareRecord("late", { expiresAt: 1_000 }) },
    ];
    expect(activeShares(open, (id) => nodes.get(id) ?? null, 1_000)).toEqual([
      {
        shareId: "web",
        deviceNodeId: 10,
        sshUsers: [],
        ports: [8080],
        recipients: [
          { acceptanceId: 1, nodeId: 101, addresses: ["100.64.1.101", "fd7a::1:101"] },
          { acceptanceId: 2, nodeId: 102, addresses: ["100.64.1.102", "fd7a::1:102"] },
        ],
      },
    ]);
  });
});
