// TUN mode's WebRTC side (docs/agent-tun.md, "Paths"): a TunNode (wireguard-go in a namespace,
// root) answers a page's offer (test/agent/rtc-page.ts: the worker pieces with werift offering),
// the channel becomes the direct path of the PathBind behind the relay bridge, so what the page
// sends over it reaches the interface from the page's bridge socket and the interface's answers
// come back over it: pings cross the channel both ways, status says "direct webrtc", and the
// page's own PathBind sends nothing through the relay meanwhile.

import { afterAll, beforeAll, expect, it } from "vitest";
import { formatPath } from "../../cli/status.ts";
import { TunNode } from "../../server/agent/tun/tun-node.ts";
import { createLogger } from "../../server/log.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { type Mesh, startMesh } from "../control/mesh-harness.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { type Page, startPage } from "./rtc-page.ts";
import { createTunNetns, type TunNetns } from "./tun-netns.ts";

const need = prereq(...wgHostPrereq().missing.map((what) => check(what, false)));

describeWithPrereq(need, "TUN mode answers a page's WebRTC offer", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const logs: string[] = [];
  let mesh: Mesh;
  let ns: TunNetns;
  let tun: TunNode;
  let page: Page;
  const explain = () => `agent log:\n${logs.slice(-30).join("\n")}`;

  beforeAll(async () => {
    mesh = await startMesh();
    cleanups.push(() => mesh.close());
    ns = await createTunNetns("crtc");
    cleanups.push(() => ns.close());
    const authKey = (await mesh.authKey("alice", { reusable: true })).key;
    tun = await TunNode.start({
      iface: ns.iface,
      privateKey: generatePrivateKey(),
      controlUrl: mesh.controlUrl,
      authKey,
      hostname: "tunrtc",
      os: "linux",
      log: createLogger({ sink: (line) => logs.push(line), level: "debug" }),
      implementation: "wireguard-go",
      netns: ns.namespace,
      bridgeHost: ns.ourAddress,
      interfaceHost: ns.nsAddress,
      relayBackoffBaseMs: 20,
      relayBackoffMaxMs: 200,
      tickMs: 200,
      directOptions: { host: "127.0.0.1" },
    });
    cleanups.push(() => tun.close());
    page = await startPage(mesh.controlUrl, authKey);
    cleanups.push(() => page.close());
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

  it("the channel is the direct path and carries the interface's packets both ways", async () => {
    await waitUntil(
      () =>
        tun.state.peerByKey(page.key) !== undefined &&
        page.control.map.peerByKey(tun.key) !== undefined,
      "the page and the TUN node in each other's maps",
    );
    const started = performance.now();
    page.sessions.want(tun.key);
    await waitUntil(
      () => page.sessions.stateOf(tun.key) === "open",
      `the channel open; ${explain()}`,
      {
        hangAfterMs: 10_000,
      },
    );
    const openMs = performance.now() - started;
    expect(tun.webrtc.sessions.stateOf(page.key)).toBe("open");
    await waitUntil(
      () => page.paths().pathOf(tun.key)?.path === "direct",
      "the page's path to the TUN node direct",
      { hangAfterMs: 5_000 },
    );
    const v4 = tun.state.self.addresses[0] ?? "";
    const net = page.plane.net;
    if (net === undefined) throw new Error("page: no interface");
    // The first ping makes the handshake; the interface is then a peer of the bridge socket.
    expect(await net.ping(v4, { timeoutMs: 15_000 })).toBeGreaterThanOrEqual(0);
    await waitUntil(
      () => tun.peerStatus().find((p) => p.key === page.key)?.path === "direct",
      `the TUN node's path to the page direct; ${explain()}`,
      { everyMs: 100, poll: () => tun.refresh(), hangAfterMs: 5_000 },
    );
    const status = tun.peerStatus().find((p) => p.key === page.key);
    expect(status?.endpoint).toBe(`webrtc:${page.key}`);
    expect(formatPath(status as NonNullable<typeof status>)).toBe("direct webrtc");

    const relayBefore = page.paths().stats.relaySent;
    const atTun = tun.webrtc.channels.stats;
    const inBefore = atTun.datagramsReceived;
    const outBefore = atTun.datagramsSent;
    const rtts: number[] = [];
    for (let i = 0; i < 10; i++) rtts.push(await net.ping(v4, { timeoutMs: 5_000 }));
    expect(atTun.datagramsReceived - inBefore).toBeGreaterThanOrEqual(10);
    expect(atTun.datagramsSent - outBefore).toBeGreaterThanOrEqual(10);
    expect(page.paths().stats.relaySent).toBe(relayBefore);
    rtts.sort((a, b) => a - b);
    console.log(
      `TUN node over werift: channel open ${openMs.toFixed(0)} ms; ping over the channel p50 ${rtts[5]?.toFixed(2)} ms`,
    );
  }, 60_000);
});
