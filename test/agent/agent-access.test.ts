// MeshAccess (server/agent/mesh-access.ts) over a node whose map is set by hand and whose IP
// interface is wired back to back with a peer's (no WireGuard, no relay): names resolve through
// the map (IPv4 first), addresses must be a peer's, self and unknown names are refused with the
// right DialFailure; a dial is a Node stream carrying bytes both ways with half-close; a closed
// port is "refused" at once, a silent peer "timeout"; the identity, host keys, known_hosts and
// status answers come from the map as it stands at the call.

import { afterEach, describe, expect, it } from "vitest";
import {
  type AccessibleNode,
  canonicalAddress,
  MeshAccess,
} from "../../server/agent/mesh-access.ts";
import { DialError } from "../../server/agent/types.ts";
import { MapState } from "../../worker/control/map-state.ts";
import type { NetInterface as NetInterfaceType } from "../../worker/net/interface.ts";
import { NetInterface } from "../../worker/net/interface.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { networkMap, peer } from "../control/codec-fixtures.ts";

const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** This node (node-1) and peer node-2's interfaces, wired together unless `drop`. */
function wiredPair(): { ours: NetInterfaceType; theirs: NetInterfaceType; drop: { on: boolean } } {
  const map = networkMap(3);
  const drop = { on: false };
  let theirs: NetInterface | undefined;
  const ours = new NetInterface({
    addresses: map.self.addresses,
    output: (packet) => {
      if (!drop.on) queueMicrotask(() => theirs?.receive(packet.slice()));
    },
    clock: systemClock,
    randomBytes: random,
  });
  theirs = new NetInterface({
    addresses: map.peers[0]!.addresses,
    output: (packet) => {
      if (!drop.on) queueMicrotask(() => ours.receive(packet.slice()));
    },
    clock: systemClock,
    randomBytes: random,
  });
  return { ours, theirs, drop };
}

function accessFor(net: NetInterfaceType | undefined, state = new MapState()) {
  if (!state.ready) state.apply({ type: "map", session: "s", seq: 1, map: networkMap(3) });
  const node: AccessibleNode = {
    state,
    get net(): NetInterfaceType {
      if (net === undefined) throw new Error("no interface");
      return net;
    },
    control: undefined,
    device: undefined,
    relay: undefined,
    relayBind: undefined,
  };
  return new MeshAccess(node, {
    mode: "userspace",
    serverUrl: "https://corridor.example.com",
    approvalUrl: () => null,
  });
}

async function failure(promise: Promise<unknown>): Promise<DialError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DialError);
    return error as DialError;
  }
  throw new Error("expected a DialError");
}

const listeners: { close(): void }[] = [];
afterEach(() => {
  for (const l of listeners.splice(0)) l.close();
});

describe("MeshAccess", () => {
  it("resolves names through the map, IPv4 first; refuses self, unknown names, non-peers", async () => {
    const access = accessFor(undefined);
    expect(access.addressOf("node-2")).toBe("100.64.0.2");
    expect(access.addressOf("NODE-3.mesh.example.")).toBe("100.64.0.3");
    expect(access.addressOf("fd7a:115c:a1e0:0::2")).toBe("fd7a:115c:a1e0::2");
    expect((await failure(access.dial("nobody", 22))).reason).toBe("unknown-host");
    expect((await failure(access.dial("node-1", 22))).message).toMatch(/is this node itself/);
    expect((await failure(access.dial("100.64.9.9", 22))).reason).toBe("unreachable");
    expect((await failure(access.dial("node-2", 0))).reason).toBe("unreachable");
    const empty = new MeshAccess(
      {
        state: new MapState(),
        net: undefined as never,
        control: undefined,
        device: undefined,
        relay: undefined,
        relayBind: undefined,
      },
      { mode: "userspace", serverUrl: "x", approvalUrl: () => "https://c/approve/1" },
    );
    expect((await failure(empty.dial("node-2", 22))).message).toMatch(/no map yet/);
    expect(empty.status()).toMatchObject({
      self: null,
      control: { state: "none", approvalUrl: "https://c/approve/1" },
      peers: [],
    });
  });

  it("dials: bytes both ways and half-close; a closed port is refused, a silent peer times out", async () => {
    const { ours, theirs, drop } = wiredPair();
    const access = accessFor(ours);
    const listener = theirs.tcp.listen("any", 7);
    listeners.push(listener);
    void (async () => {
      const conn = await listener.accept();
      // An echo that upper-cases, then closes when the client's half ends.
      await conn.readable
        .pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform: (chunk, c) =>
              c.enqueue(new TextEncoder().encode(new TextDecoder().decode(chunk).toUpperCase())),
          }),
        )
        .pipeTo(conn.writable);
    })();
    const stream = await access.dial("node-2", 7, 5000);
    const received: Buffer[] = [];
    stream.on("data", (d: Buffer) => received.push(d));
    const ended = new Promise((resolve) => stream.once("end", resolve));
    stream.end("hello mesh");
    await ended;
    expect(Buffer.concat(received).toString()).toBe("HELLO MESH");

    const refused = await failure(access.dial("node-2", 8, 5000));
    expect(refused.reason).toBe("refused");
    expect(refused.message).toMatch(/^node-2 \(100\.64\.0\.2\) port 8: connection refused/);

    drop.on = true;
    const silent = await failure(access.dial("node-2", 7, 300));
    expect(silent.reason).toBe("timeout");
    expect(silent.message).toMatch(/no answer within 300 ms/);
  });

  it("identity, host keys, known_hosts and status come from the map at each call", () => {
    const state = new MapState();
    state.apply({ type: "map", session: "s", seq: 1, map: networkMap(3) });
    const access = accessFor(undefined, state);
    expect(access.peerByAddress("100.64.0.3")?.name).toBe("node-3");
    expect(access.peerByAddress("fd7a:115c:a1e0:0:0:0:0:3")?.name).toBe("node-3");
    expect(access.peerByAddress("100.64.0.1")).toBeUndefined(); // this node is no peer
    expect(access.peerByAddress("not an address")).toBeUndefined();
    expect(access.sshRules()).toHaveLength(2);
    expect(access.hostKeys("node-3")).toEqual({
      name: "node-3",
      names: ["node-3", "node-3.mesh.example", "100.64.0.3", "fd7a:115c:a1e0::3"],
      keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI3 root@host"],
    });
    expect(access.hostKeys("node-2")?.keys).toEqual([]);
    expect(access.hostKeys("nobody")).toBeUndefined();
    expect(access.knownHosts()).toEqual([
      "node-3,node-3.mesh.example,100.64.0.3,fd7a:115c:a1e0::3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI3 root@host",
    ]);
    // A delta renames node-3 and publishes a key for node-2: the next answers follow.
    state.apply({
      type: "delta",
      seq: 2,
      peersUpserted: [peer(3, { name: "web" }), peer(2, { sshHostKeys: ["ssh-ed25519 AAAAnew"] })],
    });
    expect(access.hostKeys("web")?.names[0]).toBe("web");
    expect(access.knownHosts()).toHaveLength(2);
    const status = access.status();
    expect(status.self).toEqual({
      name: "node-1",
      key: networkMap(1).self.key,
      addresses: ["100.64.0.1", "fd7a:115c:a1e0::1"],
      domain: "mesh.example",
    });
    expect(status.peers.map((p) => [p.name, p.path])).toEqual([
      ["node-2", "none"],
      ["node-4", "none"],
      ["web", "none"],
    ]);
  });

  it("canonicalAddress normalizes and drops the prefix; garbage is null", () => {
    expect(canonicalAddress("100.64.0.7/32")).toBe("100.64.0.7");
    expect(canonicalAddress("FD7A:0:0::7")).toBe("fd7a::7");
    expect(canonicalAddress("web-01")).toBeNull();
    expect(canonicalAddress("")).toBeNull();
    expect(parseIp(canonicalAddress("::ffff:1.2.3.4")!)).toHaveLength(16);
  });
});
