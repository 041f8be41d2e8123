// ControlClient's side of WebRTC signalling against the real map side (stream-harness): a
// client with onSignal lists the capability and gets its peers' signals with their keys; one
// without it is never sent any (its peers get `bye` not_supported); signal() checks what it
// sends (a malformed SDP throws the validator's sentence, nothing is sent) and returns false
// without a stream.

import { afterEach, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { CANDIDATE, OFFER } from "./signal-fixtures.ts";
import { type Harness, startHarness } from "./stream-harness.ts";

let h: Harness | undefined;
const clients: ControlClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h?.close();
});

async function client(harness: Harness, authKey: string, hostname: string, signals: boolean) {
  const privateKey = generatePrivateKey();
  const got: PeerSignalMessage[] = [];
  const c = new ControlClient({
    url: harness.url,
    privateKey,
    core: harness.core,
    x25519: nobleX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname, os: "linux" },
    authKey,
    onMap: () => {},
    ...(signals ? { onSignal: (m: PeerSignalMessage) => got.push(m) } : {}),
  });
  clients.push(c);
  const key = keyToBase64(await nobleX25519.publicKey(privateKey));
  return { c, got, key };
}

it("signals between two clients, and the checks before sending", async () => {
  h = await startHarness({ keepaliveMs: 3600_000 });
  const authKey = await h.authKey({ userId: h.bob.id, reusable: true });
  const a = await client(h, authKey, "laptop", true);
  const b = await client(h, authKey, "server", true);
  const old = await client(h, authKey, "old", false);

  // No stream yet: nothing to send on.
  expect(a.c.signal({ to: b.key, sid: "early-0001", kind: "offer", sdp: OFFER })).toBe(false);
  await Promise.all([a.c.start(), b.c.start(), old.c.start()]);
  await waitUntil(() => a.c.map.peers.size === 2, "a sees both peers");

  expect(a.c.signal({ to: b.key, sid: "live-0001", kind: "offer", sdp: OFFER })).toBe(true);
  expect(
    a.c.signal({ to: b.key, sid: "live-0001", kind: "candidate", candidate: CANDIDATE, mid: "0" }),
  ).toBe(true);
  await waitUntil(() => b.got.length === 2, "b got the offer and the candidate");
  expect(b.got.map((m) => [m.from, m.kind])).toEqual([
    [a.key, "offer"],
    [a.key, "candidate"],
  ]);
  expect(a.c.stats.signalsSent).toBe(2);

  // Checked before sending: the validator's sentence, nothing sent.
  expect(() =>
    a.c.signal({ to: b.key, sid: "live-0002", kind: "offer", sdp: OFFER.replace("v=0", "v=1") }),
  ).toThrow(/^sdp/);
  expect(() => a.c.signal({ to: b.key, sid: "short", kind: "bye" })).toThrow(/sid/);
  expect(a.c.stats.signalsSent).toBe(2);

  // A client without onSignal never gets one: its peer is told not_supported.
  expect(a.c.signal({ to: old.key, sid: "live-0003", kind: "offer", sdp: OFFER })).toBe(true);
  await waitUntil(() => a.got.length === 1, "a got the bye");
  expect(a.got[0]).toMatchObject({
    from: old.key,
    sid: "live-0003",
    kind: "bye",
    reason: "not_supported",
  });
});
