// TUN mode fails closed without nftables (docs/agent-tun.md, "Filter model"): a map lists peers
// that may reach each other in either direction, so without the port rules a peer this node may
// only reach could open any port here. TunNode.start() refuses before anything is made on the
// host (no interface, no map stream), naming the package and the opt-out; with the explicit
// opt-out (`filter: "none"`, `--tun-filter none`) the missing nft is no reason to refuse.

import { describe, expect, it } from "vitest";
import { TunNode } from "../../server/agent/tun/tun-node.ts";
import { createLogger } from "../../server/log.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { CorridorProcess } from "./agent-harness.ts";

const MISSING_NFT = "/nonexistent/corridor-test/nft";

function start(filter: "nftables" | "none" | undefined, signal: AbortSignal) {
  const lines: string[] = [];
  const started = TunNode.start({
    iface: "ctunfilter0",
    privateKey: generatePrivateKey(),
    // Nothing listens there: a node that did not refuse keeps retrying until aborted.
    controlUrl: "ws://127.0.0.1:9/control",
    hostname: "no-nft",
    os: "linux",
    log: createLogger({ sink: (line) => lines.push(line), level: "debug" }),
    filter,
    tools: { nft: MISSING_NFT },
    signal,
  }).then(
    () => "started",
    (error: Error) => error.message,
  );
  return { started, lines };
}

describe("TUN mode without nft", () => {
  it("refuses to start by default, naming the nftables package and --tun-filter none", async () => {
    const stop = new AbortController();
    const { started } = start(undefined, stop.signal);
    const timer = setTimeout(() => stop.abort(), 5000);
    const outcome = await started;
    clearTimeout(timer);
    expect(outcome).toContain(MISSING_NFT);
    expect(outcome).toMatch(/nftables package/);
    expect(outcome).toMatch(/--tun-filter none/);
  }, 15_000);

  it("refuses when nftables is asked for explicitly, too", async () => {
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 5000);
    const outcome = await start("nftables", stop.signal).started;
    clearTimeout(timer);
    expect(outcome).toMatch(/nftables package/);
  }, 15_000);

  it("with the explicit opt-out, goes on to join (and says the host firewall enforces the policy)", async () => {
    const stop = new AbortController();
    const { started, lines } = start("none", stop.signal);
    // It got as far as the map stream: aborting it is what ends the start.
    setTimeout(() => stop.abort(), 300);
    const outcome = await started;
    expect(outcome).not.toMatch(/nftables package/);
    expect(outcome).toMatch(/before the first map/);
    expect(lines.join("\n")).toMatch(/tun_filter_none/);
  }, 15_000);
});

describe("corridor agent --tun-filter", () => {
  it("takes nftables or none, and only in TUN mode (usage errors, exit 2)", async () => {
    const server = ["agent", "--server", "http://127.0.0.1:9"];
    const bogus = new CorridorProcess([...server, "--tun", "corridor9", "--tun-filter", "ufw"]);
    expect(await bogus.exited).toBe(2);
    expect(bogus.stderr).toContain("--tun-filter 'ufw': expected nftables or none");
    const userspace = new CorridorProcess([...server, "--tun-filter", "none"]);
    expect(await userspace.exited).toBe(2);
    expect(userspace.stderr).toContain("--tun-filter applies to TUN mode only");
  }, 30_000);
});
