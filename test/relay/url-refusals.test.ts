// Issue 14 item 8 as a person meets it: `corridor relay` running on loopback, and
// `corridor ping --relay` given its base URL (ws://127.0.0.1:PORT) gets echo replies from a
// peer on that relay; a wrong path fails at once naming the expected one; a path the relay
// answers 404 to (a prefix it does not have) ends the command with the relay's reason after
// one attempt, where it used to retry forever in silence. The map client does the same: a 404
// or 403 at the upgrade is final, with the server's own words.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type MeshNet, startMeshNet } from "../../server/mesh-net.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { corridor } from "../cli/agent-fake.ts";
import { type Harness, startHarness } from "../control/stream-harness.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** Starts `corridor relay --open` on a loopback port of its choosing; resolves with its base URL. */
function startRelayChild(): Promise<{ child: ChildProcess; base: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, "relay", "--listen", "127.0.0.1:0", "--open", "--relay-id", "url-test"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`corridor relay did not say where it listens: ${out}`));
    }, 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (ws:\/\/127\.0\.0\.1:\d+)\/relay /.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, base: match[1]! });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`corridor relay exited (${code}): ${out}`));
    });
  });
}

function wgConfig(own: Uint8Array, address: string, peer: Uint8Array, peerAddress: string) {
  return [
    "[Interface]",
    `PrivateKey = ${keyToBase64(own)}`,
    `Address = ${address}/32`,
    "",
    "[Peer]",
    `PublicKey = ${keyToBase64(peer)}`,
    `AllowedIPs = ${peerAddress}/32`,
    "",
  ].join("\n");
}

describe("relay URLs through the CLI and a real corridor relay", () => {
  let relay: { child: ChildProcess; base: string };
  let dir: string;
  let config: string;
  let peer: MeshNet;

  beforeAll(async () => {
    relay = await startRelayChild();
    dir = mkdtempSync(join(tmpdir(), "corridor-url-"));
    const ours = generatePrivateKey();
    const theirs = generatePrivateKey();
    const oursPublic = await nodeX25519.publicKey(ours);
    const theirsPublic = await nodeX25519.publicKey(theirs);
    config = join(dir, "wg0.conf");
    writeFileSync(config, wgConfig(ours, "100.64.0.1", theirsPublic, "100.64.0.2"), {
      mode: 0o600,
    });
    const peerConfig = join(dir, "peer.conf");
    writeFileSync(peerConfig, wgConfig(theirs, "100.64.0.2", oursPublic, "100.64.0.1"), {
      mode: 0o600,
    });
    // The peer answers echoes on the same relay, given by its base URL too.
    peer = await startMeshNet(peerConfig, { relay: relay.base });
  }, 60_000);

  afterAll(async () => {
    await peer?.close();
    if (relay !== undefined) {
      const exited = new Promise((resolve) => relay.child.once("exit", resolve));
      relay.child.kill("SIGTERM");
      await exited;
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("takes the relay's base URL: echo replies from a peer on it", async () => {
    const run = await corridor([
      "ping",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "5",
      "--wg-config",
      config,
      "--relay",
      relay.base,
      "100.64.0.2",
    ]);
    expect(run.stdout.toString()).toMatch(/reply from 100\.64\.0\.2: icmp_seq=\d time=/);
    expect(run.code).toBe(0);
  });

  it("fails at once on a path that is not the relay's, naming the expected one", async () => {
    const run = await corridor([
      "ping",
      "--wg-config",
      config,
      "--relay",
      `${relay.base}/wrong`,
      "100.64.0.2",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `corridor ping: relay URL ${relay.base}/wrong: the path /wrong is not a relay's; expected ws://HOST:PORT/relay`,
    );
  });

  it("stops at the relay's 404 with its reason instead of retrying in silence", async () => {
    const url = `${relay.base}/prefix/relay`;
    const run = await corridor(["ping", "--wg-config", config, "--relay", url, "100.64.0.2"]);
    // Before issue 14 the command never ended: the 60 s guard killed it (code null).
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `corridor ping: relay ${url} refused this node for good: relay answered the WebSocket upgrade with HTTP 404: no relay here`,
    );
  });
});

describe("the map client's final refusals at the upgrade", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function client(url: string, headers?: Record<string, string>): Promise<ControlClient> {
    return new ControlClient({
      url,
      privateKey: generatePrivateKey(),
      core: await loadCryptoCore(),
      x25519: nodeX25519,
      connect: nodeControlConnect({ headers }),
      hostinfo: { hostname: "url-test", os: "linux" },
      backoffBaseMs: 10,
      backoffMaxMs: 20,
      onMap: () => {},
    });
  }

  it("a wrong path (404) and a foreign origin (403) end the client after one attempt", async () => {
    const wrong = await client(h.url.replace(/\/control$/, "/elsewhere"));
    await expect(wrong.start()).rejects.toThrow(
      /control server refused this node: not_found: ws:\/\/127\.0\.0\.1:\d+\/elsewhere: HTTP 404: no map stream here/,
    );
    const foreign = await client(h.url, { Origin: "https://evil.example" });
    await expect(foreign.start()).rejects.toThrow(/refused this node: forbidden: .*HTTP 403/);
    for (const c of [wrong, foreign]) {
      expect(c.state).toBe("refused");
      expect(c.stats.connectAttempts).toBe(1);
      c.close();
    }
  });
});
