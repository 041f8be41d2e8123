// The shared map client (ControlClient) against the real map side (server/control: stream,
// hub, mapper, SQLite store) over loopback WebSockets: two agents registered by auth key see
// each other and resolve each other's names, an update reaches the other node as an endpoints
// change, a dropped stream resumes with a delta, and revoked or expired auth keys stop the
// client for good with the server's reason.

import { afterEach, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient, type ControlClientOptions } from "../../worker/control/client.ts";
import type { MapDiff } from "../../worker/control/map-state.ts";
import type { ControlConnect, ControlSocket } from "../../worker/control/socket.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, startHarness } from "./stream-harness.ts";

const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Agent {
  client: ControlClient;
  clock: FakeClock;
  diffs: MapDiff[];
  sockets: ControlSocket[];
}

function agent(h: Harness, hostname: string, extra: Partial<ControlClientOptions>): Agent {
  const clock = new FakeClock();
  const diffs: MapDiff[] = [];
  const sockets: ControlSocket[] = [];
  const connect = nodeControlConnect();
  const recording: ControlConnect = (url, protocol) => {
    const socket = connect(url, protocol);
    sockets.push(socket);
    return socket;
  };
  const client = new ControlClient({
    url: h.url,
    privateKey: generatePrivateKey(),
    core: h.core,
    x25519: nobleX25519,
    connect: recording,
    hostinfo: { hostname, os: "linux" },
    clock,
    onMap: (diff) => diffs.push(diff),
    ...extra,
  });
  cleanup.push(() => client.close());
  return { client, clock, diffs, sockets };
}

async function harness(): Promise<Harness> {
  const h = await startHarness();
  cleanup.push(() => h.close());
  return h;
}

describe("ControlClient on the real map side", () => {
  it("two agents see and resolve each other, updates reach the peer, a drop resumes with a delta", async () => {
    const h = await harness();
    const authKey = await h.authKey({ userId: h.alice.id, reusable: true });
    const a = agent(h, "alpha", { authKey });
    const b = agent(h, "beta", { authKey });
    await a.client.start();
    await b.client.start();
    const bSelf = b.client.map.self;
    await waitUntil(() => a.client.map.peerById(bSelf.id) !== undefined, "beta in alpha's map");
    expect(a.client.map.resolve("beta")).toEqual(bSelf.addresses);
    expect(a.client.map.resolve(`BETA.${a.client.map.domain}`)).toEqual(bSelf.addresses);
    expect(b.client.map.resolve("alpha")).toEqual(a.client.map.self.addresses);
    expect(a.diffs[0]!.full).toBe(true);

    const before = a.diffs.length;
    b.client.update({ endpoints: ["192.0.2.5:41641"], homeRelay: "default" });
    await waitUntil(
      () => a.client.map.peerById(bSelf.id)?.endpoints[0] === "192.0.2.5:41641",
      "beta's endpoint at alpha",
    );
    const changes = a.diffs.slice(before).flatMap((d) => d.peersChanged);
    expect(changes.every((c) => c.after.id === bSelf.id)).toBe(true);
    expect(new Set(changes.flatMap((c) => c.fields))).toEqual(new Set(["endpoints", "homeRelay"]));
    expect(a.diffs.slice(before).every((d) => !d.full && d.peersAdded.length === 0)).toBe(true);

    // Alpha's stream drops; it comes back with {session, seq} and gets a delta.
    const seq = a.client.map.seq;
    a.sockets[0]!.close(3000, "test drop");
    await waitUntil(() => a.client.state === "backoff", "alpha in backoff");
    a.clock.advance(a.client.lastRetryDelayMs!);
    await waitUntil(() => a.client.state === "ready", "alpha resumed");
    expect(a.client.stats.resumeRequests).toBe(1);
    expect(a.client.stats.resumedWithDelta).toBe(1);
    expect(a.client.stats.fullMaps).toBe(1);
    expect(a.client.map.seq).toBeGreaterThanOrEqual(seq);
    expect(a.client.map.peerById(bSelf.id)?.endpoints).toEqual(["192.0.2.5:41641"]);
  });

  it("a revoked and an expired auth key stop the client for good, with the server's reason", async () => {
    const h = await harness();
    const revoked = await h.authKey({ userId: h.bob.id, reusable: true });
    const record = (await h.store.listAuthKeys()).find((k) => revoked.startsWith(k.prefix))!;
    await h.store.revokeAuthKey(record.id, h.clock.now());
    const r = agent(h, "gamma", { authKey: revoked });
    await expect(r.client.start()).rejects.toThrow(
      "control server refused this node: authkey_revoked:",
    );
    expect(r.client.state).toBe("refused");
    expect(r.client.refusal?.code).toBe("authkey_revoked");

    const expired = await h.authKey({ userId: h.bob.id, expiresAt: h.clock.now() + 1000 });
    h.clock.advance(1000);
    const e = agent(h, "delta", { authKey: expired });
    await expect(e.client.start()).rejects.toThrow(
      `control server refused this node: authkey_expired: auth key ${expired.slice(0, record.prefix.length)}… has expired`,
    );
    // No retry, however long we wait.
    e.clock.advance(3_600_000);
    expect(e.client.stats.connectAttempts).toBe(1);
  });
});
