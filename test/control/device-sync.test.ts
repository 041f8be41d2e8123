// DeviceSync (worker/control/device-sync.ts): maps applied to real WireGuard devices over the
// in-memory network of the wireguard tests. A peer added is reachable, a peer removed is not,
// a peer that did not change keeps its session (same keypair, no new handshake), a rotated key
// replaces the device peer, and what cannot be applied is skipped with a reason.

import { afterEach, describe, expect, it } from "vitest";
import { DeviceSync, relayEndpointFor } from "../../worker/control/device-sync.ts";
import type { NetworkMap, PeerView } from "../../worker/control/types.ts";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { ipv4, settle } from "../wireguard/device-pair.ts";

interface Node {
  id: number;
  device: Device;
  address: string;
  at: string;
  received: string[];
  view: PeerView;
}

const devices: Device[] = [];
afterEach(async () => {
  for (const device of devices.splice(0)) await device.close();
});

const text = (s: string) => new TextEncoder().encode(s);

async function world() {
  const core = await loadCryptoCore();
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const random = seededBytes(0xd5c);
  const make = async (id: number, at: string): Promise<Node> => {
    const privateKey = random(32);
    privateKey[0]! &= 248;
    privateKey[31] = (privateKey[31]! & 127) | 64;
    const received: string[] = [];
    const device = await Device.create({
      privateKey,
      bind: network.bind(at),
      core,
      x25519: nobleX25519,
      clock,
      random,
      onPacket: (packet) => received.push(new TextDecoder().decode(packet.subarray(20))),
    });
    devices.push(device);
    const address = `100.64.0.${id}`;
    const view: PeerView = {
      id,
      key: keyToBase64(device.publicKey),
      name: `n${id}`,
      addresses: [address, `fd7a:115c:a1e0::${id}`],
      user: { id: 1, name: "u", email: "", signedInAt: null },
      tags: [],
      hostname: `n${id}`,
      os: "linux",
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: [],
      online: true,
      lastSeen: null,
      endpoints: [at],
      homeRelay: "",
    };
    return { id, device, address, at, received, view };
  };
  return { network, clock, make };
}

/** A map for `self` listing `peers` (only what DeviceSync reads matters here). */
function mapOf(self: Node, peers: PeerView[]): Pick<NetworkMap, "self" | "peers"> {
  return { self: self.view, peers };
}

/** The memory network's endpoint of a peer: its first listed endpoint. */
const memoryEndpoint = (peer: PeerView) => peer.endpoints[0];

function syncFor(node: Node): DeviceSync {
  return new DeviceSync(node.device, { endpointFor: memoryEndpoint });
}

describe("DeviceSync", () => {
  it("adds peers reachable both ways, with allowed IPs /32 and /128 and the endpoint", async () => {
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const result = await syncFor(a).apply(mapOf(a, [b.view]));
    await syncFor(b).apply(mapOf(b, [a.view]));
    expect(result).toEqual({
      added: [2],
      removed: [],
      replaced: [],
      updated: [],
      unchanged: 0,
      skipped: [],
    });
    expect(a.device.peerStats()).toMatchObject([
      { endpoint: "b:2", allowedIps: ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"] },
    ]);
    a.device.send(ipv4(a.address, b.address, text("hello b")));
    await settle();
    b.device.send(ipv4(b.address, a.address, text("hello a")));
    await settle();
    expect(b.received).toEqual(["hello b"]);
    expect(a.received).toEqual(["hello a"]);
  });

  it("leaves unchanged peers alone: same keypair, no new handshake, while others come and go", async () => {
    const { make, network } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const c = await make(3, "c:3");
    const sync = syncFor(a);
    await sync.apply(mapOf(a, [b.view]));
    await syncFor(b).apply(mapOf(b, [a.view]));
    await syncFor(c).apply(mapOf(c, [a.view]));
    a.device.send(ipv4(a.address, b.address, text("one")));
    await settle();
    expect(b.received).toEqual(["one"]);
    const peerB = a.device.peerByKey(b.device.publicKey)!;
    const keypair = peerB.keypairs.current;
    expect(keypair).toBeDefined();
    const handshake = a.device.peerStats()[0]!.lastHandshake;

    // Count the handshake initiations on the wire from here on (message type 1).
    const counted: number[] = [];
    const initiations = () => counted.filter((type) => type === 1).length;
    network.filter = (packet) => {
      counted.push(packet[0]!);
      return "deliver";
    };

    // c joins, b's name and online state change (not what the device holds), then c leaves.
    const added = await sync.apply(
      mapOf(a, [{ ...b.view, name: "renamed", online: false }, c.view]),
    );
    expect(added).toMatchObject({ added: [3], unchanged: 1, removed: [] });
    a.device.send(ipv4(a.address, c.address, text("to c")));
    a.device.send(ipv4(a.address, b.address, text("two")));
    await settle();
    const removed = await sync.apply(mapOf(a, [b.view]));
    expect(removed).toMatchObject({ removed: [3], unchanged: 1, added: [] });
    a.device.send(ipv4(a.address, b.address, text("three")));
    await settle();

    expect(c.received).toEqual(["to c"]);
    expect(b.received).toEqual(["one", "two", "three"]);
    expect(a.device.peerByKey(b.device.publicKey)).toBe(peerB);
    expect(peerB.keypairs.current).toBe(keypair);
    expect(a.device.peerStats().find((s) => s.endpoint === "b:2")!.lastHandshake).toBe(handshake);
    // The only initiation on the wire was a's to c.
    expect(initiations()).toBe(1);
  });

  it("a removed peer is unreachable, both ways", async () => {
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const sync = syncFor(a);
    await sync.apply(mapOf(a, [b.view]));
    await syncFor(b).apply(mapOf(b, [a.view]));
    a.device.send(ipv4(a.address, b.address, text("before")));
    await settle();
    expect(b.received).toEqual(["before"]);
    expect(await sync.apply(mapOf(a, []))).toMatchObject({ removed: [2] });
    expect(a.device.send(ipv4(a.address, b.address, text("after")))).toBe(false);
    expect(a.device.counters.get("noRoute")).toBe(1);
    // b still has a session to a, but a no longer knows it: its packets are dropped.
    b.device.send(ipv4(b.address, a.address, text("from b")));
    await settle();
    expect(a.received).toEqual([]);
    expect(a.device.counters.get("unknownReceiver")).toBe(1);
    expect(a.device.peerStats()).toEqual([]);
  });

  it("a rotated key replaces the device peer: the address reaches the new key only", async () => {
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const rotated = await make(2, "b2:5"); // node 2 again, with a new key, elsewhere
    const sync = syncFor(a);
    await sync.apply(mapOf(a, [b.view]));
    await syncFor(b).apply(mapOf(b, [a.view]));
    await syncFor(rotated).apply(mapOf(rotated, [a.view]));
    a.device.send(ipv4(a.address, b.address, text("old key")));
    await settle();
    const result = await sync.apply(mapOf(a, [rotated.view]));
    expect(result).toMatchObject({ replaced: [2], added: [], removed: [] });
    expect(a.device.peerByKey(b.device.publicKey)).toBeUndefined();
    a.device.send(ipv4(a.address, b.address, text("new key")));
    await settle();
    expect(b.received).toEqual(["old key"]);
    expect(rotated.received).toEqual(["new key"]);
  });

  it("updates a peer's addresses and endpoint in place, keeping its session", async () => {
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const sync = syncFor(a);
    await sync.apply(mapOf(a, [b.view]));
    await syncFor(b).apply(mapOf(b, [a.view]));
    a.device.send(ipv4(a.address, b.address, text("x")));
    await settle();
    const keypair = a.device.peerByKey(b.device.publicKey)!.keypairs.current;
    const moved = { ...b.view, addresses: ["100.64.0.20"], endpoints: ["b:2"] };
    expect(await sync.apply(mapOf(a, [moved]))).toMatchObject({ updated: [2] });
    expect(a.device.peerStats()[0]!.allowedIps).toEqual(["100.64.0.20/32"]);
    expect(a.device.peerByKey(b.device.publicKey)!.keypairs.current).toBe(keypair);
    expect(a.device.send(ipv4(a.address, "100.64.0.2", text("old address")))).toBe(false);
  });

  it("skips what it cannot apply, with reasons, and applies the rest", async () => {
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const result = await syncFor(a).apply(
      mapOf(a, [
        { ...b.view, id: 7, key: a.view.key },
        b.view,
        { ...b.view, id: 8 },
        { ...b.view, id: 9, key: "not a key" },
        {
          ...b.view,
          id: 10,
          key: keyToBase64(new Uint8Array(32).fill(3)),
          addresses: ["100.64.0.300"],
        },
      ]),
    );
    expect(result.added).toEqual([2]);
    expect(result.skipped.map((s) => s.id)).toEqual([7, 8, 9, 10]);
    expect(result.skipped[0]!.reason).toBe("this node's own key");
    expect(result.skipped[1]!.reason).toBe("a key another peer has");
    expect(result.skipped[2]!.reason).toMatch(/^peer 9 key/);
    expect(result.skipped[3]!.reason).toMatch(/^mesh address '100\.64\.0\.300'/);
  });

  it("applies maps in call order, and the default endpoint is the peer's key on the relay", async () => {
    const calls: string[] = [];
    const sync = new DeviceSync({
      async addPeer(config) {
        await new Promise((resolve) => setImmediate(resolve));
        calls.push(`add ${String(config.endpoint)}`);
      },
      removePeer() {
        calls.push("remove");
        return true;
      },
    });
    const { make } = await world();
    const a = await make(1, "a:1");
    const b = await make(2, "b:2");
    const first = sync.apply(mapOf(a, [b.view]));
    const second = sync.apply(mapOf(a, []));
    await Promise.all([first, second]);
    expect(calls).toEqual([`add ${relayEndpointFor(b.view)}`, "remove"]);
    expect(relayEndpointFor(b.view)).toBe(`peer:${b.view.key}`);
  });
});
