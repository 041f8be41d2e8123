// Part (c) of the agent benchmark: SSH session setup through WireGuard, timed from starting
// OpenSSH's `ssh` in namespace A to the first byte of a command's output, against
//
//   ours:   the identity SSH server (server/agent/ssh/server.ts) on a userspace node peered
//           with A's wireguard-go, on its mesh address, as the agent serves it (the caller is
//           the peer behind the source address; OpenSSH's first method, "none", is accepted);
//   anchor: OpenSSH's sshd in namespace S, reached over the same wireguard-go interface in A
//           (public-key authentication with a key made for the run).
//
// The client, its options and the command are the same for both; runs alternate and the
// median is compared. sshd runs in a private mount namespace whose /run is a tmpfs holding its
// privilege-separation directory, so nothing of the machine's /run is touched.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectionStream } from "../../server/agent/mesh-access.ts";
import { IdentitySshServer } from "../../server/agent/ssh/server.ts";
import { generateHostKey } from "../../server/agent/state-dir.ts";
import type { MeshIdentity } from "../../server/agent/types.ts";
import { createLogger } from "../../server/log.ts";
import type { PeerView, SshRule } from "../../worker/control/types.ts";
import type { TcpConnection } from "../../worker/net/tcp/types.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import { within } from "../interop/mesh-rig.ts";
import type { AgentBenchNodes } from "./agent-rig.ts";
import { benchRounds, formatRatio, timeScale } from "./harness.ts";

const SSH = "/usr/bin/ssh";
const SSHD = "/usr/sbin/sshd";
const SSH_KEYGEN = "/usr/bin/ssh-keygen";
const OUR_ADDRESS = "100.64.0.21";
const COMMAND = "echo corridor-bench";
/** Connections per server (BENCH_ROUNDS overrides; CI runs 1). */
const RUNS = benchRounds(Math.max(5, Math.round(10 * timeScale)));

/** The SSH table's rows, the ratio (ours / sshd), or why there is none. */
export interface SshSetupResult {
  rows: string[][];
  runs: number;
  ratio?: number;
  note?: string;
}

/** Starts `ssh` inside A and resolves with ms to the first stdout byte (then lets it finish). */
function timeFirstByte(nodes: AgentBenchNodes, args: string[]): Promise<number> {
  const start = performance.now();
  const child = spawn("ip", ["netns", "exec", nodes.a.namespace, SSH, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4096);
  });
  const done = new Promise<number>((resolve, reject) => {
    let first: number | undefined;
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      first ??= performance.now() - start;
      out += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && first !== undefined && out.includes("corridor-bench")) resolve(first);
      else
        reject(
          new Error(
            `ssh ${args.at(-2)}: exit ${code}, output ${JSON.stringify(out)}: ${stderr.trim()}`,
          ),
        );
    });
  });
  return within(done, 30_000, `ssh ${args.at(-2)}`).finally(() => child.kill("SIGKILL"));
}

/** Runs part (c); a missing OpenSSH tool becomes a note, never a failed benchmark. */
export async function sshSetupRows(nodes: AgentBenchNodes): Promise<SshSetupResult> {
  for (const tool of [SSH, SSHD, SSH_KEYGEN]) {
    if (!existsSync(tool)) return { rows: [], runs: 0, note: `skipped, ${tool} is missing` };
  }
  const dir = mkdtempSync(join(tmpdir(), "corridor-agent-bench-ssh-"));
  nodes.onClose(() => rmSync(dir, { recursive: true, force: true }));

  // Our server on a userspace node that A knows as OUR_ADDRESS; A's address is the caller.
  const engine = await nodes.engineForA(OUR_ADDRESS);
  const caller: PeerView = {
    id: 3,
    key: "YS1ub2RlLWtleS1hLW5vZGUta2V5LWEtbm9kZS1rZXk=",
    name: "a",
    addresses: [nodes.a.tunnelAddress],
    user: { id: 1, name: "Bench", email: "bench@example.com", signedInAt: null },
    tags: [],
    hostname: "a",
    os: "linux",
    ephemeral: false,
    keyExpiry: null,
    sshHostKeys: [],
    online: true,
    lastSeen: null,
    endpoints: [],
    homeRelay: "",
  };
  const rules: SshRule[] = [{ src: { any: true }, users: ["root"], action: "accept" }];
  const identity: MeshIdentity = {
    peerByAddress: (address) => (caller.addresses.includes(address) ? caller : undefined),
    sshRules: () => rules,
  };
  const server = new IdentitySshServer({
    hostKey: generateHostKey(),
    identity,
    checkUrl: "http://control.invalid/login/check",
    runAs: "any",
    log: createLogger({ level: "warn" }),
  });
  nodes.onClose(() => server.close());
  const listener = engine.net.tcp.listen("any", 22);
  nodes.onClose(() => listener.close());
  (async () => {
    for (;;) {
      const conn: TcpConnection = await listener.accept();
      server.handle(connectionStream(conn), {
        address: formatIp(conn.remoteAddress),
        port: conn.remotePort,
      });
    }
  })().catch(() => {}); // the listener closed

  // sshd in S: a host key and a client key made for the run, root by public key only.
  const keygen = async (file: string) => {
    const r = await nodes.s.exec([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", file]);
    if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr.trim()}`);
  };
  await keygen(join(dir, "host"));
  await keygen(join(dir, "client"));
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client.pub")));
  writeFileSync(
    join(dir, "sshd_config"),
    [
      "Port 22",
      `ListenAddress ${nodes.s.tunnelAddress}`,
      `HostKey ${join(dir, "host")}`,
      "PidFile none",
      "UsePAM no",
      "PermitRootLogin yes",
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UseDNS no",
      "",
    ].join("\n"),
  );
  const sshd = nodes.s.spawn([
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec ${SSHD} -D -e -f ${join(dir, "sshd_config")}`,
  ]);
  let sshdLog = "";
  sshd.stderr?.on("data", (chunk: Buffer) => {
    sshdLog = (sshdLog + chunk.toString("utf8")).slice(-8192);
  });

  const clientArgs = (address: string) => [
    ...["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
    ...["-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null"],
    ...["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "-i", join(dir, "client")],
    `root@${address}`,
    COMMAND,
  ];
  // Warm-up and correctness: both answer the command (sshd may need a moment to listen).
  let ready: Error | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await timeFirstByte(nodes, clientArgs(nodes.s.tunnelAddress));
      ready = undefined;
      break;
    } catch (error) {
      ready = error as Error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (ready) throw new Error(`sshd in S never answered: ${ready.message}; sshd: ${sshdLog}`);
  await timeFirstByte(nodes, clientArgs(OUR_ADDRESS));

  const ours: number[] = [];
  const anchor: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    anchor.push(await timeFirstByte(nodes, clientArgs(nodes.s.tunnelAddress)));
    ours.push(await timeFirstByte(nodes, clientArgs(OUR_ADDRESS)));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
  const ms = (v: number) => v.toFixed(1);
  const row = (name: string, xs: number[], ratio: number) => [
    name,
    ms(median(xs)),
    ms(Math.min(...xs)),
    ms(Math.max(...xs)),
    formatRatio(ratio),
  ];
  const ratio = median(ours) / median(anchor);
  return {
    runs: RUNS,
    ratio,
    rows: [
      row("OpenSSH sshd behind wireguard-go (anchor)", anchor, 1),
      row("our identity SSH server, userspace node", ours, ratio),
    ],
  };
}
