// A fake running agent for the local socket's tests: an AgentControl whose peers are loopback
// TCP servers of the test (an echo server, a real sshd), served by the real local API
// (server/agent/local-api.ts) on a socket in a temp dir. The CLI's commands, run as child
// processes, talk to it exactly as they would to `corridor agent`.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { type LocalApi, startLocalApi } from "../../server/agent/local-api.ts";
import { type AgentControl, type AgentStatus, DialError } from "../../server/agent/types.ts";
import { listenOnLoopback } from "../helpers/ports.ts";

/** A fake peer: its names, what a dial to each of its ports reaches, and its host keys. */
export interface FakePeer {
  name: string;
  address: string;
  /** Mesh port -> loopback port of a server of the test. */
  ports: Record<number, number>;
  /** Published host keys ("ssh-ed25519 AAAA..."). */
  hostKeys: string[];
  /** Ping round trip (ms); undefined: the echo times out. */
  rttMs?: number;
}

/** The fake agent, listening. */
export interface FakeAgent {
  readonly dir: string;
  readonly socket: string;
  readonly api: LocalApi;
  /** Every dial asked for, in order. */
  readonly dials: { host: string; port: number }[];
  stop(): Promise<void>;
}

function find(peers: readonly FakePeer[], host: string): FakePeer | undefined {
  const bare = host.replace(/\.mesh\.test$/, "");
  return peers.find((p) => p.name === bare || p.address === host);
}

/** The status a fake agent reports: this node and one row per peer. */
export function fakeStatus(peers: readonly FakePeer[]): AgentStatus {
  return {
    self: {
      name: "laptop",
      key: `${"A".repeat(43)}=`,
      addresses: ["100.64.0.1"],
      domain: "mesh.test",
    },
    control: { state: "streaming", url: "ws://127.0.0.1:1/control", approvalUrl: null },
    mode: "userspace",
    relay: { id: "r1", url: "ws://127.0.0.1:1/relay", state: "ready" },
    endpoints: ["192.0.2.1:41641"],
    peers: peers.map((peer, i) => ({
      key: `${String.fromCharCode(66 + i).repeat(43)}=`,
      name: peer.name,
      addresses: [peer.address],
      online: peer.rttMs !== undefined,
      path: i % 2 === 0 ? "direct" : "relay",
      endpoint: i % 2 === 0 ? `192.0.2.${10 + i}:41641` : null,
      relay: i % 2 === 0 ? null : "r1",
      rttMs: peer.rttMs ?? null,
      lastHandshake: peer.rttMs === undefined ? null : Date.now() - 42_000,
      rxBytes: 1536 * (i + 1),
      txBytes: 3 * 1024 * 1024,
    })),
  };
}

/** An AgentControl over `peers`; dials are recorded in `dials`. */
export function fakeControl(
  peers: readonly FakePeer[],
  dials: { host: string; port: number }[],
): AgentControl {
  return {
    status: () => fakeStatus(peers),
    async ping(host, timeoutMs) {
      const peer = find(peers, host);
      if (peer === undefined) throw new DialError("unknown-host", `${host} is not a mesh peer`);
      if (peer.rttMs === undefined) {
        // As NetInterface.ping says it: a plain Error, not a DialError.
        throw new Error(`ping ${peer.address}: no reply within ${timeoutMs} ms`);
      }
      return peer.rttMs;
    },
    dialer: {
      dial(host, port): Promise<Duplex> {
        dials.push({ host, port });
        const peer = find(peers, host);
        if (peer === undefined) {
          return Promise.reject(new DialError("unknown-host", `${host} is not a mesh peer`));
        }
        const local = peer.ports[port];
        if (local === undefined) {
          return Promise.reject(new DialError("refused", `${host} port ${port}: refused (RST)`));
        }
        return new Promise<Duplex>((resolve, reject) => {
          const socket = connect({ host: "127.0.0.1", port: local, allowHalfOpen: true });
          socket.once("connect", () => resolve(socket));
          socket.once("error", reject);
        });
      },
    },
    hostKeys(host) {
      const peer = find(peers, host);
      if (peer === undefined) return undefined;
      return {
        name: peer.name,
        names: [peer.name, `${peer.name}.mesh.test`, peer.address],
        keys: peer.hostKeys,
      };
    },
    knownHosts: () =>
      peers
        .filter((p) => p.hostKeys.length > 0)
        .flatMap((p) =>
          p.hostKeys.map(
            (key) =>
              `${p.name},${p.name}.mesh.test,${p.address} ${key.split(" ").slice(0, 2).join(" ")}`,
          ),
        ),
  };
}

/** Starts the local API over fakeControl(peers) on a socket in a fresh temp dir. */
export async function startFakeAgent(peers: readonly FakePeer[]): Promise<FakeAgent> {
  const dir = mkdtempSync(join(tmpdir(), "corridor-agent-cli-"));
  const socket = join(dir, "agent.sock");
  const dials: { host: string; port: number }[] = [];
  let api: LocalApi;
  try {
    api = await startLocalApi({ path: socket, control: fakeControl(peers, dials) });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    socket,
    api,
    dials,
    async stop() {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback TCP server that echoes what it reads and half-closes when the client does. */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

/** What a `corridor` child process left. */
export interface Run {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Runs `corridor ARGS` with `input` on stdin; SIGKILL after 60 s (a hang guard). */
export function corridor(
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string | undefined> } = {},
): Promise<Run> {
  return runProcess(process.execPath, [bin, ...args], {
    env: { CORRIDOR_SOCKET: undefined, ...options.env },
    input: options.input ?? new Uint8Array(0),
  });
}

/**
 * Runs `file ARGS` with `env` added to this process's, collecting its output; SIGKILL after
 * 60 s (a hang guard). With `input`, it is written to stdin; without, stdin is not connected.
 */
export function runProcess(
  file: string,
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string | undefined> } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr, code });
    });
    if (options.input !== undefined && child.stdin !== null) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/**
 * The peers the agent CLI tests see: web-01, whose port 7 is `echoPort` (an echo server), with
 * one SSH host key and a round trip; db-01, with nothing open and no host key.
 */
export function webAndDbPeers(echoPort: number, webHostKey: string): FakePeer[] {
  return [
    {
      name: "web-01",
      address: "100.64.0.7",
      ports: { 7: echoPort },
      hostKeys: [webHostKey],
      rttMs: 1.5,
    },
    { name: "db-01", address: "100.64.0.8", ports: {}, hostKeys: [] },
  ];
}
