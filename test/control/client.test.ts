// The shared map client (ControlClient) against a scripted server over real loopback
// WebSockets: the login proof checked with node:crypto and Python, maps and deltas delivered
// as diffs, resume after a drop, refusals final, backoff growing on a fake clock, the
// keepalive watchdog, sequence gaps, malformed messages and updates.

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient, type ControlClientOptions } from "../../worker/control/client.ts";
import { ControlProtocolError } from "../../worker/control/errors.ts";
import type { MapDiff } from "../../worker/control/map-state.ts";
import { expectedControlProof, loginProof } from "../../worker/control/proof.ts";
import { type CryptoCore, loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  node,
  pythonBlake2s,
  rawPublic,
  x25519Private,
  x25519Shared,
} from "../relay/independent-oracle.ts";
import { type FakeConnection, FakeControlServer } from "./client-fake-server.ts";
import { mapMessage, peer } from "./codec-fixtures.ts";

let core: CryptoCore;
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  core = await loadCryptoCore();
});

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Harness {
  server: FakeControlServer;
  client: ControlClient;
  clock: FakeClock;
  diffs: MapDiff[];
  waiting: string[];
  privateKey: Uint8Array;
}

async function harness(extra: Partial<ControlClientOptions> = {}): Promise<Harness> {
  const server = await FakeControlServer.start();
  cleanup.push(() => server.stop());
  const clock = new FakeClock();
  const privateKey = seededBytes(0xa11ce)(32);
  const diffs: MapDiff[] = [];
  const waiting: string[] = [];
  const client = new ControlClient({
    url: server.url,
    privateKey,
    core,
    x25519: nobleX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname: "build-01", os: "linux" },
    clock,
    random: seededBytes(0xbac0),
    onMap: (diff) => diffs.push(diff),
    onWaiting: (url) => waiting.push(url),
    ...extra,
  });
  cleanup.push(() => client.close());
  return { server, client, clock, diffs, waiting, privateKey };
}

/** Starts the client and lets the first connection log in and get `mapMessage(3, seq)`. */
async function streaming(h: Harness, seq = 5, session = "s-A") {
  const started = h.client.start();
  const conn = await h.server.connection(0);
  const login = await conn.login();
  conn.send(mapMessage(3, seq, session));
  await started;
  return { conn, login };
}

describe("login and maps", () => {
  it("answers hello with a login whose proof node:crypto and Python verify, then applies the map", async () => {
    const h = await harness({ ephemeral: true, tags: ["tag:ci"], authKey: "cak_secret" });
    const { login } = await streaming(h);
    const expectedKey = rawPublic(x25519Private(h.privateKey)).toString("base64");
    expect(login).toEqual({
      type: "login",
      nodeKey: expectedKey,
      proof: login.proof,
      hostinfo: { hostname: "build-01", os: "linux" },
      authKey: "cak_secret",
      ephemeral: true,
      tags: ["tag:ci"],
    });
    expect(h.client.state).toBe("ready");
    expect(h.diffs).toHaveLength(1);
    expect(h.diffs[0]!.full).toBe(true);
    expect(h.diffs[0]!.peersAdded.map((p) => p.id)).toEqual([2, 3, 4]);
    expect(h.client.map.resolve("node-3.mesh.example")).toEqual(peer(3).addresses);
  });

  it("hands each delta to onMap as a diff", async () => {
    const h = await harness();
    const { conn } = await streaming(h);
    conn.send({ type: "delta", seq: 6, patches: [{ id: 2, online: false }] });
    await waitUntil(() => h.diffs.length === 2, "the delta");
    expect(h.diffs[1]!.full).toBe(false);
    expect(h.diffs[1]!.peersChanged.map((c) => [c.after.id, c.fields])).toEqual([[2, ["online"]]]);
    expect(h.client.stats.deltas).toBe(1);
  });

  it("waits for approval with the URL, then streams", async () => {
    const h = await harness();
    const started = h.client.start();
    const conn = await h.server.connection(0);
    await conn.login();
    conn.send({ type: "waiting", approvalUrl: "https://control.example/approve/k3y" });
    await waitUntil(() => h.waiting.length === 1, "onWaiting");
    expect(h.waiting).toEqual(["https://control.example/approve/k3y"]);
    expect(h.client.state).toBe("waiting");
    // Approval may take a person minutes: neither the handshake timeout nor the keepalive
    // watchdog applies (the server's approval expiry ends the wait).
    h.clock.advance(1_000_000);
    expect(h.client.state).toBe("waiting");
    conn.send(mapMessage(3, 1));
    await started;
    expect(h.client.state).toBe("ready");
  });

  it("proves the previous key too when rotating", async () => {
    const previous = seededBytes(0x01d)(32);
    const h = await harness({ rotateFrom: previous });
    const { conn, login } = await streaming(h);
    const rotate = login.rotateFrom as { nodeKey: string; proof: string };
    const oldKey = rawPublic(x25519Private(previous));
    expect(rotate.nodeKey).toBe(oldKey.toString("base64"));
    expect(rotate.proof).toBe((await h.server.proofFor(oldKey, conn.challenge)).toString("base64"));
  });
});

describe("reconnecting", () => {
  it("resumes after a drop with {session, seq} and applies the missed delta as a delta", async () => {
    const h = await harness();
    const { conn } = await streaming(h, 5, "s-A");
    conn.send({ type: "delta", seq: 6, patches: [{ id: 3, online: false }] });
    await waitUntil(() => h.diffs.length === 2, "the first delta");
    conn.close(1012, "restarting");
    await waitUntil(() => h.client.state === "backoff", "backoff");
    h.clock.advance(h.client.lastRetryDelayMs!);
    const again = await h.server.connection(1);
    const login = await again.login();
    expect(login.resume).toEqual({ session: "s-A", seq: 6 });
    again.send({ type: "delta", seq: 7, peersRemoved: [4] });
    await waitUntil(() => h.diffs.length === 3, "the resumed delta");
    expect(h.diffs[2]!.full).toBe(false);
    expect(h.diffs[2]!.peersRemoved.map((p) => p.id)).toEqual([4]);
    expect(h.client.stats.resumedWithDelta).toBe(1);
    expect(h.client.stats.resumeRequests).toBe(1);
  });

  it.each([
    ["4429 too slow", (c: FakeConnection) => c.close(4429, "too slow")],
    ["a network drop", (c: FakeConnection) => c.ws.terminate()],
    ["a protocol-free 1001", (c: FakeConnection) => c.close(1001, "going away")],
  ])("resumes after %s", async (_what, drop) => {
    const h = await harness();
    const { conn } = await streaming(h, 12, "s-D");
    drop(conn);
    await waitUntil(() => h.client.state === "backoff", "backoff");
    h.clock.advance(h.client.lastRetryDelayMs!);
    expect((await (await h.server.connection(1)).login()).resume).toEqual({
      session: "s-D",
      seq: 12,
    });
  });

  it("backoff grows (with jitter) on a fake clock, and resets after a map", async () => {
    const h = await harness({ backoffBaseMs: 1000, backoffMaxMs: 16_000 });
    h.server.sayHello = false;
    void h.client.start().catch(() => {});
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const conn = await h.server.connection(i);
      conn.close(1012, "restarting");
      await waitUntil(() => h.client.state === "backoff", `backoff ${i}`);
      delays.push(h.client.lastRetryDelayMs!);
      h.clock.advance(h.client.lastRetryDelayMs!);
    }
    delays.forEach((delay, i) => {
      const ceiling = Math.min(16_000, 1000 * 2 ** i);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThan(ceiling);
    });
    expect(new Set(delays).size).toBe(delays.length);
    // A successful map resets it.
    h.server.sayHello = true;
    h.client.close();
    const fresh = await harness({ backoffBaseMs: 1000 });
    const { conn } = await streaming(fresh);
    conn.close(1012);
    await waitUntil(() => fresh.client.state === "backoff", "backoff after a map");
    expect(fresh.client.lastRetryDelayMs!).toBeLessThan(1000);
  });

  it("a silent server (2.5 keepalive intervals) is dropped and resumed", async () => {
    const h = await harness({ keepaliveIntervalMs: 50_000 });
    const { conn } = await streaming(h, 9, "s-K");
    h.clock.advance(100_000);
    expect(h.client.state).toBe("ready");
    conn.send({ type: "keepalive" });
    await waitUntil(() => h.client.stats.keepalives === 1, "the keepalive");
    h.clock.advance(124_999);
    expect(h.client.state).toBe("ready");
    h.clock.advance(1);
    expect(h.client.stats.keepaliveTimeouts).toBe(1);
    expect(h.client.state).toBe("backoff");
    expect(await conn.closedWith()).toEqual({ code: 4408, reason: "keepalive timeout" });
    h.clock.advance(h.client.lastRetryDelayMs!);
    const login = await (await h.server.connection(1)).login();
    expect(login.resume).toEqual({ session: "s-K", seq: 9 });
  });

  it("a server that never says hello times out the handshake", async () => {
    const h = await harness({ handshakeTimeoutMs: 30_000 });
    h.server.sayHello = false;
    void h.client.start().catch(() => {});
    const conn = await h.server.connection(0);
    await waitUntil(() => h.client.stats.opened === 1, "the socket to open");
    h.clock.advance(30_000);
    expect(h.client.stats.handshakeTimeouts).toBe(1);
    expect(await conn.closedWith()).toEqual({ code: 4408, reason: "handshake timeout" });
  });

  it("a sequence gap closes 4400 and asks for a full map, diffed against the old one", async () => {
    const h = await harness();
    const { conn } = await streaming(h, 1, "s-G");
    conn.send({ type: "delta", seq: 3, peersRemoved: [2] });
    expect(await conn.closedWith()).toEqual({
      code: 4400,
      reason: "seq: expected 2, got 3: reconnect and resume",
    });
    expect(h.client.stats.sequenceErrors).toBe(1);
    h.clock.advance(h.client.lastRetryDelayMs!);
    const again = await h.server.connection(1);
    const login = await again.login();
    expect(login.resume).toBeUndefined();
    const next = mapMessage(3, 1, "s-H");
    next.map.peers[1] = peer(3, { hostname: "moved" });
    again.send(next);
    await waitUntil(() => h.diffs.length === 2, "the full map");
    expect(h.diffs[1]!.full).toBe(true);
    expect(h.diffs[1]!.peersAdded).toEqual([]);
    expect(h.diffs[1]!.peersChanged.map((c) => [c.after.id, c.fields])).toEqual([
      [3, ["hostname"]],
    ]);
  });

  it("a malformed message closes 4400 naming the field; an oversized one 1009", async () => {
    const h = await harness({ maxMessageBytes: 4096 });
    const { conn } = await streaming(h);
    const bad = { type: "delta", seq: 6, peersUpserted: [peer(9, { key: "short" })] };
    conn.send(bad);
    expect(await conn.closedWith()).toEqual({
      code: 4400,
      reason: "peersUpserted[0].key: not base64 of 32 bytes: 5 characters, expected 44",
    });
    expect(h.client.stats.protocolErrors).toBe(1);
    h.clock.advance(h.client.lastRetryDelayMs!);
    const again = await h.server.connection(1);
    expect((await again.login()).resume).toBeUndefined();
    again.send({ type: "refused", code: "x", message: "y".repeat(5000) });
    expect((await again.closedWith()).code).toBe(1009);
    expect(h.client.state).toBe("backoff");
  });

  it("a map before hello is out of order", async () => {
    const h = await harness();
    h.server.sayHello = false;
    void h.client.start().catch(() => {});
    const conn = await h.server.connection(0);
    conn.send(mapMessage(1, 1));
    expect(await conn.closedWith()).toEqual({
      code: 4400,
      reason: 'type: "map" is not valid while waiting for hello',
    });
  });
});

describe("refusals are final", () => {
  it("refused: code and message surfaced, start() rejects, no retry", async () => {
    const refusals: unknown[] = [];
    const h = await harness({ onRefused: (r) => refusals.push(r) });
    const started = h.client.start();
    const conn = await h.server.connection(0);
    await conn.login();
    conn.send({ type: "refused", code: "authkey_revoked", message: "The auth key was revoked." });
    conn.close(4403, "refused");
    await expect(started).rejects.toThrow(
      "control server refused this node: authkey_revoked: The auth key was revoked.",
    );
    expect(refusals).toEqual([
      { code: "authkey_revoked", message: "The auth key was revoked.", closeCode: 0 },
    ]);
    expect(h.client.state).toBe("refused");
    h.clock.advance(3_600_000);
    expect(h.server.connections).toHaveLength(1);
    expect(h.client.stats.connectAttempts).toBe(1);
  });

  it.each([
    [4401, "bad proof", { code: "unauthenticated", message: "bad proof", closeCode: 4401 }],
    [4403, "", { code: "refused", message: "", closeCode: 4403 }],
    [
      4409,
      "",
      {
        code: "replaced",
        message: "another stream of this node replaced this one",
        closeCode: 4409,
      },
    ],
  ])("close %i is final", async (code, reason, refusal) => {
    const h = await harness();
    const { conn } = await streaming(h);
    conn.close(code, reason);
    await waitUntil(() => h.client.state === "refused", "the refusal");
    expect(h.client.refusal).toEqual(refusal);
    h.clock.advance(3_600_000);
    expect(h.server.connections).toHaveLength(1);
  });

  it("4409 reconnects when told to", async () => {
    const h = await harness({ reconnectWhenReplaced: true });
    const { conn } = await streaming(h);
    conn.close(4409, "replaced");
    await waitUntil(() => h.client.state === "backoff", "backoff");
    h.clock.advance(h.client.lastRetryDelayMs!);
    expect((await (await h.server.connection(1)).login()).resume).toEqual({
      session: "s-A",
      seq: 5,
    });
  });
});

describe("options and proofs", () => {
  it("refuses options the server would refuse, naming the field", () => {
    const base = {
      url: "ws://127.0.0.1:1/control",
      privateKey: new Uint8Array(32),
      core,
      x25519: nobleX25519,
      connect: nodeControlConnect(),
      onMap: () => {},
    };
    expect(() => new ControlClient({ ...base, hostinfo: { hostname: "", os: "linux" } })).toThrow(
      new ControlProtocolError("hostinfo.hostname", "must not be empty"),
    );
    expect(
      () => new ControlClient({ ...base, hostinfo: { hostname: "h", os: "" }, tags: ["server"] }),
    ).toThrow(new ControlProtocolError("tags[0]", 'not a tag ("tag:NAME")'));
  });

  it("the server's expectedControlProof matches the node's loginProof and the independent one", async () => {
    const server = node(0x77);
    const nodeKey = seededBytes(0x99)(32);
    const challenge = seededBytes(0x98)(32);
    const hello = {
      serverKey: server.publicKey.toString("base64"),
      challenge: Buffer.from(challenge).toString("base64"),
    };
    const login = await loginProof(core, nobleX25519, nodeKey, hello);
    const serverRaw = Buffer.alloc(32, 0x77);
    const expected = await expectedControlProof(
      core,
      nobleX25519,
      serverRaw,
      login.nodeKey,
      challenge,
    );
    expect(Buffer.from(expected).toString("base64")).toBe(login.proof);
    const independent = await pythonBlake2s(
      x25519Shared(server.privateKey, Buffer.from(login.nodeKey, "base64")),
      challenge,
    );
    expect(independent.toString("base64")).toBe(login.proof);
  });
});

describe("updates", () => {
  it("are checked, sent when streaming, and sent again after a reconnect", async () => {
    const h = await harness();
    h.client.update({ endpoints: ["192.0.2.7:51820"] });
    const { conn } = await streaming(h);
    expect(await conn.message(1)).toEqual({ type: "update", endpoints: ["192.0.2.7:51820"] });
    h.client.update({ homeRelay: "eu-1" });
    expect(await conn.message(2)).toEqual({ type: "update", homeRelay: "eu-1" });
    expect(() => h.client.update({ endpoints: ["192.0.2.7"] })).toThrow(
      new ControlProtocolError("endpoints[0]", 'expected "ip:port"'),
    );
    conn.close(1012);
    await waitUntil(() => h.client.state === "backoff", "backoff");
    h.clock.advance(h.client.lastRetryDelayMs!);
    const again = await h.server.connection(1);
    await again.login();
    again.send({ type: "delta", seq: 6 });
    expect(await again.message(1)).toEqual({
      type: "update",
      endpoints: ["192.0.2.7:51820"],
      homeRelay: "eu-1",
    });
    expect(h.client.stats.updatesSent).toBe(3);
  });
});
