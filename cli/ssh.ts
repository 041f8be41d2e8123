// `corridor ssh`: our SSH client (worker/ssh) from a terminal, over plain TCP, through the
// local agent (a host its map lists; docs/cli-agent.md), or through the WireGuard mesh of a
// wg-quick file (--wg-config, --relay). Interactive with a raw TTY that follows the window
// size, or running a command with its exit status as ours. Host keys are checked against the
// keys the agent's map publishes for the host, else OpenSSH's known_hosts file, which it also
// updates.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { nodeX25519 } from "../server/crypto/x25519-node.ts";
import { type MeshNet, startMeshNet } from "../server/mesh-net.ts";
import { connectTcp, socketByteStream } from "../server/ssh/node-stream.ts";
import { loadCryptoCore } from "../worker/crypto/index.ts";
import { SshClient } from "../worker/ssh/client.ts";
import { HostKeyError, SshError } from "../worker/ssh/errors.ts";
import { hostKeyVerifier, preferKnownAlgorithms } from "../worker/ssh/host-key-policy.ts";
import { SshKeyError } from "../worker/ssh/keys/errors.ts";
import { parseOpensshPrivateKey } from "../worker/ssh/keys/openssh-private-key.ts";
import type { UserKey } from "../worker/ssh/keys/user-key.ts";
import { KnownHosts, knownHostsName } from "../worker/ssh/known-hosts.ts";
import { SSH_DISCONNECT } from "../worker/ssh/messages.ts";
import type { SshByteStream } from "../worker/ssh/transport.ts";
import { parseIp } from "../worker/wireguard/ip-address.ts";
import { AgentError, agentSocketPath, askAgent, dialThroughAgent } from "./agent-client.ts";
import { formatUsage, UsageError, usageFailure } from "./args.ts";
import { unprotectedFileWarning, writeFileAtomic } from "./files.ts";
import { askSecret, askYesNo, canPrompt } from "./prompt.ts";
import { parseSshArgs, SSH_COMMAND, type SshArgs } from "./ssh-args.ts";

/** ssh(1)'s status for a connection that failed. */
const EXIT_CONNECTION_FAILED = 255;

function warn(message: string): void {
  process.stderr.write(`corridor ssh: ${message}\n`);
}

/** Loads -i files (or the default ones), asking for passphrases where needed. */
async function loadKeys(files: readonly string[]): Promise<UserKey[]> {
  const explicit = files.length > 0;
  const candidates = explicit
    ? files
    : ["id_ed25519", "id_ecdsa"]
        .map((f) => join(homedir(), ".ssh", f))
        .filter((f) => existsSync(f));
  const keys: UserKey[] = [];
  for (const file of candidates) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      warn(`${file}: ${(error as Error).message}`);
      continue;
    }
    const unprotected = unprotectedFileWarning(file, "private key");
    if (unprotected !== null) warn(unprotected);
    try {
      keys.push(parseOpensshPrivateKey(text));
    } catch (error) {
      if (error instanceof SshKeyError && error.code === "passphrase-required") {
        for (let attempt = 0; attempt < 3; attempt++) {
          const passphrase = await askSecret(`Enter passphrase for key '${file}': `);
          if (passphrase === null || passphrase === "") break;
          try {
            keys.push(parseOpensshPrivateKey(text, passphrase));
            break;
          } catch (retry) {
            warn(`${file}: ${(retry as Error).message}`);
          }
        }
      } else if (explicit || !(error instanceof SshKeyError && error.code === "unsupported")) {
        warn(`${file}: ${(error as Error).message}`);
      }
    }
  }
  return keys;
}

/** The way to HOST through the local agent: its socket, and the keys the map publishes. */
interface AgentRoute {
  socket: string;
  /** known_hosts text for HOST (at its port) with the map's keys; "" when it publishes none. */
  knownHosts: string;
}

/**
 * Whether HOST goes through the agent: with --socket always; else when an agent runs and its
 * map lists HOST (other hosts, and every host when no agent runs, go over plain TCP).
 */
async function agentRoute(args: SshArgs): Promise<AgentRoute | null> {
  if (args.wgConfig !== null) return null;
  const socket = agentSocketPath(args.socket ?? undefined);
  let keys: string[];
  try {
    ({ keys } = (await askAgent(socket, { op: "hostKeys", host: args.host })).hostKeys);
  } catch (error) {
    const code = error instanceof AgentError ? error.code : undefined;
    if (args.socket === null && (code === "no-agent" || code === "unknown-host")) return null;
    if (code === "unknown-host") return { socket, knownHosts: "" };
    throw error;
  }
  const name = knownHostsName(args.host, args.port);
  const lines = keys.flatMap((key) => {
    const [type, blob] = key.trim().split(/\s+/);
    return type !== undefined && blob !== undefined ? [`${name} ${type} ${blob}\n`] : [];
  });
  return { socket, knownHosts: lines.join("") };
}

async function openStream(
  args: SshArgs,
  agent: AgentRoute | null,
): Promise<{ stream: SshByteStream; mesh: MeshNet | null }> {
  if (agent !== null) {
    const socket = await dialThroughAgent(
      agent.socket,
      args.host,
      args.port,
      args.connectTimeoutSeconds * 1000,
    );
    return { stream: socketByteStream(socket), mesh: null };
  }
  if (args.wgConfig === null) {
    const stream = await connectTcp(args.host, args.port, args.connectTimeoutSeconds * 1000);
    return { stream, mesh: null };
  }
  const mesh = await startMeshNet(args.wgConfig, { relay: args.relay ?? undefined });
  try {
    const host = parseIp(args.host, `HOST '${args.host}'`);
    const connection = await mesh.net.tcp.connect(mesh.net.sourceFor(host), host, args.port, {
      timeoutMs: args.connectTimeoutSeconds * 1000,
    });
    return { stream: connection, mesh };
  } catch (error) {
    await mesh.close();
    throw error;
  }
}

/** Runs `corridor ssh`; returns the exit status. */
export async function sshCommand(argv: string[]): Promise<number> {
  let args: SshArgs | "help";
  try {
    args = parseSshArgs(argv, process.env.USER ?? userInfo().username);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(SSH_COMMAND, error.message);
    throw error;
  }
  if (args === "help") {
    process.stdout.write(formatUsage(SSH_COMMAND));
    return 0;
  }
  let agent: AgentRoute | null;
  try {
    agent = await agentRoute(args);
  } catch (error) {
    warn(`${args.host} port ${args.port}: ${(error as Error).message}`);
    return EXIT_CONNECTION_FAILED;
  }
  // The map's keys, when it publishes some, are the only ones trusted: no prompt, no file.
  const fromMap = agent !== null && agent.knownHosts !== "";
  const knownHostsFile = args.knownHostsFile ?? join(homedir(), ".ssh", "known_hosts");
  const knownHosts = KnownHosts.parse(
    fromMap
      ? (agent?.knownHosts ?? "")
      : existsSync(knownHostsFile)
        ? readFileSync(knownHostsFile, "utf8")
        : "",
  );
  const keys = await loadKeys(args.identityFiles);
  if (args.wgConfig !== null) {
    const unprotected = unprotectedFileWarning(args.wgConfig, "WireGuard config");
    if (unprotected !== null) warn(unprotected);
  }
  let mesh: MeshNet | null = null;
  let client: SshClient | null = null;
  try {
    const opened = await openStream(args, agent);
    mesh = opened.mesh;
    const where = `${args.user}@${args.host}`;
    client = await SshClient.connect(opened.stream, {
      core: await loadCryptoCore(),
      x25519: nodeX25519,
      username: args.user,
      keys,
      algorithms: {
        kex: args.kex,
        hostKey: args.hostKey ?? preferKnownAlgorithms(knownHosts, args.host, args.port),
        ciphers: args.ciphers,
        macs: args.macs,
      },
      verifyHostKey: hostKeyVerifier({
        host: args.host,
        port: args.port,
        knownHosts,
        policy: fromMap ? "yes" : args.strictHostKeyChecking,
        confirm: (key) => {
          // Without a terminal (or SSH_ASKPASS) nobody can answer: say how to go on instead
          // of a bare "not accepted", as a script or CI job needs to know.
          if (!canPrompt()) throw noTerminalRefusal(args.host, args.port, key);
          return askYesNo(
            `The authenticity of host '${args.host}' can't be established.\n${key.keyType} key fingerprint is ${key.fingerprint}.\nAre you sure you want to continue connecting (yes/no)? `,
          );
        },
        onLearned: (key) => {
          mkdirSync(dirname(knownHostsFile), { recursive: true, mode: 0o700 });
          // Atomic: an interrupted write must never leave a truncated known_hosts behind.
          writeFileAtomic(knownHostsFile, knownHosts.toString());
          warn(`Permanently added '${args.host}' (${key.keyType}) to the list of known hosts.`);
        },
      }),
      password: (attempt) =>
        askSecret(
          `${attempt > 1 ? "Permission denied, please try again.\n" : ""}${where}'s password: `,
        ),
      keyboardInteractive: async (challenge) => {
        if (challenge.instruction !== "") process.stderr.write(`${challenge.instruction}\n`);
        const answers: string[] = [];
        for (const p of challenge.prompts) {
          const answer = await askSecret(p.prompt, p.echo);
          if (answer === null) return null;
          answers.push(answer);
        }
        return answers;
      },
      onBanner: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
      connection: { keepaliveIntervalMs: args.keepaliveSeconds * 1000 },
    });
    return await runSession(client, args);
  } catch (error) {
    if (error instanceof SshError) warn(`${args.host} port ${args.port}: ${error.message}`);
    else warn(`${args.host} port ${args.port}: ${(error as Error).message}`);
    return EXIT_CONNECTION_FAILED;
  } finally {
    process.stdin.destroy();
    await client?.close().catch(() => undefined);
    await mesh?.close();
  }
}

async function runSession(client: SshClient, args: SshArgs): Promise<number> {
  const session = await client.connection.openSession();
  const interactive = process.stdin.isTTY === true;
  const wantTty =
    args.tty === "force" || (args.tty === "auto" && args.command === null && interactive);
  if (wantTty) {
    const ok = await session.requestPty({
      term: process.env.TERM ?? "xterm-256color",
      cols: process.stdout.columns ?? 80,
      rows: process.stdout.rows ?? 24,
    });
    if (!ok) warn("the server refused a pseudo-terminal");
  }
  if (args.command === null) await session.shell();
  else await session.exec(args.command);

  const rawMode = wantTty && interactive;
  if (rawMode) setRawTerminal(true);
  const onResize = () => {
    void session
      .windowChange({ cols: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 })
      .catch(() => undefined);
  };
  process.stdout.on("resize", onResize);
  try {
    void (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>)
      .pipeTo(session.stdin)
      .catch(() => undefined);
    const out = session.stdout.pipeTo(
      Writable.toWeb(process.stdout) as WritableStream<Uint8Array>,
      {
        preventClose: true,
      },
    );
    const err = session.stderr.pipeTo(
      Writable.toWeb(process.stderr) as WritableStream<Uint8Array>,
      {
        preventClose: true,
      },
    );
    // A stream that failed (the connection broke before the channel's EOF) lost output: the
    // remote exit status alone must not make a cut-short run look complete.
    const lost = (stream: string) => (error: unknown) =>
      `${stream} ended early: ${error instanceof Error ? error.message : String(error)}`;
    const [status, outLost, errLost] = await Promise.all([
      session.exit,
      out.then(() => null, lost("output")),
      err.then(() => null, lost("error output")),
    ]);
    const incomplete = outLost ?? errLost;
    if (incomplete !== null) {
      warn(`${incomplete}; the command's output may be incomplete`);
      return EXIT_CONNECTION_FAILED;
    }
    if (status.code !== null) return status.code;
    if (status.signal !== null) {
      warn(
        `remote command killed by signal ${status.signal}${status.message ? `: ${status.message}` : ""}`,
      );
    }
    return EXIT_CONNECTION_FAILED;
  } finally {
    process.stdout.off("resize", onResize);
    if (rawMode) setRawTerminal(false);
  }
}

/**
 * Raw mode as ssh(1) sets it: Node's raw mode keeps output post-processing (ONLCR), which
 * would turn the remote pty's CR LF into CR CR LF, so OPOST is switched off too.
 */
function setRawTerminal(raw: boolean): void {
  process.stdin.setRawMode(raw);
  try {
    execFileSync("stty", [raw ? "-opost" : "opost"], { stdio: [0, "ignore", "ignore"] });
  } catch {
    // No stty: output keeps ONLCR, which only doubles carriage returns.
  }
}

/**
 * The refusal of an unknown host key when nobody can be asked (no terminal, no SSH_ASKPASS):
 * it names the fingerprint to check and the option that accepts a first key.
 */
function noTerminalRefusal(
  host: string,
  port: number,
  key: { keyType: string; fingerprint: string },
): HostKeyError {
  const where = port === 22 ? host : `[${host}]:${port}`;
  return new HostKeyError(
    `host key ${key.keyType} ${key.fingerprint} for ${where} is not known and was not accepted: there is no terminal to ask on. Check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then connect once with -o StrictHostKeyChecking=accept-new (or add the key to ~/.ssh/known_hosts)`,
    SSH_DISCONNECT.HOST_KEY_NOT_VERIFIABLE,
    "client",
  );
}
