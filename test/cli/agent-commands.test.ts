// The real `corridor status`, `ping`, `nc` and `ssh-known-hosts` commands, as child processes,
// against the local API served over a fake AgentControl (agent-fake.ts): the status table and
// its JSON, ping by name with an RTT per echo, nc carrying a stream both ways with half-close,
// the agent's refusals as the commands' messages and exit statuses, known_hosts merged into a
// file, and the "no agent is running" message when nothing answers.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentStatus } from "../../server/agent/types.ts";
import {
  corridor,
  type FakeAgent,
  startEchoServer,
  startFakeAgent,
  webAndDbPeers,
} from "./agent-fake.ts";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest0000000000000000000000000";

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let agent: FakeAgent;

beforeAll(async () => {
  echo = await startEchoServer();
  agent = await startFakeAgent(webAndDbPeers(echo.port, ED25519));
});

afterAll(async () => {
  await agent?.stop();
  await echo?.close();
});

describe("corridor status", () => {
  it("prints this node and a table of peers", async () => {
    const run = await corridor(["status", "--socket", agent.socket]);
    expect([run.code, run.stderr]).toEqual([0, ""]);
    const text = run.stdout.toString();
    expect(text).toContain("node:     laptop.mesh.test\n");
    expect(text).toContain("control:  streaming (ws://127.0.0.1:1/control)\n");
    expect(text).toContain("relay:    r1 ready (ws://127.0.0.1:1/relay)\n");
    const lines = text.split("\n");
    const header = lines.findIndex((l) => l.startsWith("NAME"));
    expect(lines[header]).toMatch(/^NAME\s+ADDRESS\s+ONLINE\s+PATH\s+RTT\s+HANDSHAKE\s+RX\s+TX$/);
    // Sorted by name: db-01 (relay, offline), then web-01 (direct).
    expect(lines[header + 1]).toMatch(
      /^db-01\s+100\.64\.0\.8\s+no\s+relay r1\s+-\s+never\s+3\.0 KiB\s+3\.0 MiB$/,
    );
    expect(lines[header + 2]).toMatch(
      /^web-01\s+100\.64\.0\.7\s+yes\s+direct 192\.0\.2\.10:41641\s+1\.5 ms\s+4\ds ago\s+1\.5 KiB\s+3\.0 MiB$/,
    );
  });

  it("prints the agent's status as JSON with --json, finding the socket by $CORRIDOR_SOCKET", async () => {
    const run = await corridor(["status", "--json"], { env: { CORRIDOR_SOCKET: agent.socket } });
    expect(run.code).toBe(0);
    const status = JSON.parse(run.stdout.toString()) as AgentStatus;
    expect(status.peers.map((p) => p.name)).toEqual(["web-01", "db-01"]);
    expect(status.mode).toBe("userspace");
  });

  it("says how to start an agent when none runs", async () => {
    const missing = join(agent.dir, "none.sock");
    const run = await corridor(["status", "--socket", missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `corridor status: no agent is running (nothing answers on ${missing}): start one with \`corridor agent --server URL\`\n`,
    );
  });
});

describe("corridor ping through the agent", () => {
  it("pings a peer by name, one RTT per echo", async () => {
    const run = await corridor([
      "ping",
      "-c",
      "2",
      "-i",
      "0.05",
      "--socket",
      agent.socket,
      "web-01",
    ]);
    expect(run.code).toBe(0);
    const text = run.stdout.toString();
    expect(text).toContain("PING web-01 through the agent\n");
    expect(text).toContain("reply from web-01: icmp_seq=1 time=1.50 ms\n");
    expect(text).toContain("reply from web-01: icmp_seq=2 time=1.50 ms\n");
    expect(text).toContain("2 packets transmitted, 2 received, 0% packet loss\n");
  });

  it("counts timeouts as lost and stops at the agent's refusal", async () => {
    const lost = await corridor([
      "ping",
      "-c",
      "1",
      "-W",
      "0.1",
      "--socket",
      agent.socket,
      "db-01",
    ]);
    expect(lost.code).toBe(1);
    expect(lost.stdout.toString()).toContain("no reply from db-01: icmp_seq=1\n");
    const unknown = await corridor(["ping", "-c", "3", "--socket", agent.socket, "nobody"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe("corridor ping: nobody is not a mesh peer\n");
  });

  it("refuses --relay without --wg-config", async () => {
    const run = await corridor(["ping", "--relay", "ws://127.0.0.1:1/relay", "web-01"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--relay needs --wg-config/);
  });
});

describe("corridor nc through the agent", () => {
  it("carries stdin to the peer and the peer's bytes to stdout, then ends", async () => {
    const input = Buffer.alloc(300_000).map((_, i) => (i * 13) & 0xff);
    const run = await corridor(["nc", "--socket", agent.socket, "web-01", "7"], { input });
    expect([run.code, run.stderr]).toEqual([0, ""]);
    expect(run.stdout.equals(input)).toBe(true);
    expect(agent.dials.at(-1)).toEqual({ host: "web-01", port: 7 });
  });

  it("exits 1 with the agent's reason when the dial fails", async () => {
    const refused = await corridor(["nc", "--socket", agent.socket, "db-01", "5432"]);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      "corridor nc: db-01 port 5432: db-01 port 5432: refused (RST)\n",
    ]);
  });
});

describe("corridor ssh-known-hosts", () => {
  it("prints the map's keys as known_hosts lines", async () => {
    const run = await corridor(["ssh-known-hosts", "--socket", agent.socket]);
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe(
      `web-01,web-01.mesh.test,100.64.0.7 ${ED25519.split(" ").slice(0, 2).join(" ")}\n`,
    );
  });

  it("merges them into a file, replacing lines for the same names and keeping the rest", async () => {
    const file = join(agent.dir, "known_hosts");
    writeFileSync(
      file,
      "# mine\nweb-01 ssh-ed25519 AAAAold\nother.example ssh-ed25519 AAAAkeep\n[web-01]:2222 ssh-rsa AAAAport\n",
    );
    const run = await corridor(["ssh-known-hosts", "--socket", agent.socket, "--write", file]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`corridor ssh-known-hosts: ${file}: 1 line(s) written, 1 replaced\n`);
    expect(readFileSync(file, "utf8")).toBe(
      "# mine\nother.example ssh-ed25519 AAAAkeep\n[web-01]:2222 ssh-rsa AAAAport\n" +
        `web-01,web-01.mesh.test,100.64.0.7 ${ED25519.split(" ").slice(0, 2).join(" ")}\n`,
    );
    // Twice is the same as once.
    await corridor(["ssh-known-hosts", "--socket", agent.socket, "--write", file]);
    expect(readFileSync(file, "utf8").match(/web-01,/g)).toHaveLength(1);
  });
});
