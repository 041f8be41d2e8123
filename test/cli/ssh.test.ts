// `corridor ssh` and `corridor ssh-keygen` as a person runs them, in child processes, against
// OpenSSH's sshd: a key made by our ssh-keygen logs in, known_hosts is written in OpenSSH's
// format (ssh-keygen -F finds the entry) and enforced, passwords come through SSH_ASKPASS,
// stdin is piped, the exit status is the command's, an interactive session in a real pty
// (node-pty) follows window-size changes, and the same runs through the WireGuard mesh to a
// wireguard-go host (sshd and Dropbear inside its namespace).

import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pty from "node-pty";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { writeOurWgConfig } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import {
  dropbearPrereq,
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startDropbear,
  startSshd,
  TEST_PASSWORD,
  TEST_USER,
} from "../ssh/fixtures/servers.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

interface Run {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

function corridor(
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string> } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr, code });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? new Uint8Array(0));
  });
}

describeWithPrereq(sshdPrereq, "corridor ssh and ssh-keygen against sshd", () => {
  let server: SshServer;
  let dir: string;
  let key: string;
  let common: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-cli-ssh-"));
    key = join(dir, "id_ed25519");
    const made = await corridor([
      "ssh-keygen",
      "-t",
      "ed25519",
      "-f",
      key,
      "-N",
      "",
      "-C",
      "cli-test",
    ]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    expect(made.stdout.toString()).toMatch(/SHA256:\S+ cli-test/);
    // OpenSSH reads our private key and derives the same public key.
    const derived = execFileSync("ssh-keygen", ["-y", "-f", key]).toString().trim();
    const two = (line: string) => line.trim().split(" ").slice(0, 2).join(" ");
    expect(two(readFileSync(`${key}.pub`, "utf8"))).toBe(two(derived));
    ensureTestUser([readFileSync(`${key}.pub`, "utf8").trim()]);
    server = await startSshd();
    common = [
      "-p",
      String(server.port),
      "-i",
      key,
      "-o",
      `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    ];
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to overwrite a key and explains bad options", async () => {
    const again = await corridor(["ssh-keygen", "-f", key, "-N", ""]);
    expect([again.code, again.stderr]).toEqual([
      1,
      `corridor ssh-keygen: ${key} already exists; not overwriting it\n`,
    ]);
    const bad = await corridor(["ssh", "-o", "StrictHostKeyChecking=maybe", "host"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /StrictHostKeyChecking: expected yes, accept-new, no or ask, got maybe/,
    );
  });

  it("learns the host key (accept-new) in OpenSSH's format, then runs commands with their exit status", async () => {
    const yes = await corridor([
      "ssh",
      ...common,
      "-o",
      "StrictHostKeyChecking=yes",
      `${TEST_USER}@127.0.0.1`,
      "true",
    ]);
    expect(yes.code).toBe(255);
    expect(yes.stderr).toMatch(
      /host key ssh-ed25519 SHA256:\S+ for \[127.0.0.1\]:\d+ is not known and was not accepted/,
    );

    const first = await corridor([
      "ssh",
      ...common,
      "-o",
      "StrictHostKeyChecking=accept-new",
      `${TEST_USER}@127.0.0.1`,
      "--",
      "echo hi from $(id -un); exit 3",
    ]);
    expect(first.stdout.toString()).toBe(`hi from ${TEST_USER}\n`);
    expect(first.code).toBe(3);
    expect(first.stderr).toMatch(/Permanently added '127.0.0.1' \(ssh-ed25519\)/);
    const found = execFileSync("ssh-keygen", [
      "-F",
      `[127.0.0.1]:${server.port}`,
      "-f",
      join(dir, "known_hosts"),
    ]).toString();
    expect(found).toContain(server.hostKeys.get("ssh-ed25519")!.split(" ")[1]);

    const piped = randomBytes(8 * 1024 * 1024);
    const sum = await corridor(
      ["ssh", ...common, "-o", "StrictHostKeyChecking=yes", `${TEST_USER}@127.0.0.1`, "sha256sum"],
      { input: piped },
    );
    expect(sum.stdout.toString().split(" ")[0]).toBe(
      createHash("sha256").update(piped).digest("hex"),
    );
    expect(sum.code).toBe(0);
  }, 60_000);

  it("refuses a changed host key with both fingerprints", async () => {
    const file = join(dir, "known_hosts_changed");
    const other = join(dir, "other");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    writeFileSync(
      file,
      `[127.0.0.1]:${server.port} ${readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ")}\n`,
    );
    const r = await corridor([
      "ssh",
      "-p",
      String(server.port),
      "-i",
      key,
      "-o",
      `UserKnownHostsFile=${file}`,
      "-o",
      "HostKeyAlgorithms=ssh-ed25519",
      `${TEST_USER}@127.0.0.1`,
      "true",
    ]);
    expect(r.code).toBe(255);
    const fingerprints = [
      server.hostKeys.get("ssh-ed25519")!,
      readFileSync(`${other}.pub`, "utf8"),
    ].map(
      (line) =>
        execFileSync("ssh-keygen", ["-l", "-f", "-"], { input: line }).toString().split(" ")[1]!,
    );
    expect(r.stderr).toContain("HAS CHANGED");
    for (const f of fingerprints) expect(r.stderr).toContain(f);
  }, 30_000);

  it("asks for the password through SSH_ASKPASS", async () => {
    const askpass = join(dir, "askpass.sh");
    writeFileSync(
      askpass,
      `#!/bin/sh\necho "$1" >> ${join(dir, "asked")}\necho '${TEST_PASSWORD}'\n`,
    );
    chmodSync(askpass, 0o755);
    const r = await corridor(
      [
        "ssh",
        "-p",
        String(server.port),
        "-o",
        `UserKnownHostsFile=${join(dir, "known_hosts")}`,
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-i",
        "/dev/null",
        `${TEST_USER}@127.0.0.1`,
        "echo by-password",
      ],
      {
        env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", HOME: dir },
      },
    );
    expect(r.stdout.toString()).toBe("by-password\n");
    expect(readFileSync(join(dir, "asked"), "utf8")).toMatch(/password/i);
  }, 30_000);

  it("runs an interactive shell in a real terminal and follows its size", async () => {
    const term = pty.spawn(
      process.execPath,
      [bin, "ssh", ...common, "-o", "StrictHostKeyChecking=accept-new", `${TEST_USER}@127.0.0.1`],
      {
        cols: 101,
        rows: 29,
        env: { ...process.env, TERM: "xterm-256color" } as Record<string, string>,
      },
    );
    let screen = "";
    term.onData((d) => (screen += d));
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 400 && !pattern.test(screen); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(screen, JSON.stringify(screen)).toMatch(pattern);
    };
    const exited = new Promise<number>((resolve) =>
      term.onExit(({ exitCode }) => resolve(exitCode)),
    );
    term.write("stty size; echo mark-$((6*7))\r");
    await waitFor(/29 101\r?\n(.|\n)*mark-42/);
    term.resize(88, 33);
    // SIGWINCH and the typed command reach `corridor ssh` by separate paths, so the first
    // `stty size` may still see the old size: ask again until the new one shows (each answer
    // is awaited; the marker is computed by the shell, so the echoed command never matches).
    let size = "";
    for (let ask = 1; ask <= 20 && size !== "33 88"; ask++) {
      term.write(`stty size; echo asked-$((${ask}*1000))\r`);
      const answer = new RegExp(`(\\d+ \\d+)\\r?\\nasked-${ask * 1000}\\b`);
      await waitFor(answer);
      size = answer.exec(screen)?.[1] ?? "";
    }
    expect(size).toBe("33 88");
    term.write("exit 5\r");
    expect(await exited).toBe(5);
  }, 30_000);
});

const meshNeed = prereq(
  ...[...wgHostPrereq().missing, ...sshdPrereq.missing, ...dropbearPrereq.missing].map((what) =>
    check(what, false),
  ),
);

describeWithPrereq(meshNeed, "corridor ssh through the WireGuard mesh", () => {
  let host: WgHost;
  let dir: string;
  let config: string;
  let key: string;
  const servers: SshServer[] = [];

  beforeAll(async () => {
    const privateKey = generatePrivateKey();
    host = await createWgHost({
      peer: {
        publicKey: keyToBase64(await nodeX25519.publicKey(privateKey)),
        allowedIps: "100.64.0.1/32",
      },
    });
    dir = mkdtempSync(join(tmpdir(), "corridor-mesh-ssh-"));
    config = writeOurWgConfig(dir, privateKey, host);
    key = join(dir, "id_ecdsa");
    expect(
      (await corridor(["ssh-keygen", "-t", "ecdsa", "-f", key, "-N", "", "-C", "mesh"])).code,
    ).toBe(0);
    ensureTestUser([readFileSync(`${key}.pub`, "utf8").trim()]);
    servers.push(await startSshd({ netns: host.namespace, listen: host.tunnelAddress, port: 22 }));
    servers.push(
      await startDropbear({ netns: host.namespace, listen: host.tunnelAddress, port: 2222 }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.stop();
    await host?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs commands on sshd and Dropbear behind wireguard-go and moves 8 MiB", async () => {
    for (const server of servers) {
      const data = randomBytes(8 * 1024 * 1024);
      const r = await corridor(
        [
          "ssh",
          "--wg-config",
          config,
          "-p",
          String(server.port),
          "-i",
          key,
          "-o",
          `UserKnownHostsFile=${join(dir, "kh")}`,
          "-o",
          "StrictHostKeyChecking=accept-new",
          `${TEST_USER}@${host.tunnelAddress}`,
          "--",
          "sha256sum; exit 4",
        ],
        { input: data },
      );
      expect(r.stdout.toString().split(" ")[0], `${server.kind}: ${r.stderr}`).toBe(
        createHash("sha256").update(data).digest("hex"),
      );
      expect(r.code).toBe(4);
    }
  }, 120_000);

  it("reaches sshd through the relay's UDP bridge (--relay)", async () => {
    const relay = await startRelay({
      auth: { mode: "open" },
      relayId: "cli-ssh",
      udpBridge: new UdpBridge({ allow: [`${host.hostAddress}/32:${host.listenPort}`] }),
      log: () => {},
    });
    try {
      const r = await corridor([
        "ssh",
        "--wg-config",
        config,
        "--relay",
        relay.url,
        "-i",
        key,
        "-o",
        `UserKnownHostsFile=${join(dir, "kh-relay")}`,
        "-o",
        "StrictHostKeyChecking=accept-new",
        `${TEST_USER}@${host.tunnelAddress}`,
        "--",
        "echo via-relay",
      ]);
      expect(r.stdout.toString(), r.stderr).toBe("via-relay\n");
      expect(r.code).toBe(0);
    } finally {
      await relay.close();
    }
  }, 60_000);
});
