// The filter table's forward-hook chain (docs/agent-tun.md, "Filter model"): a host with
// ip_forward=1 must not route peers into its LAN. Namespace N runs a TunNode and has a "LAN"
// (a veth to namespace L, 192.168.77.0/24) with forwarding on; a second TunNode in namespace P
// is made to route that LAN through N (its interface's allowed IPs and a route, set by hand as
// a hostile peer would). P's ping to L gets no answer and the chain's drop counter grows; once
// the chain is deleted by hand the same ping is answered, so the chain is what stopped it.

import { afterAll, beforeAll, expect, it } from "vitest";
import { TunNode } from "../../server/agent/tun/tun-node.ts";
import { createLogger } from "../../server/log.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { type Mesh, startMesh } from "../control/mesh-harness.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { createTunNetns, type TunNetns } from "./tun-netns.ts";

const need = prereq(...wgHostPrereq().missing.map((what) => check(what, false)));

describeWithPrereq(need, "TUN filter: nothing is routed on from the interface", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let mesh: Mesh;
  let n: TunNetns;
  let p: TunNetns;
  let lan: TunNetns;
  let tun: TunNode;
  let tunP: TunNode;

  const must = async (ns: TunNetns, cmd: string[]) => {
    const out = await ns.exec(cmd);
    if (out.code !== 0) throw new Error(`${cmd.join(" ")}: ${out.stderr}`);
    return out.stdout;
  };
  const start = async (ns: TunNetns, name: string, authKey: string, tickMs: number) => {
    const node = await TunNode.start({
      iface: ns.iface,
      privateKey: generatePrivateKey(),
      controlUrl: mesh.controlUrl,
      authKey,
      hostname: name,
      os: "linux",
      log: createLogger({ level: "silent" }),
      implementation: "wireguard-go",
      netns: ns.namespace,
      bridgeHost: ns.ourAddress,
      interfaceHost: ns.nsAddress,
      direct: false,
      tickMs,
    });
    cleanups.push(() => node.close());
    return node;
  };
  const forwardDrops = async () => {
    const text = await must(n, ["nft", "list", "chain", "inet", `corridor_${n.iface}`, "forward"]);
    return Number(/counter packets (\d+)/.exec(text)?.[1] ?? "-1");
  };
  const pingLan = async () =>
    (await p.exec(["ping", "-n", "-c", "1", "-W", "2", "192.168.77.2"])).code;

  beforeAll(async () => {
    mesh = await startMesh();
    cleanups.push(() => mesh.close());
    n = await createTunNetns();
    cleanups.push(() => n.close());
    p = await createTunNetns();
    cleanups.push(() => p.close());
    lan = await createTunNetns();
    cleanups.push(() => lan.close());
    // N's LAN: a veth into L, forwarding on in N.
    const [a, b] = [`${n.namespace}f`, `${lan.namespace}f`];
    await must(n, [
      "ip",
      "link",
      "add",
      a,
      "type",
      "veth",
      "peer",
      "name",
      b,
      "netns",
      lan.namespace,
    ]);
    await must(n, ["ip", "addr", "add", "192.168.77.1/24", "dev", a]);
    await must(n, ["ip", "link", "set", a, "up"]);
    await must(lan, ["ip", "addr", "add", "192.168.77.2/24", "dev", b]);
    await must(lan, ["ip", "link", "set", b, "up"]);
    await must(lan, ["ip", "route", "add", "100.64.0.0/10", "via", "192.168.77.1"]);
    await must(n, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    await must(n, ["sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=0"]);
    const authKey = (await mesh.authKey("alice", { reusable: true })).key;
    tun = await start(n, "router", authKey, 200);
    // P does not read its interface again (a long tick): the hand-set allowed IPs stay.
    tunP = await start(p, "hostile", authKey, 600_000);
    const tunV4 = tun.state.self.addresses.find((x) => !x.includes(":")) ?? "";
    await waitUntil(
      () => [...tunP.state.peers.values()].some((x) => x.key === tun.key),
      "P sees N",
    );
    const own = tun.state.self.addresses.map((x) => (x.includes(":") ? `${x}/128` : `${x}/32`));
    await must(p, [
      ...["wg", "set", p.iface, "peer", tun.key, "allowed-ips"],
      [...own, "192.168.77.0/24"].join(","),
    ]);
    await must(p, ["ip", "route", "add", "192.168.77.0/24", "dev", p.iface]);
    // The mesh path itself works: P reaches N's own mesh address.
    await waitUntil(() => tunV4 !== "", "N's address");
    expect((await p.exec(["ping", "-n", "-c", "1", "-W", "5", tunV4])).code).toBe(0);
  }, 90_000);

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.warn(`cleanup: ${(error as Error).message}`);
      }
    }
  });

  it("a packet from the interface to the LAN is dropped on the forward hook", async () => {
    const before = await forwardDrops();
    expect(before).toBeGreaterThanOrEqual(0);
    expect(await pingLan()).not.toBe(0);
    expect(await forwardDrops()).toBeGreaterThan(before);
  }, 30_000);

  it("without that chain the same packet is routed into the LAN (so the chain is what stops it)", async () => {
    await must(n, ["nft", "delete", "chain", "inet", `corridor_${n.iface}`, "forward"]);
    expect(await pingLan()).toBe(0);
  }, 30_000);
});
