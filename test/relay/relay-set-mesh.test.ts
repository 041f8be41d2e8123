// Mesh nodes (server/mesh-node.ts, the plane on RelaySet) on two real relays, maps fed by hand:
// nodes whose home relays differ ping each other and hold a TCP connection; when one node's
// home relay dies the node moves to the other relay, and the same TCP
// connection carries on once the peer's map names the new home (a pause, not a drop).

import { afterEach, describe, expect, it } from "vitest";
import { MeshNode } from "../../server/mesh-node.ts";
import type { FilterRule, NetworkMap, PeerView, RelayInfo } from "../../worker/control/types.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { peerView, testRelay } from "./relay-set-harness.ts";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const random = seededBytes(0x5e75e7);
const relay = (id: string) => testRelay(id, cleanup, random);

function view(n: MeshNode, id: number, homeRelay: string): PeerView {
  return peerView(n.key, homeRelay, {
    id,
    name: `node-${id}`,
    addresses: [`100.64.0.${id}`],
    user: { id: 10, name: "user", email: "", signedInAt: null },
    hostname: `node-${id}`,
  });
}

const RULES: FilterRule[] = [
  {
    src: { users: [10] },
    ports: [
      { proto: "icmp", first: 0, last: 65535 },
      { proto: "tcp", first: 22, last: 22 },
    ],
  },
];

function mapFor(relays: RelayInfo[], self: PeerView, peers: PeerView[]): NetworkMap {
  return {
    self,
    peers,
    filter: RULES,
    ssh: [],
    relays,
    token: { token: "", expiresAt: Date.now() + 3600_000 },
    domain: "mesh.test",
  };
}

describe("mesh nodes on two relays", () => {
  it("different homes talk; a dead home moves its node and a TCP connection carries on", async () => {
    const [r1, r2] = [await relay("r1"), await relay("r2")];
    const relays = [r1.info, r2.info];
    const make = async () => {
      const n = await MeshNode.create({
        relayBackoffBaseMs: 20,
        relayBackoffMaxMs: 200,
        // Equal round trips: only the failover moves a home here (a busy machine's first
        // PING could otherwise look 10 ms slower and move it by latency).
        relays: { failoverMs: 300, probe: async () => 5 },
      });
      cleanup.push(() => n.close());
      return n;
    };
    const [a, b] = [await make(), await make()];
    let va = view(a, 1, "r1");
    const vb = view(b, 2, "r2");
    await a.applyMap(mapFor(relays, va, [vb]));
    await b.applyMap(mapFor(relays, vb, [va]));
    expect(a.relay?.id).toBe("r1");
    expect(b.relay?.id).toBe("r2");
    expect(await a.net.ping("100.64.0.2", { timeoutMs: 10_000 })).toBeGreaterThanOrEqual(0);
    // a reached b on b's home: a holds r1 (home) and r2 (b's), b the other way round.
    expect([...(a.relays?.connections.keys() ?? [])].sort()).toEqual(["r1", "r2"]);
    expect([...(b.relays?.connections.keys() ?? [])].sort()).toEqual(["r1", "r2"]);

    // b echoes upper-cased on port 22; a keeps one connection open across the move.
    const listener = b.net.tcp.listen("any", 22);
    void (async () => {
      const conn = await listener.accept();
      const writer = conn.writable.getWriter();
      const reader = conn.readable.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        await writer.write(
          new TextEncoder().encode(new TextDecoder().decode(r.value).toUpperCase()),
        );
      }
      await writer.close();
    })().catch(() => {});
    const conn = await a.net.tcp.connect(
      a.net.sourceFor(parseIp("100.64.0.2")),
      parseIp("100.64.0.2"),
      22,
      { timeoutMs: 10_000 },
    );
    const writer = conn.writable.getWriter();
    const reader = conn.readable.getReader();
    const exchange = async (text: string) => {
      await writer.write(new TextEncoder().encode(text));
      let got = "";
      while (got.length < text.length) {
        const r = await reader.read();
        if (r.done) break;
        got += new TextDecoder().decode(r.value);
      }
      return got;
    };
    expect(await exchange("before")).toBe("BEFORE");

    await r1.server.close();
    await waitUntil(() => a.relay?.id === "r2", "a's home moved to r2");
    // The control server would tell b a's new home (a reports it through onRelay): b's map.
    va = view(a, 1, "r2");
    await b.applyMap(mapFor(relays, vb, [va]));
    await a.applyMap(mapFor(relays, va, [vb]));
    expect(await exchange("after the move")).toBe("AFTER THE MOVE");
    expect(a.relayBind?.state).toBe("ready");
    expect([...(a.relays?.connections.keys() ?? [])]).toEqual(["r2"]);
    await writer.close();
  });
});
