// A share recipient on the shared device (issue 17): its node has no owner and no tags, is
// marked `share: {acceptanceId}` in the device's map, and is let in by its share's rules alone
// (an ssh rule and a filter rule whose source is its acceptance, `shares`). The login decision lets it be exactly the share's users and says what the
// share allows otherwise; the revocation judgements (server/agent/revoke.ts) end its flows and
// SSH connections once it leaves the map or the rules stop covering them; and the identity SSH
// server's endWhere() tells a running session why it ends (real OpenSSH, when present).

import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccessSweeper,
  flowRevoked,
  MapJudge,
  type SweptMap,
  sshRevoked,
} from "../../server/agent/revoke.ts";
import {
  decideLogin,
  describeCaller,
  isShareGuest,
  type LoginRequest,
  stillCovered,
} from "../../server/agent/ssh/access.ts";
import { PacketFilter } from "../../worker/control/packet-filter.ts";
import type { FilterRule, PeerView, SshRule } from "../../worker/control/types.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import {
  alice as alicePeer,
  bob as bobPeer,
  carol as carolPeer,
  keyOf,
  packet,
  SYN,
  self as selfPeer,
  server as serverPeer,
  tcp,
  v4,
  v6,
} from "../control/packet-filter-fixtures.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { seededInts } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { OTHER_USER, peer, SshHarness, sshPrereq } from "./ssh-harness.ts";

const V4 = "100.64.0.9";
const V6 = "fd7a:115c:a1e0::9";
const guest = peer({
  id: 9,
  key: "c2hhcmUtZ3Vlc3Qta2V5LXNoYXJlLWd1ZXN0LWtleS0=",
  name: "share-1",
  hostname: "share-1",
  os: "browser",
  ephemeral: true,
  addresses: [`${V4}/32`, `${V6}/128`],
  user: null,
  tags: [],
  share: { acceptanceId: 1 },
});
const alice = peer();
const shareSsh: SshRule = {
  src: { shares: [1] },
  users: ["ubuntu", "deploy"],
  action: "accept",
};
const shareFilter: FilterRule = {
  src: { shares: [1] },
  ports: [
    { proto: "tcp", first: 22, last: 22 },
    { proto: "tcp", first: 8080, last: 8080 },
  ],
};
/** The base policy's rules: alice (user 1) reaches everything as root. */
const baseSsh: SshRule = { src: { users: [1] }, users: ["root"], action: "accept" };
const baseFilter: FilterRule = {
  src: { users: [1] },
  ports: [{ proto: "*", first: 0, last: 65535 }],
};

const ubuntu = { name: "ubuntu", uid: 1000, gid: 1000, home: "/home/ubuntu", shell: "/bin/bash" };
const deploy = { name: "deploy", uid: 1001, gid: 1001, home: "/home/deploy", shell: "/bin/sh" };
const root = { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/bash" };

function request(overrides: Partial<LoginRequest>): LoginRequest {
  return {
    caller: guest,
    address: V4,
    rules: [baseSsh, shareSsh],
    requested: "ubuntu",
    account: ubuntu,
    now: 1_800_000_000_000,
    runAs: "any",
    checkUrl: "https://corridor.example.com/login/check",
    ...overrides,
  };
}

function map(peers: PeerView[], filter: FilterRule[], ssh: SshRule[]): SweptMap {
  return { peers: new Map(peers.map((p) => [p.id, p])), filter, ssh };
}

describe("identity SSH for a share recipient", () => {
  it("is shown as a share guest on its node", () => {
    expect(isShareGuest(guest)).toBe(true);
    expect(isShareGuest(alice)).toBe(false);
    expect(isShareGuest(peer({ user: null, tags: ["tag:ci"] }))).toBe(false);
    expect(describeCaller(guest, V4)).toBe(`share guest on share-1 (${V4})`);
  });

  it("logs in as exactly the share's users, by the CIDR rule, from either address", () => {
    for (const address of [V4, V6]) {
      for (const [requested, account] of [
        ["ubuntu", ubuntu],
        ["deploy", deploy],
      ] as const) {
        const decision = decideLogin(request({ address, requested, account }));
        expect(decision).toMatchObject({ allowed: true, outcome: "accept" });
        expect(decision.message).toBe(
          `share guest on share-1 (${address}) logs in as ${requested}`,
        );
      }
    }
  });

  it("refuses other users saying what the share allows; the base rules do not reach it", () => {
    const asRoot = decideLogin(request({ requested: "root", account: root }));
    expect(asRoot).toMatchObject({ allowed: false, outcome: "not-allowed" });
    expect(asRoot.message).toBe(
      `share guest on share-1 (${V4}) may not log in as root: the share allows SSH as ubuntu, deploy.`,
    );
    const other = decideLogin(
      request({ requested: "postgres", account: { ...deploy, name: "postgres" } }),
    );
    expect(other.message).toMatch(/the share allows SSH as ubuntu, deploy\.$/);
    // Another acceptance's node: the share's rule does not select it.
    const elsewhere = decideLogin(request({ caller: { ...guest, share: { acceptanceId: 2 } } }));
    expect(elsewhere).toMatchObject({ allowed: false, outcome: "not-allowed" });
    // A share that offers no SSH (no rule for it): nothing is allowed, said as such.
    const none = decideLogin(request({ rules: [baseSsh] }));
    expect(none.message).toMatch(/the share allows SSH as no user\.$/);
    // alice keeps the policy's wording.
    const aliceRefused = decideLogin(
      request({ caller: alice, address: "100.64.0.3", requested: "ubuntu" }),
    );
    expect(aliceRefused.message).toMatch(/the policy's ssh rules allow root\.$/);
  });

  it("an open session stays covered while a rule of either action covers it", () => {
    expect(stillCovered(guest, V4, [shareSsh], "deploy", deploy)).toBe(true);
    expect(stillCovered(guest, V4, [baseSsh], "deploy", deploy)).toBe(false);
    const check: SshRule = { ...shareSsh, action: "check", checkPeriodMs: 1 };
    // A check rule's period gates logins only: an old sign-in does not end a session.
    expect(stillCovered(guest, V4, [check], "ubuntu", ubuntu)).toBe(true);
  });
});

describe("revocation judgements", () => {
  const full = map([alice, guest], [baseFilter, shareFilter], [baseSsh, shareSsh]);

  it("a flow goes on while its peer is in the map and a filter rule lets it reach the port", () => {
    expect(flowRevoked(full, V4, 8080)).toBeUndefined();
    expect(flowRevoked(full, "fd7a:115c:a1e0:0::9", 22)).toBeUndefined();
    expect(flowRevoked(full, V4, 8081)).toBe(
      `the policy no longer lets share-1 (${V4}) reach TCP port 8081 here`,
    );
    // The peer left the map (its share was revoked): every flow from it ends.
    const gone = map([alice], [baseFilter], [baseSsh]);
    expect(flowRevoked(gone, V4, 8080)).toMatch(
      /^100\.64\.0\.9 is no longer a node of this mesh's map/,
    );
    // The share's rules left, the peer not yet: the filter decides.
    const ruleless = map([alice, guest], [baseFilter], [baseSsh]);
    expect(flowRevoked(ruleless, V6, 22)).toMatch(/no longer lets share-1/);
    // The address now belongs to another node (ids differ): a connection of the old one ends.
    expect(flowRevoked(full, V4, 22, 9)).toBeUndefined();
    expect(flowRevoked(full, V4, 22, 12)).toMatch(/now belongs to another node \(share-1\)/);
    expect(flowRevoked(full, "not an address", 22)).toMatch(/no longer a node/);
  });

  it("an SSH connection ends when its flow ends or no ssh rule covers its account", () => {
    const connection = { callerKey: guest.key, callerId: 9, address: V4, account: deploy };
    expect(sshRevoked(full, connection, 22)).toBeUndefined();
    expect(sshRevoked(map([alice], [baseFilter], [baseSsh]), connection, 22)).toMatch(
      /no longer a node/,
    );
    const narrowed = map(
      [alice, guest],
      [baseFilter, shareFilter],
      [baseSsh, { ...shareSsh, users: ["ubuntu"] }],
    );
    expect(sshRevoked(narrowed, connection, 22)).toBe(
      `the ssh rules no longer let share-1 (${V4}) log in as deploy`,
    );
    // Not logged in yet: only the flow is judged (the login itself decides the rest).
    expect(sshRevoked(narrowed, { ...connection, account: undefined }, 22)).toBeUndefined();
    // Another SSH port than the filter opens: the filter drops it, so it ends.
    expect(sshRevoked(full, connection, 2222)).toMatch(/reach TCP port 2222/);
  });

  it("agrees with the packet filter on 5,000 seeded maps and flows (a SYN it drops is a flow ended)", () => {
    const rand = seededInts(0x5e1f);
    // A share recipient among them: only `shares` rules may select it.
    const guestPeer: PeerView = {
      ...carolPeer,
      id: 99,
      key: Buffer.from(keyOf(99)).toString("base64"),
      name: "share-9",
      // Inside the seeded CIDRs (100.64.0.0/29, fd7a:115c:a1e0::/120): they must not select it.
      addresses: ["100.64.0.6", "fd7a:115c:a1e0::6"],
      user: null,
      tags: [],
      share: { acceptanceId: 1 + rand(2) },
    };
    const peers = [alicePeer, bobPeer, serverPeer, carolPeer, guestPeer];
    const sources = (): FilterRule["src"] => {
      switch (rand(6)) {
        case 5:
          return { shares: [1 + rand(2)] };
        case 0:
          return { any: true };
        case 1:
          return { users: [10 + rand(3) * 10] };
        case 2:
          return { tags: [rand(2) === 0 ? "tag:server" : "tag:other"] };
        case 3:
          return { cidrs: [`100.64.0.${2 + rand(4)}/32`, `fd7a:115c:a1e0::${2 + rand(4)}/128`] };
        default:
          return { cidrs: [rand(2) === 0 ? "100.64.0.0/29" : "fd7a:115c:a1e0::/120"] };
      }
    };
    let ended = 0;
    for (let i = 0; i < 5000; i++) {
      const filter: FilterRule[] = Array.from({ length: 1 + rand(4) }, () => {
        const first = rand(4) === 0 ? 0 : 18 + rand(16);
        const last = first === 0 ? 65535 : first + rand(8);
        const proto = (["tcp", "tcp", "*", "udp", "icmp"] as const)[rand(5)]!;
        return { src: sources(), ports: [{ proto, first, last }] };
      });
      const present = peers.filter(() => rand(4) !== 0);
      const packetFilter = new PacketFilter({ clock: new FakeClock() });
      packetFilter.setMap({ self: selfPeer, peers: present, filter });
      const judge = new MapJudge(map(present, filter, []));
      const from = peers[rand(peers.length)]!;
      const address = from.addresses[rand(2)]!;
      const port = 18 + rand(16);
      const destination = address.includes(":") ? v6(selfPeer) : v4(selfPeer);
      const passes = packetFilter.inbound(
        packet(address, destination, 6, tcp(40000 + i, port, SYN)),
        keyOf(from.id),
      );
      const reason = judge.flow(address, port);
      if (reason !== undefined) ended++;
      expect(reason === undefined, `${address} -> ${port}: ${reason}`).toBe(passes);
    }
    expect(ended).toBeGreaterThan(500);
    expect(ended).toBeLessThan(4500);
  });

  it("the sweeper sweeps at a new map version and once after, and a failing target does not stop the others", async () => {
    let version = "s:1";
    const seen: SweptMap[] = [];
    const sweeper = new AccessSweeper({
      current: () => ({ version, map: full }),
      targets: [
        {
          sweep: () => {
            throw new Error("boom");
          },
        },
        {
          sweep: (m) => {
            seen.push(m);
            return 2;
          },
        },
      ],
    });
    expect(await sweeper.check()).toBe(2);
    expect(await sweeper.check()).toBe(2);
    expect(await sweeper.check()).toBe(0);
    version = "s:2";
    expect(await sweeper.check()).toBe(2);
    expect(seen).toHaveLength(3);
    const empty = new AccessSweeper({ current: () => undefined, targets: [] });
    expect(await empty.check()).toBe(0);
  });
});

describeWithPrereq(sshPrereq(), "a revoked SSH session (OpenSSH client)", () => {
  let h: SshHarness;
  beforeAll(async () => {
    h = await SshHarness.start();
    // The harness's caller is "laptop" at 127.0.0.1; here a share guest holds that address.
    h.identity.peers = [{ ...guest, addresses: ["127.0.0.1"] }];
    h.identity.rules = [{ src: { shares: [1] }, users: [OTHER_USER], action: "accept" }];
  });
  afterAll(async () => {
    await h?.stop();
  });

  it("gets 'access revoked' with the reason on stderr, exit 255, its process hung up", async () => {
    // A sleep no other test runs, so its process can be found.
    const sleep = "sleep 31.17";
    const running = h.ssh(OTHER_USER, [`echo started; ${sleep}; echo not-revoked`]);
    let sleeping = false;
    const look = async () => {
      try {
        execFileSync("/usr/bin/pgrep", ["-f", `^${sleep}$`], { stdio: "ignore" });
        sleeping = true;
      } catch {
        sleeping = false;
      }
    };
    await waitUntil(() => sleeping, "the session's command to run", { poll: look });
    const left: SweptMap = map([], [], []);
    const started = Date.now();
    const ended = h.server.endWhere((c) => sshRevoked(left, { ...c, address: V4 }, 22));
    expect(ended).toBe(1);
    const result = await running;
    const tookMs = Date.now() - started;
    expect(result.code).toBe(255);
    // "started" may still be in the command's pipe when it is hung up: not asserted.
    expect(result.stdout).not.toContain("not-revoked");
    expect(result.stderr).toContain(
      `access revoked: ${V4} is no longer a node of this mesh's map (removed, or its share ended)`,
    );
    expect(h.events("ssh_access_revoked")).toHaveLength(1);
    await waitUntil(() => h.server.connections === 0, "the connection to close");
    await waitUntil(() => !sleeping, "the session's process to be hung up", { poll: look });
    // Measured, never asserted (timing belongs to a benchmark).
    console.log(`revoked SSH session: client gone ${tookMs} ms after endWhere`);
    // A second sweep finds nothing more to end.
    expect(h.server.endWhere(() => "again")).toBe(0);
  }, 60_000);
});
