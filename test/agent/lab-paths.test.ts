// Issue 14's path and resilience tests on real hosts (DESIGN §5): two `corridor agent`
// processes in network namespaces, direct to each other. A transfer (curl through web-a's SOCKS5
// proxy from web-b's python http.server, rate-limited so it lasts a few seconds) survives nft
// dropping the direct UDP mid-way: the path goes to the relay and the bytes arrive intact
// (SHA-256); once the UDP is let through again the path returns to direct. Then the control
// server restarts under a running transfer: the transfer finishes intact (the data plane needs
// no control server) and the agents resume their map sessions with a delta. And the relay
// restarts while the direct path is blocked: a transfer then goes through the new relay.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { LAB_PREREQ, Lab, type LabHost } from "./lab.ts";

const POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [{ "action": "accept", "src": ["tag:server"], "dst": ["tag:server:*"] }],
}`;

/** 12 MiB at 2 MiB/s: about six seconds, long enough to cut the path in the middle. */
const SIZE = 12 * 1024 * 1024;
const RATE = "2M";

let lab: Lab;
let a: LabHost;
let b: LabHost;
let digest: string;
let download = 0;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Starts curl in web-a fetching web-b's file through web-a's proxy; resolves with the file. */
function fetchFromB(): { file: string; done: Promise<{ code: number | null; stderr: string }> } {
  const file = join(lab.dir, `download-${download++}`);
  const done = lab.exec(
    a,
    [
      "curl",
      ...["-sS", "--max-time", "120", "--limit-rate", RATE, "-o", file],
      ...["--socks5-hostname", "127.0.0.1:1055", "http://web-b:8000/big.bin"],
    ],
    150_000,
  );
  return { file, done };
}

/** Bytes of `file` so far (0 before curl made it). */
function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

describeWithPrereq(LAB_PREREQ, "paths and restarts between agents in namespaces", () => {
  beforeAll(async () => {
    lab = await Lab.start();
    await lab.mesh.setPolicy(POLICY);
    const key = await lab.mesh.authKey({ reusable: true, tags: ["tag:server"] });
    a = await lab.addAgent({ name: "web-a", authKey: key, args: ["--socks5", "1055"] });
    b = await lab.addAgent({ name: "web-b", authKey: key });
    const site = join(lab.dir, "site");
    mkdirSync(site);
    const content = randomBytes(SIZE);
    digest = sha256(content);
    writeFileSync(join(site, "big.bin"), content);
    void lab.exec(
      b,
      ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", site],
      600_000,
    );
    await lab.waitForPath(a, "web-b", "direct");
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it("a transfer survives the direct path being blocked (relay), then returns to direct", async () => {
    await lab.waitForPath(a, "web-b", "direct");
    const { file, done } = fetchFromB();
    await waitUntil(() => sizeOf(file) >= 2 * 1024 * 1024, "the first 2 MiB on the direct path", {
      everyMs: 50,
      hangAfterMs: 60_000,
    });
    await lab.blockUdp(b, [a]);
    const blockedAt = sizeOf(file);
    await lab.waitForPath(a, "web-b", "relay", 60_000);
    const result = await done;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // The cut came mid-transfer, and every byte arrived, in order.
    expect(blockedAt).toBeLessThan(SIZE);
    expect(sha256(readFileSync(file))).toBe(digest);
    await lab.unblockUdp(b);
    await lab.waitForPath(a, "web-b", "direct", 90_000);
  }, 240_000);

  it("the relay restarts: traffic on the relay path resumes through the new relay", async () => {
    await lab.blockUdp(b, [a]);
    try {
      await lab.waitForPath(a, "web-b", "relay", 60_000);
      await lab.mesh.restartRelay();
      // The agents reconnect by themselves; a whole transfer then goes through the new relay.
      const { file, done } = fetchFromB();
      const result = await done;
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(sha256(readFileSync(file))).toBe(digest);
      const peer = (await lab.status(a)).peers.find((p: { name: string }) => p.name === "web-b");
      expect(peer.path).toBe("relay");
    } finally {
      await lab.unblockUdp(b);
    }
    await lab.waitForPath(a, "web-b", "direct", 90_000);
  }, 240_000);

  it("the control server restarts under a transfer: it finishes intact, the agents resume with a delta", async () => {
    const { file, done } = fetchFromB();
    await waitUntil(() => sizeOf(file) >= 1024 * 1024, "the first MiB", {
      everyMs: 50,
      hangAfterMs: 60_000,
    });
    const attachedBefore = lab.mesh.log.filter((l) => l.event === "attached").length;
    await lab.mesh.stopControl();
    // While the server is down, names still resolve from the last map and packets flow.
    const ping = await lab.corridor(a, ["ping", "-c", "1", "web-b"]);
    expect(ping.code, ping.stderr).toBe(0);
    await lab.mesh.restart();
    const result = await done;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(sha256(readFileSync(file))).toBe(digest);
    // Both agents came back to the restarted server and stream from it.
    await a.agent.waitFor(/control server reachable again\n/);
    await b.agent.waitFor(/control server reachable again\n/);
    let attached = lab.mesh.log.filter((l) => l.event === "attached").slice(attachedBefore);
    await waitUntil(() => attached.length >= 2, "both agents attached again", {
      poll: async () => {
        attached = lab.mesh.log.filter((l) => l.event === "attached").slice(attachedBefore);
      },
    });
    // Each resumed its map session with a delta (the server checkpoints sessions at close).
    expect(attached.map((l) => l.resumed)).toEqual(attached.map(() => true));
    const status = await lab.status(a);
    expect(status.control.state).toBe("ready");
    expect(status.peers.map((p: { name: string }) => p.name)).toEqual(["web-b"]);
  }, 240_000);
});
