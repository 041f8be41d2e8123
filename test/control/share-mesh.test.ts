// A share on a real mesh (control server on SQLite, relay, userspace MeshNodes on loopback):
// alice's device D shares TCP port 8080 with a recipient R, whose node is made by the share
// service from the public key R sent with the accept call and then logs in as a known key.
// R's map holds D alone; R reaches D:8080 and nothing else (another port of D, alice's other
// host H); D cannot open anything on R (R's own engine drops it: R's filter is empty) while
// R's connections get their answers. Revoking ends R's stream with `share_revoked`, takes R
// out of D's map and the rule off D's filter; the time from the revoke call to D's map change
// is printed (the goal is 1 s; never asserted). The device's key rotation and endpoint changes
// reach the recipient through the map.

import { afterEach, describe, expect, it } from "vitest";
import { ShareService } from "../../server/control/shares/service.ts";
import { MeshNode } from "../../server/mesh-node.ts";
import type { ControlRefusal } from "../../worker/control/client-options.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { echoServer, type Mesh, peerNames, startMesh, tcpExchange } from "./mesh-harness.ts";

const PORT = 8080;
const OTHER_PORT = 9090;

let mesh: Mesh | undefined;
afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
});

/** Whether a TCP exchange fails (refused, dropped: no answer within the timeout). */
async function fails(exchange: Promise<string>): Promise<boolean> {
  return exchange.then(
    () => false,
    () => true,
  );
}

describe("a share on a real mesh", () => {
  it("shows the recipient its device only, keeps the device from reaching back, and revokes at once", async () => {
    mesh = await startMesh();
    const m = mesh;
    const key = (await m.authKey("alice", { reusable: true })).key;
    const d = await m.join("device", key);
    const h = await m.join("other-host", key);
    echoServer(d, PORT);
    echoServer(d, OTHER_PORT);
    echoServer(h, PORT);
    const dId = m.idOf(d);

    const shares = new ShareService({
      store: m.store,
      meshChanges: m.control.meshChanges,
      baseUrl: "http://127.0.0.1/",
      now: () => m.clock.now(),
    });
    const alice = { user: m.users.alice, via: "apikey", source: "127.0.0.1" };
    const { url, share } = await shares.create(
      {
        nodeId: dId,
        sshUsers: [],
        ports: [PORT],
        audience: "anyone",
        emails: [],
        expiryMs: 3_600_000,
        maxUses: null,
        note: "",
      },
      alice,
    );
    const [id, secret] = new URL(url).pathname.slice(3).concat(new URL(url).hash).split("#") as [
      string,
      string,
    ];
    expect(id).toBe(share.id);

    // The recipient: its key made here, only the public half sent with the accept call.
    const privateKey = generatePrivateKey();
    const refusals: ControlRefusal[] = [];
    const r = await MeshNode.create({
      controlUrl: m.controlUrl,
      privateKey,
      hostname: "guest",
      os: "browser",
      relayBackoffBaseMs: 20,
      relayBackoffMaxMs: 200,
      onRefused: (refusal) => refusals.push(refusal),
    });
    try {
      const accepted = await shares.accept({
        id,
        secret,
        nodeKey: r.key,
        hostname: "guest",
        userAgent: "share-mesh.test",
        actor: { user: null, via: "share", source: "127.0.0.1" },
      });
      await r.start();
      const rId = accepted.node.id;
      const [rV4] = accepted.node.addresses as [string];
      const dV4 = d.resolve("device")![0]!;
      const hV4 = h.resolve("other-host")![0]!;

      // The maps: R holds D alone; D holds R (and H); H never hears of R.
      await waitUntil(() => peerNames(r).length > 0, "D in R's map");
      expect(peerNames(r)).toEqual(["device"]);
      expect(r.state.filter).toEqual([]);
      expect(r.state.ssh).toEqual([]);
      await waitUntil(() => d.state.peers.has(rId), "R in D's map");
      expect(peerNames(h)).toEqual(["device"]);
      expect(d.state.filter.at(-1)).toEqual({
        src: { shares: [accepted.acceptanceId] },
        ports: [{ proto: "tcp", first: PORT, last: PORT }],
      });

      // R reaches D:8080, and nothing else.
      expect(await tcpExchange(r, dV4, PORT, "hello")).toBe("HELLO");
      const dropped = d.filter.counters.dropped.noRule;
      expect(await fails(tcpExchange(r, dV4, OTHER_PORT, "x", 1500))).toBe(true);
      expect(d.filter.counters.dropped.noRule).toBeGreaterThan(dropped);
      expect(await fails(tcpExchange(r, hV4, PORT, "x", 1500))).toBe(true);
      expect(r.resolve("other-host")).toBeUndefined();

      // D cannot open anything on R: R's engine drops it (its filter is empty), while the
      // answers to R's own connections were let in.
      echoServer(r, PORT);
      const rDropped = r.filter.counters.dropped.noRule;
      expect(await fails(tcpExchange(d, rV4, PORT, "back", 1500))).toBe(true);
      expect(r.filter.counters.dropped.noRule).toBeGreaterThan(rDropped);
      expect(r.filter.counters.acceptedAsReply).toBeGreaterThan(0);

      // Revoked: R refused, D's map and filter without R.
      const started = performance.now();
      let mapChangedAfter = Number.NaN;
      const watch = waitUntil(
        () =>
          !d.state.peers.has(rId) && d.state.filter.every((rule) => rule.src.shares === undefined),
        "R out of D's map and filter",
        { everyMs: 2 },
      ).then(() => {
        mapChangedAfter = performance.now() - started;
      });
      await shares.revoke(id, alice);
      await watch;
      await waitUntil(() => refusals.length > 0, "R's refusal");
      console.log(
        `share revoked: D's map and filter without R ${mapChangedAfter.toFixed(0)} ms after the revoke call (goal 1 s)`,
      );
      expect(refusals[0]!.code).toBe("share_revoked");
      expect(m.control.mapper.node(rId)).toBeUndefined();
      // D's device no longer has R as a peer: nothing from R's key is even decrypted.
      await waitUntil(
        () => d.device?.peerStats().every((p) => keyToBase64(p.publicKey) !== r.key) ?? true,
        "R off D's device",
      );
      expect(peerNames(h)).toEqual(["device"]);
    } finally {
      await r.close();
    }
  }, 60_000);

  it("the device's new key and endpoints reach the recipient through the map", async () => {
    mesh = await startMesh();
    const m = mesh;
    const key = (await m.authKey("alice", { reusable: true })).key;
    const oldKey = generatePrivateKey();
    const d = await m.join("device", key, { privateKey: oldKey });
    echoServer(d, PORT);
    const dId = m.idOf(d);
    const shares = new ShareService({
      store: m.store,
      meshChanges: m.control.meshChanges,
      baseUrl: "http://127.0.0.1/",
      now: () => m.clock.now(),
    });
    const alice = { user: m.users.alice, via: "apikey", source: "127.0.0.1" };
    const { url } = await shares.create(
      {
        nodeId: dId,
        sshUsers: [],
        ports: [PORT],
        audience: "anyone",
        emails: [],
        expiryMs: 3_600_000,
        maxUses: 1,
        note: "",
      },
      alice,
    );
    const [id, secret] = new URL(url).pathname.slice(3).concat(new URL(url).hash).split("#") as [
      string,
      string,
    ];
    const r = await MeshNode.create({
      controlUrl: m.controlUrl,
      hostname: "guest",
      os: "browser",
      relayBackoffBaseMs: 20,
      relayBackoffMaxMs: 200,
    });
    try {
      await shares.accept({
        id,
        secret,
        nodeKey: r.key,
        hostname: "guest",
        userAgent: "share-mesh.test",
        actor: { user: null, via: "share", source: "127.0.0.1" },
      });
      await r.start();
      await waitUntil(() => peerNames(r).length > 0, "D in R's map");
      const dV4 = r.resolve("device")![0]!;
      expect(await tcpExchange(r, dV4, PORT, "before")).toBe("BEFORE");

      // D moves to a new key (its id, name and addresses stay): R's map follows.
      await d.close();
      const rotated = await m.join("device", key, {
        privateKey: generatePrivateKey(),
        rotateFrom: oldKey,
      });
      echoServer(rotated, PORT);
      expect(m.idOf(rotated)).toBe(dId);
      await waitUntil(() => r.state.peers.get(dId)?.key === rotated.key, "D's new key in R's map");
      expect(await tcpExchange(r, dV4, PORT, "after")).toBe("AFTER");

      // D's endpoints change: R's map carries them.
      rotated.control?.update({ endpoints: ["203.0.113.9:41641"] });
      await waitUntil(
        () => r.state.peers.get(dId)?.endpoints.includes("203.0.113.9:41641") === true,
        "D's endpoint in R's map",
      );
    } finally {
      await r.close();
    }
  }, 60_000);
});
