// The direct-path lab (issue 19's browser tests and bench:direct): the mesh lab (mesh-lab.ts:
// `corridor serve` with a real OpenID Provider, `corridor agent` web-01 with identity SSH) with
// the agent in a network namespace of its own, reachable from the root namespace over a veth
// pair, so Chromium (root namespace) and the agent meet over real UDP, and the test can cut that
// UDP with nft inside the agent's namespace while the relay (TCP) keeps working.
//
// Addresses: the veth's root end 10.205.N.1/24 (serve listens there: the agents reach it from
// their namespace, and it is the page's origin), its other end eth0 10.205.N.2/24 in the
// namespace. An origin on a private address is not a secure context, so Chromium is told to treat
// it as one (--unsafely-treat-insecure-origin-as-secure, the flag made for such test setups).
// Names: stem "cdl" + creator pid (base 36) + 4 hex digits (wg-netns.ts's scheme).

import { randomInt } from "node:crypto";
import type { Browser } from "playwright-core";
import { launchChromium } from "../helpers/chromium.ts";
import { onPath, type Prereq, prereq } from "../helpers/prereq.ts";
import { installExitHook, newStem, removeNamespaceSync, unclosed } from "../interop/wg-netns.ts";
import { must, WG_TOOLS } from "../interop/wg-tools.ts";
import { type DelayProxy, startDelayProxy } from "./delay-proxy.ts";
import { type MeshLab, meshLabPrereq, startMeshLab } from "./mesh-lab.ts";

/** What the lab needs: the mesh lab's, plus nft (the UDP cut). */
export function directLabPrereq(): Prereq {
  return meshLabPrereq(prereq(onPath("nft")));
}

/** A running direct-path lab. */
export interface DirectLab {
  mesh: MeshLab;
  /** The agent's namespace. */
  netns: string;
  /** The veth's root end (the page's host) and the agent's address. */
  rootAddress: string;
  agentAddress: string;
  /** Chromium with the lab's origin treated as secure. */
  launchBrowser(): Promise<Browser>;
  /** Drops every UDP datagram between the agent and the root namespace (nft, table "direct"). */
  blockUdp(): Promise<void>;
  /** Removes blockUdp's rules. */
  unblockUdp(): Promise<void>;
  /** The relay's bytes sent so far (corridor_relay_bytes_out_total). */
  relayBytesOut(): Promise<number>;
  /**
   * The proxy in front of the relay (the map's relay URL names it): its `delayMs` puts the relay
   * at a distance from page and agent both; 0 (the default) leaves it on this host.
   */
  relayProxy: DelayProxy;
  close(): Promise<void>;
}

/** A free 10.205.N.0/24 (no address of this host in it). */
async function freeSubnet(): Promise<number> {
  const used = (await must([WG_TOOLS.ip, "-o", "-4", "addr", "show"])).stdout;
  for (;;) {
    const n = randomInt(256);
    if (!used.includes(`inet 10.205.${n}.`)) return n;
  }
}

/** Builds the namespace and veth, then the mesh lab with web-01 inside, direct paths on. */
export async function startDirectLab(): Promise<DirectLab> {
  installExitHook();
  const stem = newStem("cdl");
  const subnet = await freeSubnet();
  const rootAddress = `10.205.${subnet}.1`;
  const agentAddress = `10.205.${subnet}.2`;
  const teardown = () => removeNamespaceSync(stem, `${stem}r`);
  unclosed.add(teardown);
  let mesh: MeshLab | undefined;
  let servePort = 0;
  let proxy: DelayProxy | undefined;
  try {
    await must([WG_TOOLS.ip, "netns", "add", stem]);
    await must([WG_TOOLS.ip, "-n", stem, "link", "set", "lo", "up"]);
    await must([
      WG_TOOLS.ip,
      "link",
      "add",
      `${stem}r`,
      "type",
      "veth",
      "peer",
      "name",
      `${stem}n`,
    ]);
    await must([WG_TOOLS.ip, "link", "set", `${stem}n`, "netns", stem]);
    await must([WG_TOOLS.ip, "-n", stem, "link", "set", `${stem}n`, "name", "eth0"]);
    await must([WG_TOOLS.ip, "-n", stem, "addr", "add", `${agentAddress}/24`, "dev", "eth0"]);
    await must([WG_TOOLS.ip, "-n", stem, "link", "set", "eth0", "up"]);
    await must([WG_TOOLS.ip, "addr", "add", `${rootAddress}/24`, "dev", `${stem}r`]);
    await must([WG_TOOLS.ip, "link", "set", `${stem}r`, "up"]);
    const relayProxy = await startDelayProxy(rootAddress, 0, () => ({
      host: rootAddress,
      port: servePort,
    }));
    proxy = relayProxy;
    mesh = await startMeshLab({
      agents: [{ name: "web-01", tags: ["tag:server"] }],
      host: rootAddress,
      agentNetns: stem,
      agentDirect: true,
      // The page and its relay behind the proxy, at one origin (the map names serve's own relay).
      frontUrl: `http://${rootAddress}:${relayProxy.port}/`,
      onServe: (url) => {
        servePort = Number(new URL(url).port);
      },
    });
  } catch (error) {
    await proxy?.close();
    unclosed.delete(teardown);
    teardown();
    throw error;
  }
  const lab = mesh;
  const relayProxy = proxy as DelayProxy;
  const nft = (args: string[], input?: string) =>
    must(
      [WG_TOOLS.ip, "netns", "exec", stem, "nft", ...args],
      input === undefined ? {} : { input },
    );
  return {
    mesh: lab,
    netns: stem,
    rootAddress,
    agentAddress,
    launchBrowser: () =>
      launchChromium(120_000, [`--unsafely-treat-insecure-origin-as-secure=${lab.origin}`]),
    async blockUdp() {
      await nft(
        ["-f", "-"],
        [
          "table inet direct {",
          "  chain out {",
          "    type filter hook output priority 0; policy accept;",
          `    ip daddr ${rootAddress} meta l4proto udp drop`,
          "  }",
          "  chain in {",
          "    type filter hook input priority 0; policy accept;",
          `    ip saddr ${rootAddress} meta l4proto udp drop`,
          "  }",
          "}",
        ].join("\n"),
      );
    },
    async unblockUdp() {
      await nft(["delete", "table", "inet", "direct"]);
    },
    async relayBytesOut() {
      const text = await lab.serve.relay.metrics.registry.text();
      const line = text.split("\n").find((l) => l.startsWith("corridor_relay_bytes_out_total "));
      if (line === undefined) throw new Error("direct lab: no corridor_relay_bytes_out_total");
      return Number(line.split(" ")[1]);
    },
    relayProxy,
    async close() {
      await lab.close();
      await relayProxy.close();
      unclosed.delete(teardown);
      teardown();
    },
  };
}
