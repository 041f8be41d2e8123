// Through the relay: `corridor ping --relay` reaches the kernel behind wireguard-go by way of
// the relay's UDP bridge (a page's only way to stock WireGuard), and only where the bridge's
// allowance permits.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type RelayServer, startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { writeOurWgConfig } from "./our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "./wg-host.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(
  allow: (host: WgHost) => string[],
): Promise<{ relay: RelayServer; config: string }> {
  const privateKey = generatePrivateKey();
  const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
  const host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" } });
  cleanups.push(() => host.close());
  const bridge = new UdpBridge({ allow: allow(host) });
  const relay = await startRelay({
    auth: { mode: "open" },
    relayId: "test-relay",
    udpBridge: bridge,
    log: () => {},
  });
  cleanups.push(async () => {
    await relay.close();
    bridge.close();
  });
  const dir = mkdtempSync(join(tmpdir(), "corridor-relay-ping-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeOurWgConfig(dir, privateKey, host);
  return { relay, config };
}

/** Runs the CLI without blocking this process (the relay runs in it). */
function corridor(
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describeWithPrereq(wgHostPrereq(), "corridor ping through the relay's UDP bridge", () => {
  it("gets echo replies from the kernel behind wireguard-go", async () => {
    const { relay, config } = await setUp((h) => [`${h.hostAddress}/32:${h.listenPort}`]);
    const run = await corridor(
      "ping",
      "-c",
      "3",
      "-i",
      "0.2",
      "--relay",
      relay.url,
      "--wg-config",
      config,
      "100.64.0.2",
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("3 packets transmitted, 3 received, 0% packet loss");
  });

  it("reaches nothing the bridge does not allow", async () => {
    const { relay, config } = await setUp(() => ["192.0.2.0/24:51820"]);
    const run = await corridor(
      "ping",
      "-c",
      "2",
      "-i",
      "0.1",
      "-W",
      "0.5",
      "--relay",
      relay.url,
      "--wg-config",
      config,
      "100.64.0.2",
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("2 packets transmitted, 0 received");
    expect(
      await relay.metrics.value("corridor_relay_drops_total", { reason: "udp_refused" }),
    ).toBeGreaterThan(0);
  });
});
