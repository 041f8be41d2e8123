// The map stream after login, on the real SQLite store, codec and policy compiler: a change
// reaches only the nodes concerned; a policy change adds and removes peers; a reconnect with
// the last sequence gets a delta, not a full map (and a full map after a policy change); a
// client that cannot keep up is closed 4429 and resumes; ephemeral nodes go 2 minutes after
// their stream ends (or at sign-out); keys expire; relay tokens are refreshed at 3/4 of their
// life; keepalives come every 45-55 s. Time is a manual clock: no test sleeps.

import { afterEach, describe, expect, it } from "vitest";
import type { ControlOptions } from "../../server/control/index.ts";
import type { UserRecord } from "../../server/control/store/types.ts";
import { verifyRelayToken } from "../../server/relay/token.ts";
import type { DeltaMessage, MapMessage } from "../../worker/control/messages.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

const HOUR = 3600_000;

async function start(options: Partial<ControlOptions> = {}): Promise<void> {
  h = await startHarness({ keepaliveMs: 100 * HOUR, ...options });
}

async function carol(): Promise<UserRecord> {
  const user = await h.store.createUser({
    issuer: "corridor:local",
    subject: "carol",
    email: "carol@example.com",
    name: "Carol",
    role: "member",
    lastLoginAt: null,
  });
  await h.control.meshChanges.userChanged(user.id);
  return user;
}

/** A node of `userId` joined with a fresh auth key; returns it and its map. */
async function join(
  userId: number,
  extra: Parameters<RawNode["login"]>[0] = {},
): Promise<[RawNode, MapMessage]> {
  const node = await RawNode.create(h);
  nodes.push(node);
  await node.login({ authKey: await h.authKey({ userId }), ...extra });
  return [node, await node.expect("map")];
}

async function reconnect(
  node: RawNode,
  extra: Parameters<RawNode["login"]>[0] = {},
): Promise<void> {
  await node.login(extra);
}

async function leave(node: RawNode, id: number): Promise<void> {
  node.close();
  await node.closed;
  await waitUntil(() => !h.control.hub.isAttached(id), `node ${id} detached`);
}

function ids(delta: DeltaMessage, field: "peersUpserted"): number[];
function ids(delta: DeltaMessage, field: "peersRemoved" | "patches"): number[];
function ids(delta: DeltaMessage, field: "peersUpserted" | "peersRemoved" | "patches"): number[] {
  const list = delta[field] ?? [];
  return list.map((x) => (typeof x === "number" ? x : x.id)).sort();
}

describe("deltas", () => {
  it("a change reaches only the nodes whose principal sees it; seqs have no gaps", async () => {
    await start();
    const c = await carol();
    const [b1, m1] = await join(h.bob.id);
    const [b2, m2] = await join(h.bob.id);
    const joined = await b1.expect("delta");
    expect(joined.seq).toBe(m1.seq + 1);
    expect(joined.peersUpserted).toEqual([
      expect.objectContaining({ id: m2.map.self.id, online: true }),
    ]);
    expect(m2.map.peers.map((p) => p.id)).toEqual([m1.map.self.id]);
    const [c1, mc] = await join(c.id);
    expect(mc.map.peers).toEqual([]); // bob's nodes are not carol's business, nor hers theirs

    b2.send({ type: "update", endpoints: ["192.0.2.7:41641"], homeRelay: "default" });
    const patch = await b1.expect("delta");
    expect(patch).toEqual({
      type: "delta",
      seq: joined.seq + 1,
      patches: [{ id: m2.map.self.id, endpoints: ["192.0.2.7:41641"], homeRelay: "default" }],
    });
    // carol's next message is about carol's second node: nothing of bob's came before it.
    const [, mc2] = await join(c.id);
    expect(await c1.expect("delta")).toMatchObject({
      seq: mc.seq + 1,
      peersUpserted: [expect.objectContaining({ id: mc2.map.self.id })],
    });
    expect(c1.pending).toEqual([]);
  });

  it("a policy change adds and removes peers and changes the filter", async () => {
    await start();
    const c = await carol();
    const [b1, mb] = await join(h.bob.id);
    const [c1, mc] = await join(c.id);
    // the default policy: carol reaches her own nodes; the owner (alice) reaches everything
    expect(mc.map.filter).toHaveLength(2);
    expect(mc.map.filter).toEqual(
      expect.arrayContaining([
        { src: { users: [c.id] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
        { src: { users: [h.alice.id] }, ports: [{ proto: "*", first: 0, last: 65535 }] },
      ]),
    );
    await h.store.setPolicy(
      `{ "acls": [ { "action": "accept", "src": ["bob@example.com"], "dst": ["carol@example.com:22"] } ] }`,
      h.alice.id,
    );
    await h.control.meshChanges.policyChanged();
    const toBob = await b1.expect("delta");
    expect(ids(toBob, "peersUpserted")).toEqual([mc.map.self.id]);
    const toCarol = await c1.expect("delta");
    expect(ids(toCarol, "peersUpserted")).toEqual([mb.map.self.id]);
    expect(toCarol.filter).toEqual([
      { src: { users: [h.bob.id] }, ports: [{ proto: "*", first: 22, last: 22 }] },
    ]);
    await h.store.setPolicy(`{ "acls": [] }`, h.alice.id);
    await h.control.meshChanges.policyChanged();
    expect(ids(await b1.expect("delta"), "peersRemoved")).toEqual([mc.map.self.id]);
    const emptied = await c1.expect("delta");
    expect(ids(emptied, "peersRemoved")).toEqual([mb.map.self.id]);
    expect(emptied.filter).toEqual([]);
  });
});

describe("resume", () => {
  it("a reconnect with the last sequence gets what it missed as the next delta", async () => {
    await start();
    const [b1, m1] = await join(h.bob.id);
    const [b2, m2] = await join(h.bob.id);
    const last = await b1.expect("delta");
    await leave(b1, m1.map.self.id);
    b2.send({ type: "update", endpoints: ["192.0.2.9:1"] });
    b2.send({ type: "update", endpoints: ["192.0.2.9:2"] });
    await waitUntil(
      () => h.control.mapper.volatile.get(m2.map.self.id).endpoints[0] === "192.0.2.9:2",
      "the update applied",
    );
    await reconnect(b1, { resume: { session: m1.session, seq: last.seq } });
    const resumed = await b1.expect("delta");
    expect(resumed.seq).toBe(last.seq + 1);
    expect(resumed.patches).toEqual([
      expect.objectContaining({ id: m2.map.self.id, online: true, endpoints: ["192.0.2.9:2"] }),
    ]);
    expect(resumed.token?.expiresAt).toBe(h.clock.now() + HOUR);
    expect(resumed.peersUpserted).toBeUndefined();

    // after a policy change, or with an unknown session: a full map
    await leave(b1, m1.map.self.id);
    await h.store.setPolicy(`{ "acls": [] }`, h.alice.id);
    await h.control.meshChanges.policyChanged();
    await reconnect(b1, { resume: { session: m1.session, seq: resumed.seq } });
    const full = await b1.expect("map");
    expect(full.session).not.toBe(m1.session);
    expect(full.map.peers).toEqual([]);
    await leave(b1, m1.map.self.id);
    await reconnect(b1, { resume: { session: "unknown", seq: 1 } });
    expect((await b1.expect("map")).seq).toBe(1);
  });

  it("a client that cannot keep up is closed 4429, then resumes with what it missed", async () => {
    // A high-water mark of 0 bytes: the outbox never finds the socket idle (a stalled client).
    await start({ outbox: { highWaterBytes: 0, maxPendingEntries: 1 } });
    const [b1, m1] = await join(h.bob.id);
    const [, m2] = await join(h.bob.id);
    const [, m3] = await join(h.bob.id);
    expect(await b1.closed).toEqual({ code: 4429, reason: "too slow: reconnect and resume" });
    expect(b1.pending).toEqual([]);
    await waitUntil(() => !h.control.hub.isAttached(m1.map.self.id), "b1 detached");
    await reconnect(b1, { resume: { session: m1.session, seq: m1.seq } });
    const resumed = await b1.expect("delta");
    expect(resumed.seq).toBe(2);
    expect(ids(resumed, "peersUpserted")).toEqual([m2.map.self.id, m3.map.self.id]);
  });
});

describe("timers", () => {
  it("removes an ephemeral node 2 minutes after its stream ends, unless it comes back", async () => {
    await start();
    const [a1] = await join(h.alice.id);
    const tab = await RawNode.create(h);
    nodes.push(tab);
    await tab.login({}, { Origin: h.origin, Cookie: await h.cookie(h.alice.id) });
    const tabId = (await tab.expect("map")).map.self.id;
    expect(ids(await a1.expect("delta"), "peersUpserted")).toEqual([tabId]);

    await leave(tab, tabId);
    expect(await a1.expect("delta")).toMatchObject({ patches: [{ id: tabId, online: false }] });
    expect(h.control.hub.removalPending(tabId)).toBe(true);
    h.clock.advance(60_000);
    await reconnect(tab); // back within the grace period: a known node again
    await tab.expect("map");
    expect(h.control.hub.removalPending(tabId)).toBe(false);
    expect(await a1.expect("delta")).toMatchObject({ patches: [{ id: tabId, online: true }] });
    await leave(tab, tabId);
    await a1.expect("delta");
    h.clock.advance(119_999);
    expect(await h.store.nodeById(tabId)).not.toBeNull();
    h.clock.advance(1);
    expect(await a1.expect("delta")).toMatchObject({ peersRemoved: [tabId] });
    expect(await h.store.nodeById(tabId)).toBeNull();
  });

  it("removes a user's ephemeral nodes at once when they sign out", async () => {
    await start();
    const [a1, ma] = await join(h.alice.id);
    const tab = await RawNode.create(h);
    nodes.push(tab);
    await tab.login({}, { Origin: h.origin, Cookie: await h.cookie(h.alice.id) });
    const tabId = (await tab.expect("map")).map.self.id;
    await a1.expect("delta");
    await h.control.meshChanges.userSignedOut(h.alice.id);
    expect(await tab.next()).toMatchObject({ type: "refused", code: "node_removed" });
    expect((await tab.closed).code).toBe(4403);
    expect(await a1.expect("delta")).toMatchObject({ peersRemoved: [tabId] });
    expect(await h.store.nodeById(tabId)).toBeNull();
    expect(await h.store.nodeById(ma.map.self.id)).not.toBeNull();
  });

  it("ends a stream when its node key expires and refuses it after; tagged nodes never expire", async () => {
    await start({ userKeyExpiryMs: 10 * 60_000 });
    const [b1, m1] = await join(h.bob.id);
    expect(m1.map.self.keyExpiry).toBe(h.clock.now() + 600_000);
    h.clock.advance(600_000);
    expect(await b1.next()).toMatchObject({ type: "refused", code: "key_expired" });
    expect((await b1.closed).code).toBe(4403);
    await reconnect(b1);
    expect(await b1.next()).toMatchObject({ type: "refused", code: "key_expired" });
    const tagged = await RawNode.create(h);
    nodes.push(tagged);
    await tagged.login({ authKey: await h.authKey({ userId: h.alice.id, tags: ["tag:server"] }) });
    expect((await tagged.expect("map")).map.self).toMatchObject({
      keyExpiry: null,
      user: null,
      tags: ["tag:server"],
    });
  });

  it("refreshes the relay token at 3/4 of its life, and keeps the stream alive every ~50 s", async () => {
    await start({ keepaliveMs: 50_000 });
    const [b1, m1] = await join(h.bob.id);
    const issued = h.clock.now();
    expect(m1.map.token.expiresAt).toBe(issued + HOUR);
    h.clock.advance(44_999);
    const [, m2] = await join(h.bob.id); // a marker: nothing came before it
    expect(ids(await b1.expect("delta"), "peersUpserted")).toEqual([m2.map.self.id]);
    h.clock.advance(10_001);
    await b1.expect("keepalive");
    b1.close();
    await b1.closed;
    await waitUntil(() => !h.control.hub.isAttached(m1.map.self.id), "b1 detached");
    // a quiet stream: only keepalives until 3/4 of the hour, then a token
    await reconnect(b1, { resume: { session: m1.session, seq: 2 } });
    const start2 = h.clock.now();
    await b1.expect("delta");
    h.clock.advance(45 * 60_000);
    let message = await b1.next();
    while (message.type === "keepalive") message = await b1.next();
    expect(message.type).toBe("delta");
    const refreshed = (message as DeltaMessage).token!;
    expect(refreshed.expiresAt).toBe(start2 + 45 * 60_000 + HOUR);
    const check = verifyRelayToken(refreshed.token, {
      controlPublicKey: h.control.tokenPublicKey,
      relayId: "default",
      nodeKey: keyFromBase64(b1.publicKey),
      nowMs: h.clock.now(),
    });
    expect(check.ok).toBe(true);
  });
});

describe("last seen", () => {
  it("is stored when a stream ends and when the server closes, not on every change", async () => {
    await start();
    const [b1, m1] = await join(h.bob.id);
    const [b2, m2] = await join(h.bob.id);
    await b1.expect("delta");
    expect((await h.store.nodeById(m1.map.self.id))?.lastSeen).toBeNull();
    h.clock.advance(5000);
    const left = h.clock.now();
    await leave(b1, m1.map.self.id);
    await waitUntil(
      () => h.control.mapper.volatile.get(m1.map.self.id).lastSeen === left,
      "offline",
    );
    let stored: number | null | undefined;
    await waitUntil(() => stored === left, "last seen stored", {
      poll: async () => {
        stored = (await h.store.nodeById(m1.map.self.id))?.lastSeen;
      },
    });
    h.clock.advance(5000);
    await h.control.close();
    expect(await b2.closed).toEqual({ code: 1012, reason: "server restarting" });
    expect((await h.store.nodeById(m2.map.self.id))?.lastSeen).toBe(h.clock.now());
  });
});
