// Share nodes on the real map side (stream-harness.ts: startControl on an in-memory store, raw
// map-stream clients): a recipient accepted through the share service logs in with its key as a
// known node and gets a map; revoking the share or the acceptance, or the expiry job, ends its
// stream with `refused` share_revoked / share_expired (close 4403); a recipient that leaves is
// removed after the ephemeral grace and its acceptance ends as "left". The time from revoke to
// the refusal is printed, never asserted.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ShareService } from "../../server/control/shares/service.ts";
import { CONTROL_CLOSE } from "../../worker/control/messages.ts";
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

/** Alice's device on the mesh (streaming), a share of it, and a recipient that accepted it. */
async function sharedAndAccepted(fields: { maxUses?: number | null; expiryMs?: number } = {}) {
  const device = await RawNode.create(h);
  await device.login({
    authKey: await h.authKey({ userId: h.alice.id }),
    hostinfo: { hostname: "devbox", os: "linux", sshHostKeys: ["ssh-ed25519 AAAA"] },
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
      expiryMs: fields.expiryMs ?? 3_600_000,
      maxUses: fields.maxUses === undefined ? 2 : fields.maxUses,
      note: "",
    },
    { user: h.alice, via: "session", source: "127.0.0.1" },
  );
  const link = parseShareLink(made.url);
  if (!link.ok) throw new Error(link.message);
  const recipient = await RawNode.create(h);
  const accepted = await service.accept({
    id: link.link.id,
    secret: link.link.secret,
    nodeKey: recipient.publicKey,
    hostname: "guest-laptop",
    userAgent: "test",
    actor: { user: null, via: "share", source: "127.0.0.1" },
  });
  await recipient.login({ hostinfo: { hostname: "guest-laptop", os: "browser" } });
  const map = await recipient.expect("map");
  return { device, deviceNode: deviceNode!, link: link.link, recipient, accepted, map };
}

/** The next message that is not a keepalive (a moved clock sends some). */
async function nextReal(node: RawNode) {
  for (;;) {
    const message = await node.next();
    if (message.type !== "keepalive") return message;
  }
}

describe("share nodes on the map stream", () => {
  it("a recipient logs in as a known node; revoking the share refuses its stream (share_revoked)", async () => {
    const { recipient, accepted, link } = await sharedAndAccepted();
    const started = performance.now();
    await service.revoke(link.id, { user: h.alice, via: "session", source: "127.0.0.1" });
    const refused = await recipient.expect("refused");
    const closed = await recipient.closed;
    console.log(`share revoke -> refused in ${(performance.now() - started).toFixed(1)} ms`);
    expect(refused).toEqual({
      type: "refused",
      code: "share_revoked",
      message: "the share this node belonged to was revoked",
    });
    expect(closed.code).toBe(CONTROL_CLOSE.REFUSED);
    expect(await h.store.nodeById(accepted.node.id)).toBeNull();
  });

  it("revoking one acceptance refuses that recipient alone", async () => {
    const { recipient, accepted, link } = await sharedAndAccepted();
    await service.revokeAcceptance(link.id, accepted.acceptanceId, {
      user: h.alice,
      via: "session",
      source: "127.0.0.1",
    });
    expect((await recipient.expect("refused")).code).toBe("share_revoked");
  });

  it("the expiry job refuses with share_expired", async () => {
    const { recipient, accepted } = await sharedAndAccepted({ expiryMs: 60_000 });
    h.clock.advance(60_000);
    expect(await service.expireDue()).toBe(1);
    expect(await nextReal(recipient)).toMatchObject({ type: "refused", code: "share_expired" });
    expect(await h.store.acceptanceById(accepted.acceptanceId)).toMatchObject({
      endReason: "expired",
      nodeId: null,
    });
  });

  it("a recipient that leaves is removed after the ephemeral grace: its acceptance ends as 'left'", async () => {
    const { recipient, accepted } = await sharedAndAccepted();
    recipient.close();
    await recipient.closed;
    await expect.poll(() => h.control.hub.attachedCount).toBe(1);
    h.clock.advance(120_000);
    await expect
      .poll(async () => (await h.store.acceptanceById(accepted.acceptanceId))?.endReason)
      .toBe("left");
    expect(await h.store.nodeById(accepted.node.id)).toBeNull();
  });
});
