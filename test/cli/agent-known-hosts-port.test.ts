// `corridor ssh-known-hosts --port N`: lines for agents whose identity SSH listens on a port
// other than 22 name "[host]:N" (what OpenSSH looks up for that port); port 22 and no --port
// give the plain names. Against the local API over a fake agent (agent-fake.ts).

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isHostKeyLine, withPort } from "../../cli/ssh-known-hosts.ts";
import { corridor, type FakeAgent, startFakeAgent, webAndDbPeers } from "./agent-fake.ts";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTest0000000000000000000000000";
const KEY = ED25519.split(" ").slice(0, 2).join(" ");

let agent: FakeAgent;
beforeAll(async () => {
  agent = await startFakeAgent(webAndDbPeers(1, ED25519));
});
afterAll(async () => {
  await agent?.stop();
});

describe("corridor ssh-known-hosts --port", () => {
  it("names [host]:N for a port other than 22", async () => {
    const run = await corridor(["ssh-known-hosts", "--socket", agent.socket, "--port", "2222"]);
    expect([run.code, run.stderr.toString()]).toEqual([0, ""]);
    expect(run.stdout.toString()).toBe(
      `[web-01]:2222,[web-01.mesh.test]:2222,[100.64.0.7]:2222 ${KEY}\n`,
    );
  });

  it("--port 22 gives the plain names; a bad port is a usage error", async () => {
    const run = await corridor(["ssh-known-hosts", "--socket", agent.socket, "--port", "22"]);
    expect(run.stdout.toString()).toBe(`web-01,web-01.mesh.test,100.64.0.7 ${KEY}\n`);
    for (const bad of ["0", "65536", "x", "-1"]) {
      const r = await corridor(["ssh-known-hosts", "--socket", agent.socket, `--port=${bad}`]);
      expect(r.code).toBe(2);
      expect(r.stderr.toString()).toContain("--port");
    }
  });

  it("merges [host]:N lines beside the port-22 ones, replacing only the same port's", async () => {
    const file = join(agent.dir, "known_hosts_port");
    writeFileSync(file, `web-01 ssh-ed25519 AAAAport22\n[web-01]:2222 ssh-ed25519 AAAAold\n`);
    const run = await corridor([
      ...["ssh-known-hosts", "--socket", agent.socket, "--port", "2222", "--write", file],
    ]);
    expect(run.code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(
      "web-01 ssh-ed25519 AAAAport22\n" +
        `[web-01]:2222,[web-01.mesh.test]:2222,[100.64.0.7]:2222 ${KEY}\n`,
    );
  });

  it("withPort brackets IPv6 addresses too and keeps a valid line", () => {
    const line = `web-01,fd7a:115c:a1e0::7 ${KEY}`;
    const ported = withPort(line, 2200);
    expect(ported).toBe(`[web-01]:2200,[fd7a:115c:a1e0::7]:2200 ${KEY}`);
    expect(isHostKeyLine(ported)).toBe(true);
    expect(withPort(line, 22)).toBe(line);
  });
});
