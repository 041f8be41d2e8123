// Issue 14's TUN test on real hosts (DESIGN §5): `corridor agent --tun IFACE` in a network
// namespace brings up a wireguard-go interface with its mesh addresses, and the host's own
// OpenSSH server, listening on that mesh address (no forwarding, no identity SSH), answers an
// engine node: a userspace agent in another namespace, through which OpenSSH's ssh connects with
// ProxyCommand='corridor nc %h %p', verifying sshd's host key from a known_hosts line. SIGTERM
// then removes the interface.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { wgHostPrereq } from "../interop/wg-host.ts";
import { run, WG_TOOLS } from "../interop/wg-tools.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";
import { CorridorProcess, corridorBin } from "./agent-harness.ts";
import { LAB_PREREQ, Lab, type LabHost } from "./lab.ts";

const POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [{ "action": "accept", "src": ["tag:server"], "dst": ["tag:server:*"] }],
}`;

const need = prereq(
  ...[LAB_PREREQ, wgHostPrereq(), sshdPrereq].flatMap((p) =>
    p.missing.map((what) => ({ what, ok: false })),
  ),
);

let lab: Lab;
let a: LabHost;
let tun: { netns: string; iface: string; agent: CorridorProcess; meshV4: string };
let sshd: SshServer;
let userKey: string;

describeWithPrereq(need, "corridor agent --tun", () => {
  beforeAll(async () => {
    lab = await Lab.start();
    await lab.mesh.setPolicy(POLICY);
    const key = await lab.mesh.authKey({ reusable: true, tags: ["tag:server"] });
    a = await lab.addAgent({ name: "engine-a", authKey: key });
    const { netns } = await lab.addNamespace();
    const iface = `${lab.stem}t`;
    const agent = new CorridorProcess(
      [
        "agent",
        ...["--server", lab.mesh.baseUrl, "--hostname", "tun-host", "--tun", iface],
        ...["--state", join(lab.dir, "tun-host")],
      ],
      // wireguard-go, whatever the host's kernel offers (the TUN test is about it).
      { netns, env: { CORRIDOR_AUTH_KEY: key, CORRIDOR_TUN_IMPLEMENTATION: "wireguard-go" } },
    );
    const joined = await agent.waitFor(/joined \S+ as tun-host \((100\.[\d.]+), /);
    tun = { netns, iface, agent, meshV4: joined[1]! };
    // The host's own sshd on its mesh address, inside the TUN host's namespace.
    userKey = join(lab.dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", userKey]);
    ensureTestUser([readFileSync(`${userKey}.pub`, "utf8")]);
    sshd = await startSshd({ netns, listen: tun.meshV4, hostKeyTypes: ["ed25519"] });
  }, 180_000);

  afterAll(async () => {
    await sshd?.stop();
    await tun?.agent.stop("SIGKILL");
    await lab?.close();
  }, 60_000);

  it("the interface is wireguard-go's: a TUN device with its UAPI socket", async () => {
    const link = await run([WG_TOOLS.ip, "-d", "-n", tun.netns, "link", "show", tun.iface]);
    expect(link.code).toBe(0);
    expect(link.stdout).toMatch(/\btun\b/);
    expect(link.stdout).not.toMatch(/\bwireguard\b/);
    expect(existsSync(`/var/run/wireguard/${tun.iface}.sock`)).toBe(true);
  });

  it("the host's own OpenSSH answers an engine node over the TUN interface", async () => {
    expect(tun.agent.stdout).toContain(
      `TUN mode: interface ${tun.iface} carries the mesh addresses`,
    );
    const knownHosts = join(lab.dir, "tun_known_hosts");
    writeFileSync(knownHosts, `[tun-host]:${sshd.port} ${sshd.hostKeys.get("ssh-ed25519")}\n`);
    const proxy = `${process.execPath} ${corridorBin} nc %h %p`;
    const ssh = await run(
      [
        "env",
        `CORRIDOR_SOCKET=${a.socket}`,
        "ssh",
        ...["-F", "/dev/null", "-p", String(sshd.port), "-o", `ProxyCommand=${proxy}`],
        ...["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`],
        ...["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", userKey],
        `${TEST_USER}@tun-host`,
        "echo ok from $(id -un) on $SSH_CONNECTION",
      ],
      { timeoutMs: 60_000 },
    );
    expect(ssh.stderr).toBe("");
    expect(ssh.code).toBe(0);
    // sshd saw the engine node's mesh address as the client and its own mesh address as local.
    expect(ssh.stdout).toMatch(
      new RegExp(
        `^ok from ${TEST_USER} on ${a.meshV4.replaceAll(".", "\\.")} \\d+ ${tun.meshV4.replaceAll(".", "\\.")} ${sshd.port}\\n$`,
      ),
    );
    const status = await lab.corridor(a, ["status", "--json"]);
    expect(JSON.parse(status.stdout).peers.map((p: { name: string }) => p.name)).toEqual([
      "tun-host",
    ]);
  }, 120_000);

  it("without an auth key, corridor status answers at once: waiting, with the approval URL", async () => {
    const { netns } = await lab.addNamespace();
    const socket = join(lab.dir, "tun-waiting.sock");
    const waiting = new CorridorProcess(
      [
        "agent",
        ...["--server", lab.mesh.baseUrl, "--hostname", "tun-waiting", "--tun", `${lab.stem}u`],
        ...["--state", join(lab.dir, "tun-waiting"), "--socket", socket],
      ],
      { netns, env: { CORRIDOR_TUN_IMPLEMENTATION: "wireguard-go" } },
    );
    try {
      const url = (await waiting.waitFor(/must open (\S+)/))[1];
      let status: Record<string, unknown> = {};
      for (let tries = 0; tries < 100 && status.control === undefined; tries++) {
        const asked = new CorridorProcess(["status", "--json", "--socket", socket]);
        if ((await asked.exited) === 0) status = JSON.parse(asked.stdout);
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toMatchObject({
        self: null,
        control: { state: "waiting", url: lab.mesh.baseUrl, approvalUrl: url },
        mode: "tun",
      });
    } finally {
      expect(await waiting.stop("SIGTERM")).toBe(0);
    }
  }, 60_000);

  it("SIGTERM leaves cleanly and removes the interface", async () => {
    expect(await tun.agent.stop("SIGTERM")).toBe(0);
    expect(tun.agent.stdout).toContain("corridor agent: left the mesh\n");
    const link = await run([WG_TOOLS.ip, "-n", tun.netns, "link", "show", tun.iface]);
    expect(link.code).not.toBe(0);
    expect(link.stderr).toMatch(/does not exist/);
  }, 60_000);
});
