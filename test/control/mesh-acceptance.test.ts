// Issue 13's node-level acceptance test, end to end on the real pieces: the control server's map
// side and HTTP API (policy and keys set through the API with API keys, as a user would), a
// relay that trusts the control server's tokens, and MeshNodes (the shared map client, WireGuard
// device, packet filter, IP interface) in this process. Two ephemeral nodes of two users and one
// tagged node; every scenario builds its own mesh on loopback. Waits are for events (maps,
// counters), with generous hang guards and no timing assertion; grace periods and expiries move
// with the shared manual clock.

import { afterEach, describe, expect, it } from "vitest";
import { EPHEMERAL_GRACE_MS } from "../../server/control/hub.ts";
import type { MeshNode } from "../../server/mesh-node.ts";
import type { ControlRefusal } from "../../worker/control/client.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  ControlGate,
  echoServer,
  type Mesh,
  peerNames,
  startMesh,
  tcpExchange,
} from "./mesh-harness.ts";

let mesh: Mesh | undefined;
afterEach(async () => {
  const m = mesh;
  mesh = undefined;
  await m?.close();
});

async function newMesh(): Promise<Mesh> {
  mesh = await startMesh();
  return mesh;
}

/** Members reach tag:server on 22 and each other on everything; tag:server reaches nobody. */
const MEMBERS_AND_SSH = `{
  // alice (the owner) puts tag:server on nodes.
  "tagOwners": { "tag:server": ["alice@example.com"] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:member:*"] },
  ],
  "tests": [
    { "src": "bob@example.com", "accept": ["tag:server:22", "carol@example.com:80"], "deny": ["tag:server:80"] },
  ],
}`;

/** Only bob keeps tag:server:22, and only bob reaches carol (not the other way round). */
const BOB_ONLY = `{
  "tagOwners": { "tag:server": ["alice@example.com"] },
  "acls": [
    { "action": "accept", "src": ["bob@example.com"], "dst": ["tag:server:22"] },
    { "action": "accept", "src": ["bob@example.com"], "dst": ["carol@example.com:*"] },
  ],
  "tests": [
    { "src": "carol@example.com", "deny": ["tag:server:22", "bob@example.com:22"] },
  ],
}`;

interface Three {
  bob: MeshNode;
  carol: MeshNode;
  web: MeshNode;
  /** IPv4 mesh addresses. */
  bobV4: string;
  carolV4: string;
  webV4: string;
}

/**
 * The policy above, then bob's and carol's ephemeral nodes (auth keys they made themselves)
 * and alice's tag:server node; resolves once every map lists the other two and every device
 * holds them.
 */
async function threeNodes(h: Mesh, gateBob?: ControlGate): Promise<Three> {
  await h.setPolicy(MEMBERS_AND_SSH);
  const bobKey = await h.authKey("bob", { ephemeral: true });
  const carolKey = await h.authKey("carol", { ephemeral: true });
  const webKey = await h.authKey("alice", { tags: ["tag:server"] });
  const web = await h.join("web", webKey.key);
  const bob = await h.join(
    "bob-laptop",
    bobKey.key,
    gateBob === undefined ? {} : { controlConnect: gateBob.connect },
  );
  const carol = await h.join("carol-laptop", carolKey.key);
  await waitUntil(() => peerNames(bob).join() === "carol-laptop,web", "bob's map: carol, web");
  await waitUntil(() => peerNames(carol).join() === "bob-laptop,web", "carol's map: bob, web");
  await waitUntil(
    () => peerNames(web).join() === "bob-laptop,carol-laptop",
    "web's map: bob, carol",
  );
  for (const node of [bob, carol, web]) {
    await waitUntil(() => node.device?.peerStats().length === 2, "two peers on every device");
  }
  const v4 = (node: MeshNode) => node.state.self.addresses.find((a) => a.includes("."))!;
  return { bob, carol, web, bobV4: v4(bob), carolV4: v4(carol), webV4: v4(web) };
}

describe("issue 13 acceptance: nodes on the shared map client, through a real relay", () => {
  it("two ephemeral user nodes and a tag:server node see whom the policy lets them, resolve names, and talk where allowed", async () => {
    const h = await newMesh();
    const { bob, carol, web, bobV4, carolV4, webV4 } = await threeNodes(h);

    // Who is who, as each map tells it.
    const carolAtBob = bob.state.nodeByName("carol-laptop")!;
    expect(carolAtBob.user?.id).toBe(h.users.carol.id);
    expect(carolAtBob.ephemeral).toBe(true);
    expect(carolAtBob.tags).toEqual([]);
    const webAtBob = bob.state.nodeByName("web")!;
    expect(webAtBob.user).toBeNull();
    expect(webAtBob.tags).toEqual(["tag:server"]);
    expect(webAtBob.ephemeral).toBe(false);
    expect(webAtBob.keyExpiry).toBeNull();
    expect(bob.state.self.keyExpiry).not.toBeNull();

    // Names resolve inside every node's engine, bare and under the mesh domain, any case.
    expect(bob.resolve("web")).toEqual(web.state.self.addresses);
    expect(carol.resolve(`WEB.${carol.state.domain}`)).toEqual(web.state.self.addresses);
    expect(web.resolve("bob-laptop")).toEqual(bob.state.self.addresses);
    expect(bob.resolve("nosuchnode")).toBeUndefined();

    // Members reach the server's port 22, through the relay, with the relay's tokens.
    const ssh = echoServer(web, 22);
    const http = echoServer(web, 80);
    expect(await tcpExchange(bob, webV4, 22, "hello from bob")).toBe("HELLO FROM BOB");
    expect(await tcpExchange(carol, webV4, 22, "hello from carol")).toBe("HELLO FROM CAROL");
    expect(ssh.accepted).toBe(2);
    // ...and each other, on anything.
    expect(await bob.net.ping(carolV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(await carol.net.ping(bobV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);

    // Port 80 of the server is not in the policy: bob's SYNs are dropped at web, counted.
    const webDrops = web.filter.counters.dropped.noRule;
    const refused = tcpExchange(bob, webV4, 80, "GET /", 1500);
    await waitUntil(() => web.filter.counters.dropped.noRule > webDrops, "web dropping bob's SYN");
    await expect(refused).rejects.toThrow("connection timed out");
    expect(http.accepted).toBe(0);
    // The tagged node reaches nobody: its ping is dropped at bob, and no reply comes.
    const bobDrops = bob.filter.counters.dropped.noRule;
    const unanswered = web.net.ping(bobV4, { timeoutMs: 1500 });
    await waitUntil(() => bob.filter.counters.dropped.noRule > bobDrops, "bob dropping web's ping");
    await expect(unanswered).rejects.toThrow(`ping ${bobV4}: no reply within 1500 ms`);
  });

  it("a policy change (PUT through the API) removes a peer from a map; its packets are then dropped at the destination, while what is still allowed works", async () => {
    const h = await newMesh();
    const { bob, carol, web, bobV4, carolV4, webV4 } = await threeNodes(h);
    echoServer(web, 22);
    // carol has a WireGuard session with web.
    expect(await tcpExchange(carol, webV4, 22, "before")).toBe("BEFORE");
    const carolId = h.idOf(carol);
    const webId = h.idOf(web);

    // carol stops following the control server, as a lagging or hostile node would: her
    // device keeps web and bob as peers, with their sessions and her old filter. What the
    // destinations enforce must not depend on the sender applying its map.
    carol.control!.close();
    expect(carol.control!.state).toBe("closed");

    await h.setPolicy(BOB_ONLY);
    // web's map loses carol (neither may reach the other any more), and so does its device.
    await waitUntil(() => web.state.peerById(carolId) === undefined, "carol gone from web's map");
    expect(peerNames(web)).toEqual(["bob-laptop"]);
    await waitUntil(() => web.device!.peerStats().length === 1, "carol gone from web's device");
    expect(web.device!.peerStats().map((p) => keyToBase64(p.publicKey))).toEqual([bob.key]);
    // bob still sees both: he reaches web:22 and carol.
    expect(peerNames(bob)).toEqual(["carol-laptop", "web"]);
    await waitUntil(
      () =>
        !bob.state.filter.some(
          (r) => r.src.any === true || r.src.users?.includes(h.users.carol.id),
        ),
      "bob's filter without carol",
    );
    expect(web.state.peerById(carolId)).toBeUndefined();
    expect(h.control.mapper.node(webId)).toBeDefined();

    // carol's packets to web: web no longer knows her session; dropped, counted, unanswered.
    const unknown = web.device!.counters.get("unknownReceiver") ?? 0;
    const lostAtWeb = carol.net.ping(webV4, { timeoutMs: 1500 });
    await waitUntil(
      () => (web.device!.counters.get("unknownReceiver") ?? 0) > unknown,
      "web dropping carol's packet",
    );
    await expect(lostAtWeb).rejects.toThrow(`ping ${webV4}: no reply within 1500 ms`);
    // carol's packets to bob: still a peer (bob reaches her), but no rule lets her in.
    const noRule = bob.filter.counters.dropped.noRule;
    const lostAtBob = carol.net.ping(bobV4, { timeoutMs: 1500 });
    await waitUntil(() => bob.filter.counters.dropped.noRule > noRule, "bob dropping carol's ping");
    await expect(lostAtBob).rejects.toThrow(`ping ${bobV4}: no reply within 1500 ms`);

    // What is still allowed works: bob to web:22, bob to carol (her answers are let in as
    // replies to what bob opened).
    expect(await tcpExchange(bob, webV4, 22, "still here")).toBe("STILL HERE");
    const replies = bob.filter.counters.acceptedAsReply;
    expect(await bob.net.ping(carolV4, { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    expect(bob.filter.counters.acceptedAsReply).toBeGreaterThan(replies);
  });

  it("a disconnected ephemeral node disappears from the others' maps after the grace period; a tagged one stays", async () => {
    const h = await newMesh();
    const { bob, carol, web } = await threeNodes(h);
    const carolId = h.idOf(carol);
    const webId = h.idOf(web);

    await carol.close();
    await waitUntil(() => bob.state.peerById(carolId)?.online === false, "carol offline at bob");
    expect(h.control.hub.removalPending(carolId)).toBe(true);
    // Just before the grace period ends she is still there, offline.
    h.clock.advance(EPHEMERAL_GRACE_MS - 1);
    expect(h.control.mapper.node(carolId)).toBeDefined();
    h.clock.advance(1);
    await waitUntil(() => bob.state.peerById(carolId) === undefined, "carol gone from bob's map");
    await waitUntil(() => web.state.peerById(carolId) === undefined, "carol gone from web's map");
    await waitUntil(() => bob.device!.peerStats().length === 1, "carol gone from bob's device");
    const listed = await h.api("alice", "GET", "/api/v1/nodes");
    expect(listed.status).toBe(200);
    expect(listed.json.nodes.map((n: { name: string }) => n.name).sort()).toEqual([
      "bob-laptop",
      "web",
    ]);

    // The tagged node is not ephemeral: offline, it stays in the map and in the store.
    await web.close();
    await waitUntil(() => bob.state.peerById(webId)?.online === false, "web offline at bob");
    expect(h.control.hub.removalPending(webId)).toBe(false);
    h.clock.advance(EPHEMERAL_GRACE_MS);
    expect(h.control.mapper.node(webId)).toBeDefined();
    expect(bob.state.nodeByName("web")?.online).toBe(false);
    const after = await h.api("alice", "GET", "/api/v1/nodes");
    expect(after.json.nodes.map((n: { name: string }) => n.name).sort()).toEqual([
      "bob-laptop",
      "web",
    ]);
  });

  it("a node that reconnects with its last sequence number gets a delta with what it missed, not a full map", async () => {
    const h = await newMesh();
    const gate = new ControlGate();
    const { bob, carol, web, webV4 } = await threeNodes(h, gate);
    echoServer(web, 22);
    const bobId = h.idOf(bob);
    const webId = h.idOf(web);
    const stats = bob.control!.stats;
    expect(stats.fullMaps).toBe(1);
    const session = bob.state.session;
    const seq = bob.state.seq;

    // bob's stream is cut (1001, as a proxy going away); his reconnects are held until web is
    // renamed.
    gate.hold();
    gate.cut();
    await waitUntil(() => !h.control.hub.isAttached(bobId), "bob's stream gone at the server");
    const renamed = await h.api("alice", "PATCH", `/api/v1/nodes/${webId}`, { name: "www" });
    expect(renamed.status).toBe(200);
    await waitUntil(() => carol.resolve("www") !== undefined, "carol hearing of the rename");
    expect(bob.resolve("www")).toBeUndefined();

    gate.release();
    await waitUntil(() => stats.resumedWithDelta === 1, "bob resumed");
    await waitUntil(() => bob.control!.state === "ready", "bob streaming again");
    expect(stats.resumeRequests).toBe(1);
    expect(stats.fullMaps).toBe(1);
    expect(gate.attempts).toBeGreaterThanOrEqual(2);
    // Same session, numbers going on from where bob was; the rename came in the resume delta.
    expect(bob.state.session).toBe(session);
    expect(bob.state.seq).toBeGreaterThan(seq);
    expect(bob.resolve("www")).toEqual(web.state.self.addresses);
    expect(bob.resolve("web")).toBeUndefined();
    // The device was not disturbed: web is the same peer, and it still answers.
    expect(await tcpExchange(bob, webV4, 22, "resumed")).toBe("RESUMED");
  });

  it("a revoked auth key and an expired auth key are refused with their reasons", async () => {
    const h = await newMesh();
    const revoked = await h.authKey("bob", { reusable: true });
    const gone = await h.api("bob", "DELETE", `/api/v1/authkeys/${revoked.id}`);
    expect(gone).toEqual({ status: 200, json: { revoked: revoked.id } });
    const refusals: ControlRefusal[] = [];
    const first = await h.node("revoked", revoked.key, { onRefused: (r) => refusals.push(r) });
    await expect(first.start()).rejects.toThrow(
      `control server refused this node: authkey_revoked: auth key ${revoked.prefix}… was revoked`,
    );
    expect(refusals).toEqual([
      {
        code: "authkey_revoked",
        message: `auth key ${revoked.prefix}… was revoked`,
        closeCode: 0,
      },
    ]);
    expect(first.control!.state).toBe("refused");

    const shortLived = await h.authKey("bob", { expiry: "1h" });
    h.clock.advance(3_600_000);
    const second = await h.node("late", shortLived.key);
    await expect(second.start()).rejects.toThrow(
      `control server refused this node: authkey_expired: auth key ${shortLived.prefix}… has expired`,
    );
    expect(second.control!.refusal?.code).toBe("authkey_expired");

    // Neither registered anything.
    const nodes = await h.api("alice", "GET", "/api/v1/nodes");
    expect(nodes.json.nodes).toEqual([]);
  });

  it("an expired node key ends the node's stream with its reason, and the key is refused at its next login", async () => {
    const h = await newMesh();
    const privateKey = generatePrivateKey();
    const key = await h.authKey("bob", {});
    const refusals: ControlRefusal[] = [];
    const node = await h.join("bob-desktop", key.key, {
      privateKey,
      onRefused: (r) => refusals.push(r),
    });
    const id = h.idOf(node);

    const expired = await h.api("bob", "POST", `/api/v1/nodes/${id}/expire`);
    expect(expired.status).toBe(200);
    const at = new Date(expired.json.node.keyExpiry).toISOString();
    const reason = `this node's key expired at ${at}: rotate it or register again`;
    // The expiry falls due as time moves on.
    h.clock.advance(1);
    await waitUntil(() => node.control!.state === "refused", "the node refused");
    expect(refusals).toEqual([{ code: "key_expired", message: reason, closeCode: 0 }]);

    // The same key logging in again (a restart of the node) is refused with the same reason.
    const again = await h.node("bob-desktop", key.key, { privateKey });
    await expect(again.start()).rejects.toThrow(
      `control server refused this node: key_expired: ${reason}`,
    );
  });
});
