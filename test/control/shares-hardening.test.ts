// Share nodes on the real map side (stream-harness.ts), the edges a review found: a recipient that
// accepts and never opens its map stream is removed after the ephemeral grace all the same (its
// acceptance ends "left"), one that comes within the grace stays; a share node that rotates its
// key keeps its expiry (the backstop that ends it with its share). And the public share routes'
// rate-limit key: an IPv6 source counts by its /64.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rateLimitKey } from "../../server/control/api/guard.ts";
import { ShareService } from "../../server/control/shares/service.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { loginProof } from "../../worker/control/proof.ts";
import { parseShareLink } from "../../worker/control/share-link.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
let service: ShareService;

beforeEach(async () => {
  h = await startHarness({ ephemeralGraceMs: 120_000 });
  service = new ShareService({
    store: h.store,
    meshChanges: h.control.meshChanges,
    baseUrl: `${h.origin}/`,
    now: () => h.clock.now(),
  });
});

afterEach(async () => {
  await h.close();
});

/** A share of Alice's device (streaming) accepted for a recipient that has not logged in yet. */
async function accepted() {
  const device = await RawNode.create(h);
  await device.login({
    authKey: await h.authKey({ userId: h.alice.id }),
    hostinfo: { hostname: "devbox", os: "linux" },
  });
  await device.expect("map");
  const deviceNode = await h.store.nodeByKey(device.publicKey);
  const made = await service.create(
    {
      nodeId: deviceNode!.id,
      sshUsers: [],
      ports: [8080],
      audience: "anyone",
      emails: [],
      expiryMs: 3_600_000,
      maxUses: null,
      note: "",
    },
    { user: h.alice, via: "session", source: "127.0.0.1" },
  );
  const link = parseShareLink(made.url);
  if (!link.ok) throw new Error(link.message);
  const recipient = await RawNode.create(h);
  const acceptance = await service.accept({
    id: link.link.id,
    secret: link.link.secret,
    nodeKey: recipient.publicKey,
    hostname: "guest-laptop",
    userAgent: "test",
    actor: { user: null, via: "share", source: "127.0.0.1" },
  });
  return { recipient, acceptance, expiresAt: made.share.expiresAt };
}

describe("share nodes that never connect", () => {
  it("are removed after the ephemeral grace; their acceptance ends 'left'", async () => {
    const { acceptance } = await accepted();
    expect(h.control.hub.removalPending(acceptance.node.id)).toBe(true);
    h.clock.advance(119_000);
    expect(await h.store.nodeById(acceptance.node.id)).not.toBeNull();
    h.clock.advance(1_000);
    await expect
      .poll(async () => (await h.store.acceptanceById(acceptance.acceptanceId))?.endReason)
      .toBe("left");
    expect(await h.store.nodeById(acceptance.node.id)).toBeNull();
  });

  it("one that opens its stream within the grace stays", async () => {
    const { recipient, acceptance } = await accepted();
    h.clock.advance(60_000);
    await recipient.login({ hostinfo: { hostname: "guest-laptop", os: "browser" } });
    await recipient.expect("map");
    expect(h.control.hub.removalPending(acceptance.node.id)).toBe(false);
    h.clock.advance(120_000);
    expect(await h.store.nodeById(acceptance.node.id)).not.toBeNull();
    expect((await h.store.acceptanceById(acceptance.acceptanceId))?.endedAt).toBeNull();
  });
});

describe("a share node rotating its key", () => {
  it("keeps its expiry (no user does not mean no expiry)", async () => {
    const { recipient, acceptance, expiresAt } = await accepted();
    await recipient.login({ hostinfo: { hostname: "guest-laptop", os: "browser" } });
    await recipient.expect("map");
    const before = await h.store.nodeById(acceptance.node.id);
    expect(before?.keyExpiry).toBeGreaterThanOrEqual(expiresAt);

    const rotated = await RawNode.create(h);
    await rotated.connect();
    const hello = await rotated.expect("hello");
    rotated.send({
      type: "login",
      ...(await loginProof(h.core, nodeX25519, rotated.privateKey, hello)),
      hostinfo: { hostname: "guest-laptop", os: "browser" },
      rotateFrom: await loginProof(h.core, nodeX25519, recipient.privateKey, hello),
    });
    await rotated.expect("map");
    const after = await h.store.nodeById(acceptance.node.id);
    expect(after?.nodeKey).toBe(rotated.publicKey);
    expect(after?.keyExpiry).toBe(before?.keyExpiry);
  });
});

describe("the share routes' rate-limit key", () => {
  it("is the address for IPv4 (mapped too), the /64 for IPv6, the text otherwise", () => {
    expect(rateLimitKey("192.0.2.7")).toBe("192.0.2.7");
    expect(rateLimitKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(rateLimitKey("2001:db8:1:2::5")).toBe("2001:db8:1:2::/64");
    expect(rateLimitKey("2001:db8:1:2:ffff:1:2:3")).toBe("2001:db8:1:2::/64");
    expect(rateLimitKey("2001:0db8:0001:0002::9")).toBe("2001:db8:1:2::/64");
    expect(rateLimitKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(rateLimitKey("2001:db8:1:3::5")).not.toBe(rateLimitKey("2001:db8:1:2::5"));
    expect(rateLimitKey("unknown")).toBe("unknown");
  });
});
