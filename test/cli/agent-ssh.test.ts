// SSH through the local agent to a real OpenSSH sshd, the fake agent's dialer connecting the
// mesh name to it (agent-fake.ts): `corridor ssh USER@NAME` checks the host key the map
// publishes (no prompt, nothing written; another key is the hard stop; a host the map does not
// list goes over TCP, one it lists without keys falls back to known_hosts), and OpenSSH's own ssh
// with `ProxyCommand='corridor nc %h %p'` verifies the key through the known_hosts file that
// `corridor ssh-known-hosts --write` made, with StrictHostKeyChecking=yes.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";
import {
  corridor,
  type FakeAgent,
  type FakePeer,
  type Run,
  runProcess,
  startFakeAgent,
} from "./agent-fake.ts";

const SSH = "/usr/bin/ssh";
const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const need = prereq(...sshdPrereq.missing.map((what) => ({ what, ok: false })), executable(SSH));

/** Runs OpenSSH's ssh with `args`; SIGKILL after 60 s (a hang guard). */
function ssh(args: string[], env: Record<string, string>): Promise<Run> {
  return runProcess(SSH, args, { env });
}

describeWithPrereq(need, "SSH through the local agent to sshd", () => {
  let server: SshServer;
  let dir: string;
  let key: string;
  let agent: FakeAgent;
  let impostor: FakeAgent;
  let keyless: FakeAgent;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-agent-ssh-"));
    key = join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    ensureTestUser([readFileSync(`${key}.pub`, "utf8").trim()]);
    server = await startSshd();
    const peer: FakePeer = {
      name: "sshd-host",
      address: "100.64.0.9",
      ports: { 22: server.port },
      hostKeys: [...server.hostKeys.values()],
      rttMs: 1,
    };
    agent = await startFakeAgent([peer]);
    // The same host, but the map publishes another ed25519 key than sshd's.
    const other = join(dir, "other");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    keyless = await startFakeAgent([{ ...peer, hostKeys: [] }]);
    impostor = await startFakeAgent([
      { ...peer, hostKeys: [readFileSync(`${other}.pub`, "utf8").trim()] },
    ]);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await impostor?.stop();
    await keyless?.stop();
    await server?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("corridor ssh USER@NAME logs in, trusting the map's host key without a prompt", async () => {
    const knownHosts = join(dir, "untouched_known_hosts");
    const run = await corridor(
      [
        "ssh",
        "-i",
        key,
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        `${TEST_USER}@sshd-host`,
        "--",
        "echo hi from $(id -un); exit 4",
      ],
      // Found by $CORRIDOR_SOCKET: the map lists sshd-host, so the agent carries it.
      { env: { CORRIDOR_SOCKET: agent.socket } },
    );
    expect(run.stdout.toString()).toBe(`hi from ${TEST_USER}\n`);
    expect(run.code).toBe(4);
    expect(run.stderr).toBe("");
    expect(agent.dials.at(-1)).toEqual({ host: "sshd-host", port: 22 });
    // The map's keys are the trust: the user's known_hosts was not written.
    expect(() => readFileSync(knownHosts)).toThrow(/ENOENT/);
  });

  it("refuses a host whose key is not the one the map publishes", async () => {
    const run = await corridor([
      "ssh",
      "--socket",
      impostor.socket,
      "-i",
      key,
      `${TEST_USER}@sshd-host`,
      "true",
    ]);
    expect(run.code).toBe(255);
    expect(run.stderr).toMatch(/HOST KEY FOR sshd-host HAS CHANGED: the server sent ssh-ed25519/);
  });

  it("a host the map does not list goes over plain TCP; one without published keys uses known_hosts", async () => {
    const knownHosts = join(dir, "tcp_known_hosts");
    const tcp = await corridor(
      [
        "ssh",
        "-p",
        String(server.port),
        "-i",
        key,
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "StrictHostKeyChecking=accept-new",
        `${TEST_USER}@127.0.0.1`,
        "echo over tcp",
      ],
      { env: { CORRIDOR_SOCKET: agent.socket } },
    );
    expect(tcp.stdout.toString()).toBe("over tcp\n");
    expect(tcp.code).toBe(0);
    expect(agent.dials.some((d) => d.host === "127.0.0.1")).toBe(false);
    // sshd-host through an agent whose map publishes no key for it: the file decides.
    const dialsBefore = keyless.dials.length;
    const run = await corridor([
      "ssh",
      "--socket",
      keyless.socket,
      "-i",
      key,
      "-o",
      `UserKnownHostsFile=${join(dir, "keyless_known_hosts")}`,
      "-o",
      "StrictHostKeyChecking=yes",
      `${TEST_USER}@sshd-host`,
      "true",
    ]);
    expect(keyless.dials.length).toBe(dialsBefore + 1);
    expect(run.code).toBe(255);
    expect(run.stderr).toMatch(
      /host key ssh-ed25519 SHA256:\S+ for sshd-host is not known and was not accepted/,
    );
  });

  it("OpenSSH through `corridor nc %h %p` verifies the key from `corridor ssh-known-hosts`", async () => {
    const knownHosts = join(dir, "known_hosts");
    const written = await corridor(["ssh-known-hosts", "--write", knownHosts], {
      env: { CORRIDOR_SOCKET: agent.socket },
    });
    expect(written.code).toBe(0);
    const proxy = `${process.execPath} ${bin} nc %h %p`;
    // OpenSSH with no config, reaching sshd-host through `corridor nc`, its host key checked
    // against `knownHostsFile` only.
    const sshThroughNc = (knownHostsFile: string, options: string[], command: string) =>
      ssh(
        [
          "-F",
          "/dev/null",
          "-o",
          `ProxyCommand=${proxy}`,
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          `UserKnownHostsFile=${knownHostsFile}`,
          "-o",
          "BatchMode=yes",
          ...options,
          "-i",
          key,
          `${TEST_USER}@sshd-host`,
          command,
        ],
        { CORRIDOR_SOCKET: agent.socket },
      );
    const run = await sshThroughNc(
      knownHosts,
      ["-o", "IdentitiesOnly=yes"],
      "echo ok from $(id -un)",
    );
    expect(run.stdout.toString()).toBe(`ok from ${TEST_USER}\n`);
    expect(run.code).toBe(0);
    // And without that file, the same command is refused: the known_hosts line is what verified.
    const refused = await sshThroughNc(join(dir, "empty_known_hosts"), [], "true");
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Host key verification failed/);
  });
});
