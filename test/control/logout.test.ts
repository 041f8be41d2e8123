// `logout` on the map stream: the node leaves at once (the store and its peers' maps lose it,
// the server confirms with `refused` node_removed), a client without a stream only closes, and
// the codec reads the message.

import { afterEach, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { decodeClientMessage, encodeClientMessage } from "../../worker/control/codec.ts";
import { ControlProtocolError } from "../../worker/control/errors.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, startHarness } from "./stream-harness.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function client(h: Harness, hostname: string, authKey: string): ControlClient {
  const c = new ControlClient({
    url: h.url,
    privateKey: generatePrivateKey(),
    core: h.core,
    x25519: nobleX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname, os: "linux" },
    authKey,
    ephemeral: true,
    clock: new FakeClock(),
    onMap: () => {},
  });
  cleanup.push(() => c.close());
  return c;
}

describe("logout", () => {
  it("removes the node at once; its peer's map loses it; the server confirms", async () => {
    const h = await startHarness();
    cleanup.push(() => h.close());
    const authKey = await h.authKey({ userId: h.alice.id, reusable: true });
    const a = client(h, "alpha", authKey);
    const b = client(h, "beta", authKey);
    await a.start();
    await b.start();
    const bId = b.map.self.id;
    await waitUntil(() => a.map.peerById(bId) !== undefined, "beta at alpha");
    expect(await b.logout()).toBe(true);
    expect(b.state).toBe("refused");
    expect(b.refusal?.code).toBe("node_removed");
    expect(await h.store.nodeById(bId)).toBeNull();
    await waitUntil(() => a.map.peerById(bId) === undefined, "beta gone from alpha's map");
    // The grace period never started: the server holds no pending removal for it.
    expect(h.control.hub.removalPending(bId)).toBe(false);
  });

  it("without a stream it only closes (false); the codec reads {type: logout}", async () => {
    const h = await startHarness();
    cleanup.push(() => h.close());
    const c = client(h, "gamma", await h.authKey({ userId: h.bob.id }));
    expect(await c.logout()).toBe(false);
    expect(c.state).toBe("closed");
    expect(decodeClientMessage('{"type":"logout"}')).toEqual({ type: "logout" });
    expect(encodeClientMessage({ type: "logout" })).toBe('{"type":"logout"}');
    // Unknown fields are dropped, as in every message (newer clients may add some).
    expect(decodeClientMessage('{"type":"logout","node":7}')).toEqual({ type: "logout" });
    expect(() => decodeClientMessage('{"type":"logoff"}')).toThrow(ControlProtocolError);
  });
});
