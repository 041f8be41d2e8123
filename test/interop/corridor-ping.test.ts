// `corridor ping` against the Linux kernel behind wireguard-go in a namespace: the real CLI
// in a child process, its engine talking UDP to wireguard-go from a wg-quick file.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { writeOurWgConfig } from "./our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "./wg-host.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A wireguard-go host peered with a fresh key of ours, and a wg-quick file for our side. */
async function setUp(): Promise<{ host: WgHost; config: string }> {
  const privateKey = generatePrivateKey();
  const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
  const host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" } });
  cleanups.push(() => host.close());
  const dir = mkdtempSync(join(tmpdir(), "corridor-ping-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeOurWgConfig(dir, privateKey, host);
  return { host, config };
}

function corridor(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });
}

describeWithPrereq(wgHostPrereq(), "corridor ping through wireguard-go", () => {
  it("gets echo replies from the namespace's tunnel address and exits 0", async () => {
    const { config } = await setUp();
    const run = corridor("ping", "-c", "3", "-i", "0.2", "--wg-config", config, "100.64.0.2");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.match(/reply from 100\.64\.0\.2: icmp_seq=\d time=[\d.]+ ms/g)?.length).toBe(
      3,
    );
    expect(run.stdout).toContain("3 packets transmitted, 3 received, 0% packet loss");
  });

  it("exits 1 when nothing answers", async () => {
    const { config } = await setUp();
    const run = corridor(
      "ping",
      "-c",
      "2",
      "-i",
      "0.1",
      "-W",
      "0.5",
      "--wg-config",
      config,
      "100.64.0.9",
    );
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("2 packets transmitted, 0 received, 100% packet loss");
  });

  it("explains bad usage with exit status 2", () => {
    const run = corridor("ping", "--wg-config", "x", "--socket", "/tmp/agent.sock", "100.64.0.2");
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--socket is for the agent; it does not go with --wg-config");
    expect(corridor("ping", "--wg-config", "x", "not-an-ip").stderr).toMatch(/HOST 'not-an-ip'/);
    // Without --wg-config the agent pings (docs/cli-agent.md): none runs at this socket.
    const noAgent = corridor("ping", "--socket", "/nonexistent/agent.sock", "100.64.0.2");
    expect(noAgent.status).toBe(1);
    expect(noAgent.stderr).toContain(
      "no agent is running (nothing answers on /nonexistent/agent.sock)",
    );
  });
});
