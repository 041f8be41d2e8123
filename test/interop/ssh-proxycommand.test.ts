// OpenSSH's own `ssh` client logs in to OpenSSH's `sshd` inside a wireguard-go namespace with
// `-o ProxyCommand='corridor nc --wg-config F %h %p'`: the real CLI in a child process carries
// the SSH connection over our userspace TCP through the tunnel. OpenSSH exercises our TCP
// (handshake, interactive round trips, a bulk transfer, half-close), not our SSH.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { startRelay } from "../../server/relay/index.ts";
import { UdpBridge } from "../../server/relay/udp-bridge.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { check, describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { privateMountChecks, privateMountsArgv } from "../ssh/fixtures/test-account.ts";
import { writeOurWgConfig } from "./our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "./wg-host.ts";
import { killAndWait, must } from "./wg-tools.ts";

const SSHD = "/usr/sbin/sshd";
const SSH = "/usr/bin/ssh";
const SSH_KEYGEN = "/usr/bin/ssh-keygen";
const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

const need = prereq(
  ...wgHostPrereq().missing.map((what) => check(what, false)),
  executable(SSHD),
  executable(SSH),
  executable(SSH_KEYGEN),
  ...privateMountChecks(),
);

interface Output {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Runs a command (no shell) with binary input and a timeout (then SIGKILL); never rejects. */
function runBinary(cmd: readonly string[], input: Uint8Array, timeoutMs: number): Promise<Output> {
  return new Promise((resolve) => {
    const [file, ...args] = cmd;
    const child = spawn(file ?? SSH, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr: `${stderr}${error.message}`, code: null });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr, code });
    });
    child.stdin.on("error", () => {}); // ssh may exit before reading everything
    child.stdin.end(input);
  });
}

/** Resolves once `child` has printed `text` on stderr; rejects on exit or after `timeoutMs`. */
function waitForStderr(child: ChildProcess, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => done(new Error(`no "${text}" in ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8");
      if (seen.includes(text)) done();
    };
    const onExit = () => done(new Error("exited"));
    const done = (error?: Error) => {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(new Error(`sshd: ${error.message}; its stderr:\n${seen}`));
      else resolve(seen);
    };
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}

describeWithPrereq(need, "OpenSSH through `corridor nc` as ProxyCommand", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let host: WgHost;
  let sshArgs: string[];
  let sshdLog = "";
  let dir = "";

  beforeAll(async () => {
    // Our WireGuard side: a fresh key, and a wg-quick file naming the host as its peer.
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
    host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" } });
    cleanups.push(() => host.close());
    dir = mkdtempSync(join(tmpdir(), "corridor-ssh-"));
    const made = dir;
    cleanups.push(() => rmSync(made, { recursive: true, force: true }));
    const wgConfig = writeOurWgConfig(dir, privateKey, host);

    // Throwaway keys: the server's host key and the client's login key.
    const hostKey = join(dir, "ssh_host_ed25519_key");
    const clientKey = join(dir, "id_ed25519");
    for (const [file, comment] of [
      [hostKey, "corridor-test-host"],
      [clientKey, "corridor-test-client"],
    ] as const) {
      await must([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
    }
    const authorizedKeys = join(dir, "authorized_keys");
    writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    const knownHosts = join(dir, "known_hosts");
    const hostPub = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/);
    writeFileSync(knownHosts, `${host.tunnelAddress} ${hostPub[0]} ${hostPub[1]}\n`);

    // sshd bound to the tunnel address only; public-key login for root, nothing else.
    // OpenSSH 9.2 always separates privileges: it needs the `sshd` user and /run/sshd, which
    // it gets in a private mount namespace (the host's /run is left alone).
    const sshdConfig = join(dir, "sshd_config");
    writeFileSync(
      sshdConfig,
      [
        `ListenAddress ${host.tunnelAddress}:22`,
        `HostKey ${hostKey}`,
        "PidFile none",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        `AuthorizedKeysFile ${authorizedKeys}`,
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    await must(privateMountsArgv(SSHD, ["-t", "-f", sshdConfig])); // outside the netns
    const sshd = host.spawn(privateMountsArgv(SSHD, ["-D", "-e", "-f", sshdConfig]));
    sshd.stderr?.on("data", (chunk: Buffer) => {
      sshdLog = (sshdLog + chunk.toString("utf8")).slice(-32768);
    });
    cleanups.push(() => killAndWait(sshd));
    await waitForStderr(sshd, `Server listening on ${host.tunnelAddress} port 22`, 10_000);

    const proxy = `${process.execPath} ${bin} nc --wg-config ${wgConfig} %h %p`;
    sshArgs = [
      SSH,
      "-F",
      "/dev/null",
      "-i",
      clientKey,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityAgent=none",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "UpdateHostKeys=no",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=20",
      "-o",
      "LogLevel=ERROR",
      "-o",
      `ProxyCommand=${proxy}`,
      `root@${host.tunnelAddress}`,
    ];
  });

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.warn(`cleanup: ${(error as Error).message}`);
      }
    }
  });

  const explain = (result: Output) =>
    `ssh exit ${result.code}\nssh stderr:\n${result.stderr}\nsshd:\n${sshdLog}\nwireguard-go:\n${host.logs().slice(-4000)}`;

  it("logs in with a public key and runs a command", async () => {
    const result = await runBinary(
      [...sshArgs, "echo corridor-$((6*7)); uname -s"],
      new Uint8Array(0),
      45_000,
    );
    expect(result.stdout.toString("utf8"), explain(result)).toBe("corridor-42\nLinux\n");
    expect(result.code, explain(result)).toBe(0);
  });

  it("carries 8 MiB to the server intact (sha-256 computed by the server)", async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const expected = createHash("sha256").update(data).digest("hex");
    const result = await runBinary([...sshArgs, "sha256sum"], data, 55_000);
    expect(result.stdout.toString("utf8"), explain(result)).toBe(`${expected}  -\n`);
    expect(result.code, explain(result)).toBe(0);
  });

  it("carries 8 MiB from the server intact", async () => {
    // The namespace shares our filesystem: the server sends a file we wrote.
    const data = randomBytes(8 * 1024 * 1024);
    const blob = join(dir, "blob");
    writeFileSync(blob, data);
    const result = await runBinary([...sshArgs, `cat ${blob}`], new Uint8Array(0), 55_000);
    expect(result.stdout.length, explain(result)).toBe(data.length);
    expect(createHash("sha256").update(result.stdout).digest("hex"), explain(result)).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    expect(result.code, explain(result)).toBe(0);
  });

  it("through the relay's UDP bridge, the same SSH session survives a relay restart", async () => {
    const allow = [`${host.hostAddress}/32:${host.listenPort}`];
    let bridge = new UdpBridge({ allow });
    let relay = await startRelay({
      auth: { mode: "open" },
      relayId: "ssh-relay",
      udpBridge: bridge,
      log: () => {},
    });
    const port = relay.port;
    const url = relay.url;
    let stopSsh = async () => {};
    try {
      const args = sshArgs.map((arg) =>
        arg.startsWith("ProxyCommand=")
          ? arg.replace(" nc --wg-config", ` nc --relay ${url} --wg-config`)
          : arg,
      );
      const child = spawn(
        args[0]!,
        [...args.slice(1), "for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      // However the test ends, ssh (and the ProxyCommand under it) does not outlive it.
      stopSsh = () => killAndWait(child);
      let stdout = "";
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      // The session is up and printing before the relay goes away.
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes("tick 2")) resolve();
        });
        void exited.then((code) =>
          reject(new Error(`ssh exited (${code}) before tick 2; stdout ${stdout}; ${stderr}`)),
        );
      });
      // Restart the relay on the same port: clients are told to come back in 300 ms.
      await relay.close({ restarting: { reconnectInMs: 300, tryForMs: 30_000 } });
      bridge.close();
      bridge = new UdpBridge({ allow });
      relay = await startRelay({
        auth: { mode: "open" },
        relayId: "ssh-relay",
        udpBridge: bridge,
        port,
        log: () => {},
      });
      const code = await exited;
      expect(stdout, `ssh stderr: ${stderr}`).toBe(
        "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6\n",
      );
      expect(code, `ssh stderr: ${stderr}`).toBe(0);
    } finally {
      await stopSsh();
      await relay.close();
      bridge.close();
    }
  }, 90_000);
});
