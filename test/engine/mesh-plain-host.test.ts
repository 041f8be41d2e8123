// A mesh host that publishes no SSH host key (not the agent's identity SSH: here OpenSSH's sshd
// on the agent's loopback, reached through the agent's inbound forwarding) is trusted on first
// use as wg-quick hosts are: the first session asks, the key is kept in the engine's mesh
// record (the next session does not ask), forgetHostKey("mesh", ...) forgets it, and the
// login is sshd's own (a password).

import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type EngineApi,
  MESH_NETWORK_ID,
  type SessionUi,
  type TerminalMessage,
} from "../../worker/api.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_PASSWORD,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";
import { type MeshTestbed, startMeshTestbed } from "./mesh-harness.ts";

const POLICY = `{
  "tagOwners": { "tag:plain": ["autogroup:admin"] },
  "acls": [{ "action": "accept", "src": ["autogroup:member"], "dst": ["tag:plain:*"] }],
}`;

let bed: MeshTestbed;
let sshd: SshServer;
let engine: EngineApi;

/** Opens a session, types `echo`, waits for the answer, closes; returns the prompts seen. */
async function session(host = "plain-01"): Promise<{ hostKeys: string[]; passwords: number }> {
  const channel = new MessageChannel();
  let text = "";
  channel.port1.onmessage = (event: MessageEvent<TerminalMessage>) => {
    const m = event.data;
    if (m.type !== "output") return;
    text += new TextDecoder().decode(m.data);
    channel.port1.postMessage({ type: "ack", bytes: m.data.length });
  };
  const seen = { hostKeys: [] as string[], passwords: 0 };
  const ui: SessionUi = {
    onState: () => undefined,
    confirmHostKey: async (prompt) => {
      seen.hostKeys.push(`${prompt.host} ${prompt.keyType}`);
      return true;
    },
    askPassword: async () => {
      seen.passwords++;
      return TEST_PASSWORD;
    },
    askInteractive: async (_n, _i, prompts) => prompts.map(() => TEST_PASSWORD),
    onBanner: () => undefined,
  };
  const id = await engine.openSession(
    {
      networkId: MESH_NETWORK_ID,
      host,
      port: sshd.port,
      username: TEST_USER,
      cols: 80,
      rows: 24,
    },
    ui,
    channel.port2,
  );
  channel.port1.postMessage({
    type: "input",
    data: new TextEncoder().encode("echo plain-$((6*7))\n"),
  });
  await waitUntil(() => text.includes("plain-42"), "the shell's answer");
  await engine.closeSession(id);
  channel.port1.close();
  return seen;
}

describeWithPrereq(sshdPrereq, "a mesh host without published host keys", () => {
  beforeAll(async () => {
    ensureTestUser();
    sshd = await startSshd({ listen: "127.0.0.1" });
    bed = await startMeshTestbed();
    await bed.setPolicy(POLICY);
    await bed.agent("plain-01", ["tag:plain"], { sshPort: 0 });
    // Identity SSH on 22 (its key in the map) and sshd forwarded on another port.
    await bed.agent("both-01", ["tag:plain"]);
    engine = bed.engine(await bed.cookie(bed.alice.id));
    expect((await engine.meshStart()).state).toBe("ready");
  }, 120_000);

  afterAll(async () => {
    await bed?.close();
    await sshd?.stop();
  });

  it("asks once, remembers the key in the mesh record, forgets it on request", async () => {
    const host = (await engine.meshHosts()).find((h) => h.name === "plain-01");
    expect(host?.identitySsh).toBe(false);
    const first = await session();
    expect(first.hostKeys).toHaveLength(1);
    expect(first.hostKeys[0]).toMatch(/^plain-01 /);
    const second = await session();
    expect(second.hostKeys).toEqual([]);
    expect(await engine.forgetHostKey(MESH_NETWORK_ID, "PLAIN-01", sshd.port)).toBe(1);
    const third = await session();
    expect(third.hostKeys).toHaveLength(1);
  }, 60_000);

  it("the map's key is for the identity SSH port: sshd on another port is asked for", async () => {
    const host = (await engine.meshHosts()).find((h) => h.name === "both-01");
    expect(host?.identitySsh).toBe(true);
    const first = await session("both-01");
    expect(first.hostKeys).toHaveLength(1);
    expect((await session("both-01")).hostKeys).toEqual([]);
  }, 60_000);
});
