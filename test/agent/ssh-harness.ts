// The identity SSH server on loopback for tests: a node:net server whose connections go to
// IdentitySshServer.handle() (as the agent's mesh listener does), a fake MeshIdentity whose
// peers and rules a test sets, the log lines collected, and the real OpenSSH client run
// against it with the host key pinned in a known_hosts file (no prompt, no first use).

import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { utils as sshUtils } from "ssh2";
import type { RunAs } from "../../server/agent/ssh/access.ts";
import { type IdentitySshOptions, IdentitySshServer } from "../../server/agent/ssh/server.ts";
import { passwdFileDirectory } from "../../server/agent/ssh/users.ts";
import { generateHostKey } from "../../server/agent/state-dir.ts";
import type { MeshIdentity } from "../../server/agent/types.ts";
import { createLogger } from "../../server/log.ts";
import type { PeerView, SshRule } from "../../worker/control/types.ts";
import { executable, prereq, root } from "../helpers/prereq.ts";

/** What the OpenSSH tests need on this machine. */
export const sshPrereq = () =>
  prereq(
    root(),
    executable("/usr/bin/ssh"),
    executable("/usr/bin/sftp"),
    executable("/usr/lib/openssh/sftp-server"),
    executable("/usr/bin/setpriv"),
  );

/** The alias the host key is pinned under in known_hosts (the port does not matter then). */
export const HOST_ALIAS = "corridor-agent-test";
/** A local account that exists only in the harness's passwd file: uid/gid 65534, a real shell. */
export const OTHER_USER = "corridor-other";
export const OTHER_UID = 65534;
export const CHECK_URL = "http://control.test/login/check";

/** A peer of the fake map: alice's laptop, unless overridden. */
export function peer(overrides: Partial<PeerView> = {}): PeerView {
  return {
    id: 3,
    key: "bGFwdG9wLWtleS1sYXB0b3Ata2V5LWxhcHRvcC1rZXk=",
    name: "laptop",
    addresses: ["127.0.0.1", "fd7a:115c:a1e0::3"],
    user: { id: 1, name: "Alice", email: "alice@example.com", signedInAt: null },
    tags: [],
    hostname: "laptop",
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: "",
    ...overrides,
  };
}

/** A MeshIdentity whose peers and rules the test changes as the map would. */
export class FakeIdentity implements MeshIdentity {
  peers: PeerView[] = [peer()];
  rules: SshRule[] = [];
  peerByAddress(address: string): PeerView | undefined {
    return this.peers.find((p) => p.addresses.includes(address));
  }
  sshRules(): readonly SshRule[] {
    return this.rules;
  }
}

/** Result of one OpenSSH client run. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The running server and what tests reach it with. */
export class SshHarness {
  readonly identity = new FakeIdentity();
  readonly logs: Record<string, unknown>[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "corridor-ssh-agent-"));
  /** Home of OTHER_USER: a directory it can enter. */
  readonly otherHome = join(this.dir, "other-home");
  readonly knownHosts = join(this.dir, "known_hosts");
  readonly publicLine: string;
  port = 0;
  server!: IdentitySshServer;
  private listener!: Server;

  private constructor(readonly privateKey: string) {
    const parsed = sshUtils.parseKey(privateKey);
    if (parsed instanceof Error) throw parsed;
    this.publicLine = `ssh-ed25519 ${parsed.getPublicSSH().toString("base64")}`;
  }

  /** Starts the server; `options` override the harness defaults. */
  static async start(
    options: Partial<IdentitySshOptions> & { runAs?: RunAs; webStreams?: boolean } = {},
  ): Promise<SshHarness> {
    // state-dir.ts's generator, as the agent makes its key (ssh2's drops a leading zero byte
    // of about one public key in 256).
    const h = new SshHarness(generateHostKey());
    writeFileSync(h.knownHosts, `${HOST_ALIAS} ${h.publicLine}\n`);
    writeFileSync(
      join(h.dir, "passwd"),
      [
        "root:x:0:0:root:/root:/bin/bash",
        `${OTHER_USER}:x:${OTHER_UID}:${OTHER_UID}:other:${h.otherHome}:/bin/sh`,
        "",
      ].join("\n"),
    );
    mkdirSync(h.otherHome);
    chmodSync(h.dir, 0o755);
    chmodSync(h.otherHome, 0o777);
    const log = createLogger({
      level: "debug",
      sink: (line) => h.logs.push(JSON.parse(line) as Record<string, unknown>),
    });
    h.server = new IdentitySshServer({
      hostKey: h.privateKey,
      identity: h.identity,
      checkUrl: CHECK_URL,
      runAs: "any",
      log,
      users: passwdFileDirectory(join(h.dir, "passwd")),
      ...options,
    });
    h.listener = createServer((socket) => {
      // The mesh stack gives plain addresses; loopback may show IPv4-mapped IPv6.
      const address = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
      // webStreams: a Duplex over WHATWG streams, as the agent hands over a mesh TCP
      // connection (mesh-access.ts connectionStream), with none of a socket's methods.
      const stream = options.webStreams === true ? Duplex.fromWeb(Duplex.toWeb(socket)) : socket;
      h.server.handle(stream, { address, port: socket.remotePort ?? 0 });
    });
    await new Promise<void>((resolve) => h.listener.listen(0, "127.0.0.1", resolve));
    const bound = h.listener.address();
    if (bound === null || typeof bound === "string") throw new Error("no port");
    h.port = bound.port;
    return h;
  }

  /** OpenSSH's common options: pinned host key, batch mode, no user config. */
  sshOptions(): string[] {
    return [
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${this.knownHosts}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `HostKeyAlias=${HOST_ALIAS}`,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityFile=/dev/null",
      "-o",
      "ConnectTimeout=20",
    ];
  }

  /** Runs `ssh [extra] user@127.0.0.1 [command]` with `input` on its stdin. */
  ssh(
    user: string,
    args: string[],
    input = "",
    env: Record<string, string> = {},
  ): Promise<RunResult> {
    return run(
      "/usr/bin/ssh",
      [
        ...this.sshOptions(),
        "-p",
        String(this.port),
        ...args.slice(0, -1),
        `${user}@127.0.0.1`,
        ...args.slice(-1),
      ],
      input,
      env,
    );
  }

  /** Runs `sftp -b batch user@127.0.0.1`. */
  sftp(user: string, batch: string): Promise<RunResult> {
    const file = join(this.dir, "batch");
    writeFileSync(file, batch);
    return run(
      "/usr/bin/sftp",
      [...this.sshOptions(), "-P", String(this.port), "-b", file, `${user}@127.0.0.1`],
      "",
    );
  }

  /** The log events named `event`. */
  events(event: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l.event === event);
  }

  async stop(): Promise<void> {
    this.server.close();
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs a program to its end (hang guard: 60 s, then killed and rejected). */
export function run(
  file: string,
  args: string[],
  input: string,
  env: Record<string, string> = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${file} ${args.join(" ")} still running after 60 s; stderr: ${stderr}`));
    }, 60_000);
    child.on("error", (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}
