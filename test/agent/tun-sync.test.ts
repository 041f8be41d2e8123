// TUN mode's peer sync (server/agent/tun/tun-sync.ts) against an in-memory interface that
// applies `wg set` arguments the way wg does: the map's peers are added with their mesh
// addresses and bridge endpoints; a map that changes nothing sends no command; a rotated key
// is the old peer removed and the new one added; a peer that left is removed (and its bridge
// socket closed); WireGuard's roaming is left alone; status() names the path in use.

import { describe, expect, it } from "vitest";
import {
  allowedIpsOf,
  KEEPALIVE_SECONDS,
  PEERS_PER_COMMAND,
  planArgs,
  planSync,
  type SyncBridge,
  type SyncInterface,
  TunSync,
} from "../../server/agent/tun/tun-sync.ts";
import type { WgDump, WgDumpPeer } from "../../server/agent/tun/wg-dump.ts";
import { createLogger } from "../../server/log.ts";
import type { PeerView } from "../../worker/control/types.ts";

const key = (n: number) => Buffer.alloc(32, n).toString("base64");
const SELF = key(1);

function peer(id: number, k: string, extra: Partial<PeerView> = {}): PeerView {
  return {
    id,
    key: k,
    name: `node-${id}`,
    addresses: [`100.64.0.${id}`, `fd7a:115c:a1e0::${id.toString(16)}`],
    user: null,
    tags: ["tag:server"],
    hostname: `node-${id}`,
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: "default",
    ...extra,
  };
}

/** An interface model that applies `wg set` argument lists as wg(8) does. */
class FakeInterface implements SyncInterface {
  readonly peers = new Map<string, WgDumpPeer>();
  readonly commands: string[][] = [];

  async dump(): Promise<WgDump> {
    return {
      iface: { publicKey: SELF, listenPort: 51820, fwmark: 0 },
      peers: [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] })),
    };
  }

  async wgSet(args: readonly string[]): Promise<void> {
    this.commands.push([...args]);
    let current: WgDumpPeer | undefined;
    for (let i = 0; i < args.length; i++) {
      const word = args[i];
      const value = args[i + 1] ?? "";
      if (word === "peer") {
        current = this.peers.get(value) ?? {
          publicKey: value,
          hasPresharedKey: false,
          endpoint: null,
          allowedIps: [],
          latestHandshake: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepalive: null,
        };
        this.peers.set(value, current);
        i++;
      } else if (word === "remove") {
        if (current) this.peers.delete(current.publicKey);
      } else if (word === "allowed-ips") {
        if (current) current.allowedIps = value.split(",");
        i++;
      } else if (word === "endpoint") {
        if (current) current.endpoint = value;
        i++;
      } else if (word === "persistent-keepalive") {
        if (current) current.persistentKeepalive = Number(value);
        i++;
      } else throw new Error(`wg set: unexpected ${word}`);
    }
  }
}

class FakeBridge implements SyncBridge {
  readonly sockets = new Map<string, string>();
  private port = 40000;
  constructor(private readonly max = 100) {}
  async addPeer(k: string): Promise<string> {
    const known = this.sockets.get(k);
    if (known !== undefined) return known;
    if (this.sockets.size >= this.max) throw new Error(`relay bridge: more than ${this.max} peers`);
    const address = `127.0.0.1:${this.port++}`;
    this.sockets.set(k, address);
    return address;
  }
  removePeer(k: string): void {
    this.sockets.delete(k);
  }
  keyAt(address: string): string | undefined {
    return [...this.sockets].find(([, a]) => a === address)?.[0];
  }
}

function setup(maxBridged = 100) {
  const iface = new FakeInterface();
  const bridge = new FakeBridge(maxBridged);
  const sync = new TunSync({
    iface,
    bridge,
    selfKey: SELF,
    log: createLogger({ level: "silent" }),
    relayId: () => "default",
  });
  const self = peer(1, SELF);
  return { iface, bridge, sync, map: (peers: PeerView[]) => ({ self, peers }) };
}

describe("TunSync", () => {
  it("adds the map's peers (not itself, not a malformed key), then sends nothing for the same map", async () => {
    const { iface, bridge, sync, map } = setup();
    const peers = [peer(2, key(2)), peer(3, key(3)), peer(9, SELF), peer(4, "not-a-key")];
    const plan = await sync.apply(map(peers));
    expect(plan.remove).toEqual([]);
    expect([...iface.peers.keys()].sort()).toEqual([key(2), key(3)].sort());
    const two = iface.peers.get(key(2));
    expect(two?.allowedIps).toEqual(["100.64.0.2/32", "fd7a:115c:a1e0::2/128"]);
    expect(two?.endpoint).toBe(bridge.sockets.get(key(2)));
    expect(two?.persistentKeepalive).toBe(KEEPALIVE_SECONDS);
    expect(iface.commands).toHaveLength(1);

    // The same peers again (one of them now offline): nothing to change, no command.
    await sync.apply(map([peer(2, key(2), { online: false }), peer(3, key(3))]));
    expect(iface.commands).toHaveLength(1);
  });

  it("a rotated key is the old peer removed and the new one added; a peer gone is removed", async () => {
    const { iface, bridge, sync, map } = setup();
    await sync.apply(map([peer(2, key(2)), peer(3, key(3))]));
    const plan = await sync.apply(map([peer(2, key(22)), peer(3, key(3))]));
    expect(plan.remove).toEqual([key(2)]);
    expect(plan.set.map((p) => p.key)).toEqual([key(22)]);
    expect(iface.peers.has(key(2))).toBe(false);
    expect(iface.peers.get(key(22))?.allowedIps).toEqual([
      "100.64.0.2/32",
      "fd7a:115c:a1e0::2/128",
    ]);
    expect(bridge.sockets.has(key(2))).toBe(false);

    await sync.apply(map([peer(2, key(22))]));
    expect([...iface.peers.keys()]).toEqual([key(22)]);
    expect(bridge.sockets.has(key(3))).toBe(false);
    expect(sync.status().map((p) => p.key)).toEqual([key(22)]);
  });

  it("at the bridge's bound, leaves the extra peers out; a rotation still fits", async () => {
    const { iface, sync, map } = setup(2);
    await sync.apply(map([peer(2, key(2)), peer(3, key(3)), peer(4, key(4))]));
    expect([...iface.peers.keys()].sort()).toEqual([key(2), key(3)].sort());
    expect(sync.status()).toHaveLength(2);
    await sync.apply(map([peer(2, key(22)), peer(3, key(3))]));
    expect([...iface.peers.keys()].sort()).toEqual([key(22), key(3)].sort());
  });

  it("updates allowed IPs in place, and leaves an endpoint WireGuard roamed to alone", async () => {
    const { iface, sync, map } = setup();
    await sync.apply(map([peer(2, key(2))]));
    const roamed = iface.peers.get(key(2))!;
    roamed.endpoint = "198.51.100.7:5000";
    roamed.latestHandshake = 1_000;
    await sync.apply(map([peer(2, key(2), { addresses: ["100.64.0.12"] })]));
    const last = iface.commands.at(-1);
    expect(last).toEqual(["peer", key(2), "allowed-ips", "100.64.0.12/32"]);
    expect(iface.peers.get(key(2))?.endpoint).toBe("198.51.100.7:5000");
    expect(sync.status()[0]).toMatchObject({ path: "direct", endpoint: "198.51.100.7:5000" });
  });
});

describe("planning", () => {
  it("allowed IPs are canonical and deduplicated", () => {
    expect(allowedIpsOf({ addresses: ["fd7a:0:0::7", "100.64.0.7", "bad", "100.64.0.7"] })).toEqual(
      ["100.64.0.7/32", "fd7a::7/128"],
    );
  });

  it("splits a large change into commands of at most PEERS_PER_COMMAND peers", () => {
    const desired = Array.from({ length: 150 }, (_, i) => ({
      key: key(i + 2),
      allowedIps: [`100.64.1.${i}/32`],
      endpoint: `127.0.0.1:${1000 + i}`,
    }));
    const plan = planSync([], desired, new Map());
    const commands = planArgs(plan);
    expect(commands).toHaveLength(Math.ceil(150 / PEERS_PER_COMMAND));
    expect(commands.flat().filter((w) => w === "peer")).toHaveLength(150);
  });
});
