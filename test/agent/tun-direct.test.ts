// TUN mode's direct paths (docs/agent-tun.md, "Paths"): the interface sends every peer's
// packets to that peer's bridge socket, and the agent sends them on through a PathBind (direct
// UDP when a probed path answers, else the relay), reporting its UDP endpoints to the control
// server like a userspace node. A TunNode (wireguard-go in a namespace) and a userspace
// MeshNode with direct paths, both with UDP sockets on this host's loopback, end on the direct
// path both ways (status says direct, traffic flows); with the TunNode's UDP blocked (a Bind
// wrapper that drops everything) both fall back to the relay and traffic still flows; unblocked
// they go direct again, and blocked by nftables (a table of the test's own dropping the
// socket's port on this host's output hook, deleted afterwards) they fall back again.

import { afterAll, beforeAll, expect, it } from "vitest";
import { runCommand } from "../../server/agent/tun/exec.ts";
import { TunAccess } from "../../server/agent/tun/tun-access.ts";
import { TunNode } from "../../server/agent/tun/tun-node.ts";
import { createLogger } from "../../server/log.ts";
import type { MeshNode } from "../../server/mesh-node.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { type Mesh, startMesh } from "../control/mesh-harness.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { BlockableBind } from "./hand-maps.ts";
import { createTunNetns, type TunNetns } from "./tun-netns.ts";

const need = prereq(...wgHostPrereq().missing.map((what) => check(what, false)));

describeWithPrereq(need, "TUN mode's direct paths (PathBind behind the bridge)", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const logs: string[] = [];
  let mesh: Mesh;
  let ns: TunNetns;
  let tun: TunNode;
  let peer: MeshNode;
  let udp: BlockableBind | undefined;
  let access: TunAccess;
  const explain = () => `agent log:\n${logs.slice(-30).join("\n")}`;
  const pathOf = (key: string) => tun.peerStatus().find((p) => p.key === key);

  beforeAll(async () => {
    mesh = await startMesh();
    cleanups.push(() => mesh.close());
    ns = await createTunNetns();
    cleanups.push(() => ns.close());
    const authKey = (await mesh.authKey("alice", { reusable: true })).key;
    tun = await TunNode.start({
      iface: ns.iface,
      privateKey: generatePrivateKey(),
      controlUrl: mesh.controlUrl,
      authKey,
      hostname: "tundirect",
      os: "linux",
      log: createLogger({ sink: (line) => logs.push(line), level: "debug" }),
      implementation: "wireguard-go",
      netns: ns.namespace,
      bridgeHost: ns.ourAddress,
      interfaceHost: ns.nsAddress,
      relayBackoffBaseMs: 20,
      relayBackoffMaxMs: 200,
      tickMs: 200,
      directOptions: {
        host: "127.0.0.1",
        loopback: true,
        wrap: (inner) => {
          udp = new BlockableBind(inner);
          return udp;
        },
      },
    });
    cleanups.push(() => tun.close());
    peer = await mesh.join("peer", authKey, { direct: { host: "127.0.0.1", loopback: true } });
    cleanups.push(() => peer.close());
    access = new TunAccess(tun, { serverUrl: "http://control.test", approvalUrl: () => null });
  }, 60_000);

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.warn(`cleanup: ${(error as Error).message}`);
      }
    }
  });

  it("reports its UDP endpoints to the control server", async () => {
    await waitUntil(() => tun.endpoints.length > 0, `the TUN node's endpoints; ${explain()}`);
    await waitUntil(
      () => (peer.state.peerById(mesh.idOf(tun as unknown as MeshNode))?.endpoints.length ?? 0) > 0,
      "the TUN node's endpoints in the peer's map",
    );
    expect(tun.endpoints.some((e) => e.startsWith("127.0.0.1:"))).toBe(true);
    // `corridor status` shows them too (the local socket's status is TunAccess's).
    expect(access.status().endpoints).toEqual([...tun.endpoints]);
  }, 30_000);

  it("both ends on the direct path: status says direct, traffic flows both ways", async () => {
    const v4 = tun.state.self.addresses[0] ?? "";
    expect(await peer.net.ping(v4, { timeoutMs: 15_000 })).toBeGreaterThanOrEqual(0);
    await waitUntil(
      () => pathOf(peer.key)?.path === "direct",
      `the TUN node's path to the peer is direct; ${explain()}`,
      { everyMs: 100, poll: () => tun.refresh() },
    );
    expect(pathOf(peer.key)?.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    await waitUntil(
      () => peer.peerStatus().find((p) => p.key === tun.key)?.path === "direct",
      "the peer's path to the TUN node is direct",
    );
    expect(await access.ping("peer", 15_000)).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it("with the TUN node's UDP blocked, both fall back to the relay and traffic still flows", async () => {
    expect(udp).toBeDefined();
    udp!.blocked = true;
    await waitUntil(
      () => pathOf(peer.key)?.path === "relay",
      `the TUN node falls back to the relay; ${explain()}`,
      { everyMs: 200, poll: () => tun.refresh(), hangAfterMs: 45_000 },
    );
    await waitUntil(
      () => peer.peerStatus().find((p) => p.key === tun.key)?.path === "relay",
      "the peer falls back to the relay",
      { hangAfterMs: 45_000 },
    );
    expect(await access.ping("peer", 15_000)).toBeGreaterThanOrEqual(0);
    const v4 = tun.state.self.addresses[0] ?? "";
    expect(await peer.net.ping(v4, { timeoutMs: 15_000 })).toBeGreaterThanOrEqual(0);
    expect(udp!.dropped).toBeGreaterThan(0);
  }, 120_000);

  it("unblocked it goes direct again; blocked by nftables it falls back to the relay", async () => {
    udp!.blocked = false;
    await waitUntil(() => pathOf(peer.key)?.path === "direct", `direct again; ${explain()}`, {
      everyMs: 200,
      poll: () => tun.refresh(),
      hangAfterMs: 45_000,
    });
    const port = /^127\.0\.0\.1:(\d+)$/.exec(
      tun.endpoints.find((e) => e.startsWith("127.0.0.1:")) ?? "",
    )?.[1];
    expect(port).toBeDefined();
    const table = `corridor_test_udp_${port}`;
    const nft = async (args: string[]) => {
      const out = await runCommand(["nft", ...args]);
      if (out.code !== 0) throw new Error(`nft ${args.join(" ")}: ${out.stderr}`);
    };
    await nft(["add", "table", "inet", table]);
    cleanups.push(() => nft(["delete", "table", "inet", table]));
    await nft([
      ...["add", "chain", "inet", table, "out"],
      "{ type filter hook output priority 0; policy accept; }",
    ]);
    await nft(["add", "rule", "inet", table, "out", "udp", "dport", `${port}`, "counter", "drop"]);
    await nft(["add", "rule", "inet", table, "out", "udp", "sport", `${port}`, "counter", "drop"]);
    await waitUntil(
      () => pathOf(peer.key)?.path === "relay",
      `the relay with UDP blocked by nft; ${explain()}`,
      { everyMs: 200, poll: () => tun.refresh(), hangAfterMs: 45_000 },
    );
    // Each end gives up on the direct path on its own clock: until the peer has too, its answer
    // would still go to the blocked port.
    await waitUntil(
      () => peer.peerStatus().find((p) => p.key === tun.key)?.path === "relay",
      "the peer on the relay with UDP blocked by nft",
      { hangAfterMs: 45_000 },
    );
    expect(await access.ping("peer", 15_000)).toBeGreaterThanOrEqual(0);
  }, 120_000);
});
