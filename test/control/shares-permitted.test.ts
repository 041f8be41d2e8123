// A member shares no more than the policy in force lets her use on the device (shares/
// permitted.ts): SSH users by accept rules, or check rules her last sign-in is within; ports
// open to her in the device's filter. Admins and the owner are not limited; a member with no
// policy to ask is refused. Also: at most SHARE_OPEN_MAX open acceptances per share, even with
// no use limit. The store is SQLite in a temp dir; the policy is compiled from its users.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { MeshChanges } from "../../server/control/changes.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import type { CompiledPolicy } from "../../server/control/policy/types.ts";
import { policyUser } from "../../server/control/policy-holder.ts";
import { ShareError } from "../../server/control/shares/errors.ts";
import { portGranted, sshGranted } from "../../server/control/shares/permitted.ts";
import { SHARE_OPEN_MAX, ShareService } from "../../server/control/shares/service.ts";
import type { ShareSpec } from "../../server/control/shares/validate.ts";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store, UserRecord } from "../../server/control/store/types.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { nodeInput, userInput } from "./store.suite.ts";

const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

const quiet: MeshChanges = {
  nodeChanged: async () => {},
  nodeRemoved: async () => {},
  userChanged: async () => {},
  userSignedOut: async () => {},
  policyChanged: async () => {},
  sharesChanged: async () => {},
};

/** Member ports 22 and 443 on their own nodes; SSH as ada by a 1 h check rule, as bob by accept. */
const NARROW = `{
  "acls": [{ "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22,443"] }],
  "ssh": [
    { "action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["ada"], "checkPeriod": "1h" },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["bob"] },
  ],
}`;

const root = mkdtempSync(join(tmpdir(), "corridor-share-permitted-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const opened: Store[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
let n = 0;

async function setup(text: string, memberLoginAt: number | null = null) {
  const store = await openSqliteStore(join(root, `db-${++n}`, "control.db"));
  opened.push(store);
  await loadOrInitSettings(store);
  const owner = await store.createUser(userInput(1, "owner"));
  const member = await store.createUser({ ...userInput(2), lastLoginAt: memberLoginAt });
  const hostKeys = { sshHostKeys: ["ssh-ed25519 AAAA"] };
  const own = await store.createNode(nodeInput(1, member.id, hostKeys));
  const others = await store.createNode(nodeInput(2, owner.id, hostKeys));
  const result = compilePolicy(text, (await store.listUsers()).map(policyUser));
  if (!result.ok) throw new Error(result.errors[0]?.message);
  const policy: CompiledPolicy = result.policy;
  const service = (withPolicy = true) =>
    new ShareService({
      store,
      meshChanges: quiet,
      baseUrl: "https://corridor.example.com/",
      now: () => NOW,
      ...(withPolicy ? { policy: () => policy } : {}),
    });
  const as = (user: UserRecord) => ({ user, via: "session", source: "192.0.2.1" });
  return { store, owner, member, own, others, service, as };
}

const spec = (nodeId: number, fields: Partial<ShareSpec> = {}): ShareSpec => ({
  nodeId,
  sshUsers: [],
  ports: [],
  audience: "anyone",
  emails: [],
  expiryMs: HOUR,
  maxUses: 1,
  note: "",
  ...fields,
});

/** The refusal `work` throws (fails when it succeeds). */
async function refusal(work: Promise<unknown>): Promise<ShareError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ShareError)) throw new Error(`expected a ShareError, got ${error}`);
  return error;
}

describe("a member shares only what the policy lets her use", () => {
  it("default policy: non-root users and her node's ports; root is refused, naming it", async () => {
    const { own, member, service, as } = await setup(DEFAULT_POLICY);
    await service().create(spec(own.id, { sshUsers: ["ada"], ports: [8080] }), as(member));
    const error = await refusal(
      service().create(spec(own.id, { sshUsers: ["ada", "root"] }), as(member)),
    );
    expect(error.code).toBe("share_forbidden");
    expect(error.message).toBe(
      `the policy does not let you log in to ${own.name} as root, so you cannot share it`,
    );
  });

  it("ports must be open to her in the device's filter", async () => {
    const { own, member, service, as } = await setup(NARROW);
    await service().create(spec(own.id, { ports: [22, 443] }), as(member));
    const error = await refusal(service().create(spec(own.id, { ports: [443, 8080] }), as(member)));
    expect(error.code).toBe("share_forbidden");
    expect(error.message).toContain("TCP port 8080");
  });

  it("a check rule counts only while her last sign-in is within its period", async () => {
    const fresh = await setup(NARROW, NOW - HOUR + 1000);
    await fresh.service().create(spec(fresh.own.id, { sshUsers: ["ada"] }), fresh.as(fresh.member));
    const stale = await setup(NARROW, NOW - HOUR - 1000);
    const error = await refusal(
      stale.service().create(spec(stale.own.id, { sshUsers: ["ada"] }), stale.as(stale.member)),
    );
    expect(error.message).toContain("as ada");
    // An accept rule needs no sign-in at all; root, which no rule names, never.
    await stale.service().create(spec(stale.own.id, { sshUsers: ["bob"] }), stale.as(stale.member));
    const never = await setup(NARROW, null);
    expect(
      (
        await refusal(
          never.service().create(spec(never.own.id, { sshUsers: ["ada"] }), never.as(never.member)),
        )
      ).code,
    ).toBe("share_forbidden");
  });

  it("the sign-in is read from the store, not from the caller's copy", async () => {
    const { store, own, member, service, as } = await setup(NARROW, null);
    await store.updateUser(member.id, { lastLoginAt: NOW - 60_000 });
    // `member` still says never signed in; the store says a minute ago.
    await service().create(spec(own.id, { sshUsers: ["ada"] }), as(member));
  });

  it("admins and the owner keep sharing anything their node's server can do", async () => {
    const { others, owner, service, as } = await setup(NARROW);
    await service().create(spec(others.id, { sshUsers: ["root"], ports: [8080] }), as(owner));
  });

  it("without a policy to ask, a member may not share at all", async () => {
    const { own, member, service, as } = await setup(DEFAULT_POLICY);
    const error = await refusal(service(false).create(spec(own.id, { ports: [8080] }), as(member)));
    expect(error.code).toBe("share_forbidden");
  });
});

describe("rule matching", () => {
  it("only rules whose source is the sharer count (tags, CIDRs and others' ids do not)", () => {
    const sharer = { id: 7, lastLoginAt: null };
    const rule = (src: object) => ({ src, users: ["root"], action: "accept" as const });
    expect(sshGranted([rule({ any: true })], sharer, "root", NOW)).toBe(true);
    expect(sshGranted([rule({ users: [7] })], sharer, "root", NOW)).toBe(true);
    expect(sshGranted([rule({ users: [8] })], sharer, "root", NOW)).toBe(false);
    expect(sshGranted([rule({ tags: ["tag:x"] })], sharer, "root", NOW)).toBe(false);
    expect(sshGranted([rule({ cidrs: ["0.0.0.0/0", "::/0"] })], sharer, "root", NOW)).toBe(false);
    const nonroot = [
      { src: { users: [7] }, users: ["autogroup:nonroot"], action: "accept" as const },
    ];
    expect(sshGranted(nonroot, sharer, "ubuntu", NOW)).toBe(true);
    expect(sshGranted(nonroot, sharer, "root", NOW)).toBe(false);
    const ports = [
      { src: { users: [7] }, ports: [{ proto: "udp" as const, first: 0, last: 65535 }] },
      { src: { cidrs: ["0.0.0.0/0"] }, ports: [{ proto: "*" as const, first: 0, last: 65535 }] },
      { src: { users: [7] }, ports: [{ proto: "*" as const, first: 80, last: 90 }] },
    ];
    expect(portGranted(ports, 7, 85)).toBe(true);
    expect(portGranted(ports, 7, 443)).toBe(false);
  });
});

describe("open acceptances per share", () => {
  it(`a share with no use limit takes ${SHARE_OPEN_MAX} open recipients, then refuses with share_busy`, async () => {
    const { own, member, service, as } = await setup(DEFAULT_POLICY);
    const made = await service().create(spec(own.id, { ports: [8080], maxUses: null }), as(member));
    const parsed = parseShareLink(made.url);
    if (!parsed.ok) throw new Error(parsed.message);
    const accept = () =>
      service().accept({
        id: parsed.link.id,
        secret: parsed.link.secret,
        nodeKey: randomBytes(32).toString("base64"),
        hostname: "guest",
        userAgent: "test",
        actor: { user: null, via: "share", source: "192.0.2.9" },
      });
    const first = await accept();
    for (let i = 1; i < SHARE_OPEN_MAX; i++) await accept();
    const error = await refusal(accept());
    expect(error.code).toBe("share_busy");
    expect(error.status).toBe(409);
    // One recipient ends: there is room for one more.
    await service().revokeAcceptance(parsed.link.id, first.acceptanceId, as(member));
    await accept();
    expect((await refusal(accept())).code).toBe("share_busy");
  }, 60_000);
});
