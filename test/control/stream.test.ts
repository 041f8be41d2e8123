// The /control stream on the real SQLite store, real codec and proof, over loopback WebSockets:
// the upgrade's checks, the login (proof, timeout, malformed input), registration by auth key
// (and its refusals with reasons), by session cookie, by approval; key rotation; the newest
// stream of a node wins.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { verifyRelayToken } from "../../server/relay/token.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
const nodes: RawNode[] = [];

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  await h.close();
});

async function node(): Promise<RawNode> {
  const n = await RawNode.create(h);
  nodes.push(n);
  return n;
}

async function prefixOf(key: string): Promise<string> {
  const keys = await h.store.listAuthKeys();
  return keys.find((k) => key.startsWith(k.prefix))!.prefix;
}

describe("the upgrade", () => {
  it("refuses pages of other origins, a missing subprotocol, and other paths", async () => {
    const n = await node();
    await expect(n.connect({ Origin: "https://evil.example" })).rejects.toThrow(
      "Unexpected server response: 403",
    );
    const bare = new (await import("ws")).default(h.url);
    await expect(
      new Promise((resolve, reject) => {
        bare.once("open", resolve);
        bare.once("error", reject);
      }),
    ).rejects.toThrow("Unexpected server response: 400");
    const n2 = await node();
    await n2.connect({ Origin: h.origin }); // the page's own origin is fine
    expect((await n2.expect("hello")).version).toBe(1);
  });
});

describe("login", () => {
  it("registers an agent with an auth key: a full map with a valid relay token", async () => {
    const key = await h.authKey({ userId: h.bob.id });
    const n = await node();
    const hello = await n.login({ authKey: key, hostinfo: { hostname: "Web 01", os: "linux" } });
    expect(hello.serverKey).toBe(h.control.helloPublicKey);
    const map = await n.expect("map");
    expect(map.seq).toBe(1);
    expect(map.map.self).toMatchObject({
      key: n.publicKey,
      name: "web-01",
      user: { id: h.bob.id, name: "Bob", email: "bob@example.com" },
      tags: [],
      ephemeral: false,
      online: true,
      keyExpiry: h.clock.now() + 180 * 24 * 3600 * 1000,
    });
    expect(map.map.self.addresses[0]).toMatch(/^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
    expect(
      map.map.self.addresses[1]?.startsWith(h.control.settings.ipv6Prefix.split("::")[0]!),
    ).toBe(true);
    expect(map.map.peers).toEqual([]);
    expect(map.map.domain).toBe("corridor.internal");
    const check = verifyRelayToken(map.map.token.token, {
      controlPublicKey: h.control.tokenPublicKey,
      relayId: "default",
      nodeKey: keyFromBase64(n.publicKey),
      nowMs: h.clock.now(),
    });
    expect(check.ok).toBe(true);
    expect(map.map.token.expiresAt).toBe(h.clock.now() + 3600_000);
    const stored = await h.store.nodeByKey(n.publicKey);
    expect(stored?.authKeyId).not.toBeNull();
  });

  it("refuses a one-off key used twice, a revoked key and an expired one, with the reason", async () => {
    const once = await h.authKey({ userId: h.bob.id });
    const first = await node();
    await first.login({ authKey: once });
    await first.expect("map");
    const second = await node();
    await second.login({ authKey: once });
    expect(await second.next()).toEqual({
      type: "refused",
      code: "authkey_used",
      message: `auth key ${await prefixOf(once)}… was for one use and is used`,
    });
    expect(await second.closed).toEqual({ code: 4403, reason: "authkey_used" });

    const revoked = await h.authKey({ userId: h.bob.id, reusable: true });
    const record = (await h.store.listAuthKeys()).find((k) => revoked.startsWith(k.prefix))!;
    await h.store.revokeAuthKey(record.id, h.clock.now());
    const third = await node();
    await third.login({ authKey: revoked });
    expect(await third.next()).toMatchObject({ type: "refused", code: "authkey_revoked" });
    expect((await third.closed).code).toBe(4403);

    const expired = await h.authKey({ userId: h.bob.id, expiresAt: h.clock.now() + 1000 });
    h.clock.advance(1000);
    const fourth = await node();
    await fourth.login({ authKey: expired });
    expect(await fourth.next()).toEqual({
      type: "refused",
      code: "authkey_expired",
      message: `auth key ${await prefixOf(expired)}… has expired`,
    });
    expect((await fourth.closed).code).toBe(4403);

    const unknown = await node();
    await unknown.login({ authKey: "cak_not-a-key" });
    expect(await unknown.next()).toMatchObject({ type: "refused", code: "authkey_invalid" });
    expect(await h.store.listNodes()).toHaveLength(1); // nothing written for the refused ones
  });

  it("closes 4401 on a wrong proof, and when no login comes in time", async () => {
    const n = await node();
    await n.connect();
    await n.expect("hello");
    const other = await node();
    n.send({
      type: "login",
      nodeKey: other.publicKey, // claims another node's key
      proof: Buffer.alloc(32, 7).toString("base64"),
      hostinfo: { hostname: "x", os: "linux" },
    });
    expect(await n.closed).toEqual({ code: 4401, reason: "bad proof" });

    const slow = await node();
    await slow.connect();
    await slow.expect("hello");
    h.clock.advance(4999);
    expect(slow.ws?.readyState).toBe(1);
    h.clock.advance(1);
    expect(await slow.closed).toEqual({ code: 4401, reason: "no login in time" });
  });

  it("closes 4400 on malformed messages naming what is wrong, 1003 on binary ones", async () => {
    const n = await node();
    await n.connect();
    await n.expect("hello");
    n.ws!.send('{"type":"login","nodeKey":42}');
    const closed = await n.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/^nodeKey: /);
    const b = await node();
    await b.connect();
    await b.expect("hello");
    b.ws!.send(Buffer.from([1, 2, 3]));
    expect(await b.closed).toEqual({ code: 1003, reason: "binary message: JSON text only" });
    const u = await node();
    await u.connect();
    await u.expect("hello");
    u.send({ type: "update", endpoints: [] });
    expect(await u.closed).toEqual({ code: 4400, reason: "update is not expected now" });
  });

  it("registers a browser tab through its session cookie, always ephemeral", async () => {
    const n = await node();
    await n.login({}, { Origin: h.origin, Cookie: await h.cookie(h.alice.id) });
    const map = await n.expect("map");
    expect(map.map.self).toMatchObject({ ephemeral: true, user: { id: h.alice.id } });
  });

  it("lets an agent without credentials wait for a person's approval", async () => {
    const n = await node();
    await n.login({ hostinfo: { hostname: "build", os: "linux" } });
    const waiting = await n.expect("waiting");
    const id = waiting.approvalUrl.split("/approve/")[1]!;
    expect(waiting.approvalUrl).toBe(`${h.origin}/approve/${id}`);
    expect(h.control.approvals.get(id)).toMatchObject({ nodeKey: n.publicKey, hostname: "build" });
    await expect(h.control.approvals.approve(id, h.bob.id, ["tag:server"])).rejects.toThrow(
      "you may not put tag:server on nodes",
    );
    await h.control.approvals.approve(id, h.bob.id);
    const map = await n.expect("map");
    expect(map.map.self).toMatchObject({ name: "build", user: { id: h.bob.id } });
    expect(h.control.approvals.get(id)).toBeNull();

    const denied = await node();
    await denied.login();
    const url = (await denied.expect("waiting")).approvalUrl;
    await h.control.approvals.deny(url.split("/approve/")[1]!);
    expect(await denied.next()).toMatchObject({ type: "refused", code: "approval_denied" });
    expect((await denied.closed).code).toBe(4403);
  });

  it("registers a new key once when two streams of it log in at the same time", async () => {
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const one = await node();
    const two = await node();
    Object.assign(two, { privateKey: one.privateKey, publicKey: one.publicKey });
    await Promise.all([one.login({ authKey: key }), two.login({ authKey: key })]);
    const maps = await Promise.all([one.expect("map"), two.expect("map")]);
    expect(maps[0].map.self.id).toBe(maps[1].map.self.id);
    expect(await h.store.listNodes()).toHaveLength(1);
    const ended = await Promise.race([one.closed, two.closed]);
    expect(ended).toEqual({ code: 4409, reason: "replaced by a newer stream of this node" });
  });

  it("limits registrations per address with 4429 (come back later), not a refusal", async () => {
    await h.close();
    h = await startHarness({ registrationRate: { burst: 1, perSecond: 0.01 } });
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const first = await node();
    await first.login({ authKey: key });
    await first.expect("map");
    const second = await node();
    await second.login({ authKey: key });
    expect(await second.closed).toEqual({
      code: 4429,
      reason: "too many registrations: retry in 100 s",
    });
    expect(second.pending).toEqual([]); // no `refused`: the client tries again later
    const again = await node(); // a known node is not a registration
    Object.assign(again, { privateKey: first.privateKey, publicKey: first.publicKey });
    await again.login();
    await again.expect("map");
  });

  it("rotates a key keeping id, name and addresses; the newest stream of a node wins", async () => {
    const key = await h.authKey({ userId: h.bob.id, reusable: true });
    const old = await node();
    await old.login({ authKey: key });
    const before = (await old.expect("map")).map.self;
    const again = await node();
    Object.assign(again, { privateKey: old.privateKey, publicKey: old.publicKey });
    await again.login();
    await again.expect("map");
    expect(await old.closed).toEqual({
      code: 4409,
      reason: "replaced by a newer stream of this node",
    });

    const rotated = await node();
    await rotated.connect();
    const hello = await rotated.expect("hello");
    const { loginProof } = await import("../../worker/control/proof.ts");
    const { nodeX25519 } = await import("../../server/crypto/x25519-node.ts");
    const mine = await loginProof(h.core, nodeX25519, rotated.privateKey, hello);
    const previous = await loginProof(h.core, nodeX25519, old.privateKey, hello);
    rotated.send({
      type: "login",
      ...mine,
      hostinfo: { hostname: "host", os: "linux" },
      rotateFrom: previous,
    });
    const after = (await rotated.expect("map")).map.self;
    expect(after).toMatchObject({
      id: before.id,
      name: before.name,
      addresses: before.addresses,
      key: rotated.publicKey,
    });
    expect(await again.closed).toEqual({
      code: 4409,
      reason: "replaced by a newer stream of this node",
    });
    expect(await h.store.nodeByKey(old.publicKey)).toBeNull();
  });
});
