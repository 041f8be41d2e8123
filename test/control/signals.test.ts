// WebRTC signalling through the map stream (server/control/signals.ts), on one control server
// with raw streams: an offer and a candidate reach the peer with `from` set by the server (a
// `from` the sender writes is dropped), and every refusal comes back to the sender as a `bye`
// naming it, counted by outcome: malformed SDP, a peer the policy hides, an unknown key, a
// peer that did not list the "signal" capability, an offline one, too many signals. A seeded
// fuzz drives the router with mutated signals.

import { afterEach, describe, expect, it } from "vitest";
import { type SignalOutcome, SignalRouter } from "../../server/control/signals.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import type { SignalMessage } from "../../worker/control/messages.ts";
import { CANDIDATE, OFFER } from "./signal-fixtures.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h?.close();
});

async function joined(
  key: string,
  caps: string[] | null = ["signal"],
  hostname = "host",
): Promise<RawNode> {
  const node = await RawNode.create(h);
  nodes.push(node);
  await node.login({
    authKey: key,
    hostinfo: { hostname, os: "linux" },
    ...(caps === null ? {} : { caps }),
  });
  await node.expect("map");
  return node;
}

/** Reads `node`'s messages until a signal comes (deltas about peers joining are skipped). */
async function nextSignal(node: RawNode) {
  for (;;) {
    const message = await node.next();
    if (message.type === "signal") return message;
  }
}

const signal = (to: string, fields: Partial<SignalMessage>): SignalMessage => ({
  type: "signal",
  to,
  sid: "attempt-0001",
  kind: "offer",
  ...fields,
});

describe("signals through one control server", () => {
  it("passes an offer and a candidate on with the sender's key, and refuses with a bye", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    h = await startHarness({ metrics, keepaliveMs: 3600_000 });
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const a = await joined(key, ["signal"], "laptop");
    const b = await joined(key, ["signal"], "server");
    const old = await joined(key, null, "old-agent");

    // A `from` written by the sender is not a field of its message: the server's wins.
    a.ws!.send(JSON.stringify({ ...signal(b.publicKey, { sdp: OFFER }), from: old.publicKey }));
    const offer = await nextSignal(b);
    expect(offer).toEqual({
      type: "signal",
      from: a.publicKey,
      sid: "attempt-0001",
      kind: "offer",
      sdp: OFFER,
    });
    a.send(signal(b.publicKey, { kind: "candidate", candidate: CANDIDATE, mid: "0", mline: 0 }));
    expect(await nextSignal(b)).toMatchObject({
      from: a.publicKey,
      kind: "candidate",
      candidate: CANDIDATE,
      mid: "0",
      mline: 0,
    });

    const refusedWith = async (message: SignalMessage) => {
      a.send(message);
      const bye = await nextSignal(a);
      expect(bye).toMatchObject({
        type: "signal",
        from: message.to,
        sid: message.sid,
        kind: "bye",
      });
      return bye.reason;
    };
    expect(await refusedWith(signal(b.publicKey, { sdp: OFFER.replace("v=0", "v=1") }))).toBe(
      "malformed",
    );
    expect(
      await refusedWith(
        signal(b.publicKey, { kind: "candidate", candidate: CANDIDATE.replace("udp", "tcp") }),
      ),
    ).toBe("malformed");
    expect(await refusedWith(signal(b.publicKey, { kind: "answer" }))).toBe("malformed");
    // A candidate inside the SDP meets the trickled candidates' rules.
    const tcpInside = OFFER.replace(
      "a=mid:0\r\n",
      "a=mid:0\r\na=candidate:1 1 tcp 1518280447 192.0.2.20 9 typ host tcptype active\r\n",
    );
    expect(await refusedWith(signal(b.publicKey, { sdp: tcpInside }))).toBe("malformed");
    expect(await refusedWith(signal(old.publicKey, { sdp: OFFER }))).toBe("not_supported");
    expect(await refusedWith(signal(`${"Q".repeat(43)}=`, { sdp: OFFER }))).toBe("unknown_peer");
    // A bye that cannot be delivered is not answered with another.
    a.send(signal(`${"Q".repeat(43)}=`, { kind: "bye", reason: "closed" }));
    a.send(signal(b.publicKey, { kind: "bye", reason: "closed" }));
    expect(await nextSignal(b)).toMatchObject({ from: a.publicKey, kind: "bye", reason: "closed" });

    b.close();
    await b.closed;
    expect(await refusedWith(signal(b.publicKey, { sdp: OFFER }))).toBe("offline");

    const counted = await metrics.byLabel("corridor_control_signals_total", "outcome");
    expect(counted).toEqual({
      delivered: 3,
      malformed: 4,
      not_supported: 1,
      unknown_peer: 2,
      offline: 1,
    });
  });

  it("refuses a peer the policy keeps from the sender, and a sender over its rate", async () => {
    h = await startHarness({ keepaliveMs: 3600_000 });
    // Only tagged servers and their own devices: bob's and alice's nodes do not meet.
    await h.store.setPolicy(
      `{ "acls": [{ "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] }] }`,
      h.alice.id,
    );
    await h.control.meshChanges.policyChanged();
    const bobs = await joined(
      await h.authKey({ userId: h.bob.id, reusable: true }),
      ["signal"],
      "b1",
    );
    const alices = await joined(
      await h.authKey({ userId: h.alice.id, reusable: true }),
      ["signal"],
      "a1",
    );
    bobs.send(signal(alices.publicKey, { sdp: OFFER }));
    // Said as for a key nobody has: a bye does not tell which keys exist.
    expect(await nextSignal(bobs)).toMatchObject({ kind: "bye", reason: "unknown_peer" });

    const bobs2 = await joined(
      await h.authKey({ userId: h.bob.id, reusable: true }),
      ["signal"],
      "b2",
    );
    // The refused signal above took one of the 40 the burst allows.
    for (let i = 0; i < 39; i++) {
      bobs.send(
        signal(bobs2.publicKey, {
          kind: "candidate",
          candidate: CANDIDATE,
          sid: `burst-${String(i).padStart(4, "0")}`,
        }),
      );
    }
    bobs.send(signal(bobs2.publicKey, { sdp: OFFER, sid: "over-the-rate" }));
    expect(await nextSignal(bobs)).toMatchObject({ sid: "over-the-rate", reason: "rate_limited" });
    let got = 0;
    while (got < 39) {
      const m = await nextSignal(bobs2);
      if (m.kind === "candidate") got++;
    }
    expect(got).toBe(39);
  });
});

describe("a peer whose socket holds too much unsent", () => {
  it("gets no more signals: the sender is told busy", async () => {
    // A high-water mark of 0 bytes: every socket counts as full.
    h = await startHarness({
      keepaliveMs: 3600_000,
      outbox: { highWaterBytes: 0, maxPendingEntries: 20_000, minIntervalMs: 0 },
    });
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const a = await joined(key, ["signal"], "sender");
    const b = await joined(key, ["signal"], "slow-reader");
    a.send(signal(b.publicKey, { sdp: OFFER }));
    expect(await nextSignal(a)).toMatchObject({ from: b.publicKey, kind: "bye", reason: "busy" });
  });
});

describe("SignalRouter fuzz", () => {
  it("never throws on mutated signals, and passes on only valid content (seeded)", () => {
    const outcomes = new Map<SignalOutcome, number>();
    const delivered: string[] = [];
    const peerKey = `${"B".repeat(43)}=`;
    const router = new SignalRouter({
      mapper: {
        node: (id) => (id === 1 ? ({ id: 1, nodeKey: `${"A".repeat(43)}=` } as never) : undefined),
        nodeIdByKey: (k) => (k === peerKey ? 2 : undefined),
        sees: () => true,
      },
      deliver: (_id, m) => {
        delivered.push(m.sdp ?? m.candidate ?? "");
        return "delivered";
      },
      now: () => 0,
      rate: { burst: 1e9, perSecond: 1e9 },
      count: (o) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1),
    });
    let seed = 0xc0ffee;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const mutate = (text: string) => {
      const chars = [...text];
      for (let e = 0; e < 1 + Math.floor(random() * 3); e++) {
        const at = Math.floor(random() * chars.length);
        const pick = random();
        if (pick < 0.4) chars[at] = String.fromCharCode(32 + Math.floor(random() * 95));
        else if (pick < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, "\r\n".charAt(Math.floor(random() * 2)));
      }
      return chars.join("");
    };
    const INPUTS = 10_000;
    for (let i = 0; i < INPUTS; i++) {
      const kind = random() < 0.5 ? "offer" : "candidate";
      const message: SignalMessage =
        kind === "offer"
          ? signal(peerKey, { sdp: random() < 0.1 ? OFFER : mutate(OFFER) })
          : signal(peerKey, { kind, candidate: random() < 0.1 ? CANDIDATE : mutate(CANDIDATE) });
      const result = router.route(1, message);
      expect(["delivered", "malformed"]).toContain(result.outcome);
      if (result.outcome === "malformed") expect(result.bye?.reason).toBe("malformed");
    }
    // What was passed on still has the shape a peer's WebRTC stack needs.
    for (const text of delivered) {
      expect(text.startsWith("v=0") || text.startsWith("candidate:")).toBe(true);
    }
    console.log(
      `signal router fuzz: ${INPUTS} signals, ${outcomes.get("delivered") ?? 0} passed on, ${outcomes.get("malformed") ?? 0} refused as malformed`,
    );
    expect(outcomes.get("malformed") ?? 0).toBeGreaterThan(INPUTS / 4);
  });
});
