// Issue 14's tests on real hosts (DESIGN §5): three `corridor agent` processes in network
// namespaces on one segment with the control server and relay. web-a and web-b (tag:server)
// reach each other over direct UDP; ci-c (tag:ci) has its UDP to them dropped by nft inside its
// namespace, so it can only use the relay. Then: each agent sees the others with the right path;
// `corridor ssh root@NAME -- id` by identity works where the policy's ssh rules allow it and is
// refused with the server's sentence where they do not; OpenSSH's ssh through `corridor nc`
// verifies the published host key from `corridor ssh-known-hosts` with no prompt; curl through
// the agent's SOCKS5 proxy reaches a python http.server on another agent by name, and a port
// outside the policy is dropped (curl times out; a refused port would answer RST at once); a
// peer cannot reach an agent's own SOCKS5 port through inbound forwarding; an identity SSH
// session never sees the agent's CORRIDOR_AUTH_KEY.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { run } from "../interop/wg-tools.ts";
import { corridorBin } from "./agent-harness.ts";
import { LAB_PREREQ, Lab, type LabHost } from "./lab.ts";

const POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"], "tag:ci": ["autogroup:admin"] },
  "acls": [
    { "action": "accept", "src": ["tag:server"], "dst": ["tag:server:*"] },
    { "action": "accept", "src": ["tag:ci"], "dst": ["tag:server:22,8000"] },
  ],
  "ssh": [
    { "action": "accept", "src": ["tag:server"], "dst": ["tag:server"], "users": ["root"] },
  ],
}`;

let lab: Lab;
let a: LabHost;
let b: LabHost;
let c: LabHost;

describeWithPrereq(LAB_PREREQ, "agents in network namespaces", () => {
  beforeAll(async () => {
    lab = await Lab.start();
    await lab.mesh.setPolicy(POLICY);
    const server = await lab.mesh.authKey({ reusable: true, tags: ["tag:server"] });
    const ci = await lab.mesh.authKey({ reusable: true, tags: ["tag:ci"] });
    // web-a runs a SOCKS5 proxy too: a mesh peer must not reach it through forwarding.
    a = await lab.addAgent({ name: "web-a", authKey: server, args: ["--socks5", "1055"] });
    b = await lab.addAgent({ name: "web-b", authKey: server });
    c = await lab.addAgent({ name: "ci-c", authKey: ci, args: ["--socks5", "1055"] });
    await lab.blockUdp(c, [a, b]);
    // Something to fetch on web-a: a python http.server on its loopback, port 8000, which the
    // agent forwards from the mesh; and another on 8001, outside what ci-c may reach.
    const site = join(lab.dir, "site");
    mkdirSync(site);
    writeFileSync(join(site, "hello.txt"), "hello from web-a\n");
    for (const port of ["8000", "8001"]) {
      void lab.exec(
        a,
        ["python3", "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", site],
        600_000,
      );
    }
    await lab.waitForPath(a, "web-b", "direct");
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it("web-a and web-b see each other direct; ci-c reaches both through the relay", async () => {
    await lab.waitForPath(b, "web-a", "direct");
    await lab.waitForPath(c, "web-a", "relay");
    await lab.waitForPath(c, "web-b", "relay");
    const status = await lab.status(a);
    expect(status.self.name).toBe("web-a");
    expect(status.mode).toBe("userspace");
    const peers = Object.fromEntries(
      // biome-ignore lint/suspicious/noExplicitAny: status JSON
      status.peers.map((p: any) => [p.name, p]),
    );
    expect(Object.keys(peers).sort()).toEqual(["ci-c", "web-b"]);
    expect(peers["web-b"]).toMatchObject({ online: true, path: "direct" });
    expect(peers["web-b"].endpoint).toMatch(
      new RegExp(`^${b.address.replaceAll(".", "\\.")}:\\d+$`),
    );
    // ci-c's pings came and went through the relay: that is the path web-a sees too.
    expect(peers["ci-c"]).toMatchObject({ online: true, path: "relay", endpoint: null });
    // web-a reported its own segment address (with its UDP port) as an endpoint.
    expect(status.endpoints).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${a.address.replaceAll(".", "\\.")}:\\d+$`)),
      ]),
    );
  }, 120_000);

  it("corridor ssh root@NAME -- id by identity where the policy allows; refused where not", async () => {
    const ok = await lab.corridor(a, ["ssh", "root@web-b", "--", "id -un; hostname -I"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    // The command ran inside web-b's namespace: its only address is web-b's.
    expect(ok.stdout).toBe(`root\n${b.address} \n`);
    // The agent got its key from CORRIDOR_AUTH_KEY (lab.addAgent): the session never sees it.
    const env = await lab.corridor(a, ["ssh", "root@web-b", "--", "env"]);
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toMatch(/^USER=root$/m);
    expect(env.stdout).not.toContain("CORRIDOR_AUTH_KEY");

    const refused = await lab.corridor(c, ["ssh", "root@web-a", "--", "id"]);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("ci-c");
    expect(refused.stderr).toMatch(/may not log in as root/);
  }, 60_000);

  it("OpenSSH's ssh through `corridor nc` verifies the published host key, no prompt", async () => {
    const knownHosts = join(lab.dir, "known_hosts");
    const written = await lab.corridor(a, ["ssh-known-hosts", "--write", knownHosts]);
    expect(written.code, written.stderr).toBe(0);
    const proxy = `${process.execPath} ${corridorBin} nc %h %p`;
    const ssh = await run(
      [
        "env",
        `CORRIDOR_SOCKET=${a.socket}`,
        "ssh",
        ...["-F", "/dev/null", "-o", `ProxyCommand=${proxy}`],
        ...["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`],
        ...["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null"],
        "root@web-b",
        "echo ok from $(id -un)",
      ],
      { timeoutMs: 30_000 },
    );
    expect(ssh.stdout).toBe("ok from root\n");
    expect(ssh.code).toBe(0);
    expect(ssh.stderr).not.toMatch(/authenticity|Warning: Permanently added/);
  }, 60_000);

  it("a peer's connection to an agent's own SOCKS5 port is refused; its other ports forward", async () => {
    // The policy lets web-b reach every port of web-a, 1055 (web-a's proxy, on its loopback)
    // included: inbound forwarding still answers RST there (else web-b would dial as web-a).
    const own = await lab.corridor(b, ["nc", "web-a", "1055"]);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/refused/);
    const other = await lab.corridor(b, ["nc", "web-a", "8000"]);
    expect(other.stderr).toBe("");
    expect(other.code).toBe(0);
  }, 60_000);

  it("curl --socks5-hostname reaches web-a's http.server by name; a port outside the policy is dropped", async () => {
    const got = await lab.exec(c, [
      "curl",
      ...["-sS", "--max-time", "30", "--socks5-hostname", "127.0.0.1:1055"],
      "http://web-a:8000/hello.txt",
    ]);
    expect(got.stderr).toBe("");
    expect(got.stdout).toBe("hello from web-a\n");
    // web-a listens on 8001 too, but the policy lets ci-c reach 22 and 8000 only: web-a's
    // packet filter drops the SYN, so the proxy's dial (10 s) outlasts curl's --max-time and
    // curl ends with exit 28 (timed out), not 7 or 97 (refused: RST, what a closed port answers).
    const dropped = await lab.exec(c, [
      "curl",
      ...["-sS", "--max-time", "4", "--socks5-hostname", "127.0.0.1:1055"],
      "http://web-a:8001/hello.txt",
    ]);
    expect(dropped.stdout).toBe("");
    expect(dropped.code, dropped.stderr).toBe(28);
  }, 90_000);
});
