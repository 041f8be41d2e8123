// What a peer has open on an agent ends when the map stops allowing it (server/agent/revoke.ts),
// end to end: a real control server, two userspace agents in this process (a "client" dialing a
// "server" through the relay), a forwarded TCP connection to a service on the server's
// 127.0.0.1 and an identity SSH session. A policy that closes the forwarded port ends that
// connection (both sides see it reset) and leaves SSH alone; ssh rules that no longer cover
// root end the session with "access revoked" on its stderr and exit 255; removing the client's
// node (what a revoked share does to its recipient's node) ends both on the server at once.
// Times are printed, never asserted.

import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../server/agent/agent.ts";
import { type MeshTestbed, startMeshTestbed } from "../engine/mesh-harness.ts";
import { waitUntil } from "../helpers/wait.ts";

let bed: MeshTestbed;
let service: Server;
let servicePort = 0;
/** The service's side of each forwarded connection, newest last. */
const accepted: { socket: Socket; closed: boolean }[] = [];
let server: Agent;
let client: Agent;

function policy(ports: string, sshUsers: string[]): string {
  return `{
    "tagOwners": { "tag:server": ["autogroup:admin"], "tag:client": ["autogroup:admin"] },
    "acls": [{ "action": "accept", "src": ["tag:client"], "dst": ["tag:server:${ports}"] }],
    "ssh": [{ "action": "accept", "src": ["tag:client"], "dst": ["tag:server"], "users": ${JSON.stringify(sshUsers)} }],
  }`;
}

beforeAll(async () => {
  service = createServer({ allowHalfOpen: true }, (socket) => {
    const entry = { socket, closed: false };
    accepted.push(entry);
    socket.on("error", () => {});
    socket.on("close", () => {
      entry.closed = true;
    });
    socket.on("data", (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
  servicePort = (service.address() as { port: number }).port;
  bed = await startMeshTestbed();
  await bed.setPolicy(policy(`22,${servicePort}`, ["root"]));
  server = await bed.agent("srv-01", ["tag:server"], { ephemeral: false });
  client = await bed.agent("cli-01", ["tag:client"], { sshPort: 0 });
}, 60_000);

afterAll(async () => {
  await bed?.close();
  await new Promise<void>((resolve) => (service ? service.close(() => resolve()) : resolve()));
});

/** A forwarded connection from the client to the service, checked with one echo. */
async function forwarded(): Promise<{
  stream: Duplex;
  ended: () => boolean;
  entry: (typeof accepted)[number];
}> {
  const before = accepted.length;
  const stream = await client.access.dial("srv-01", servicePort);
  let ended = false;
  stream.on("error", () => {
    ended = true;
  });
  stream.on("close", () => {
    ended = true;
  });
  let echoed = "";
  stream.on("data", (d: Buffer) => {
    echoed += d.toString();
  });
  stream.write("ping");
  await waitUntil(() => echoed === "ping", "the echo through the forward");
  expect(accepted.length).toBe(before + 1);
  return { stream, ended: () => ended, entry: accepted.at(-1)! };
}

/** An SSH exec as root on the server over the mesh, with what it printed and how it ended. */
async function sshExec(command: string) {
  const sock = await client.access.dial("srv-01", 22);
  const conn = new ssh2.Client();
  const result = { stdout: "", stderr: "", code: undefined as number | undefined, closed: false };
  conn.on("error", () => {});
  conn.on("close", () => {
    result.closed = true;
  });
  conn.on("ready", () => {
    conn.exec(command, (error, channel) => {
      if (error) throw error;
      channel.on("data", (d: Buffer) => {
        result.stdout += d.toString();
      });
      channel.stderr.on("data", (d: Buffer) => {
        result.stderr += d.toString();
      });
      channel.on("exit", (code: number) => {
        result.code = code;
      });
    });
  });
  conn.connect({ sock, username: "root", hostVerifier: () => true });
  await waitUntil(() => result.stdout.includes("started"), "the SSH command to start");
  return { result, end: () => conn.end() };
}

/** Whether a process runs this exact command line. */
function running(commandLine: string): boolean {
  try {
    execFileSync("/usr/bin/pgrep", ["-f", `^${commandLine}$`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("an agent ends what the map no longer allows", () => {
  it("a closed port ends its forwarded connection, not SSH; narrowed ssh rules end the session", async () => {
    const fwd = await forwarded();
    const ssh = await sshExec("echo started; sleep 41.21; echo done");
    let at = Date.now();
    await bed.setPolicy(policy("22", ["root"]));
    await waitUntil(() => fwd.entry.closed && fwd.ended(), "the forwarded connection to end");
    console.log(
      `port closed by the policy: forwarded connection ended after ${Date.now() - at} ms`,
    );
    expect(server.forwardCounters.revoked).toBe(1);
    expect(server.ssh?.connections).toBe(1);
    expect(ssh.result.closed).toBe(false);

    at = Date.now();
    await bed.setPolicy(policy("22", ["nobody"]));
    await waitUntil(() => ssh.result.closed, "the SSH connection to close");
    console.log(`ssh rules narrowed: session closed after ${Date.now() - at} ms`);
    expect(ssh.result.stderr).toMatch(
      /access revoked: the ssh rules no longer let cli-01 \(100\.[0-9.]+\) log in as root/,
    );
    expect(ssh.result.code).toBe(255);
    expect(ssh.result.stdout).not.toContain("done");
    await waitUntil(() => !running("sleep 41.21"), "the session's process to be hung up");
  }, 60_000);

  it("the client's node removed (a revoked share): its forward and SSH session end at once", async () => {
    await bed.setPolicy(policy(`22,${servicePort}`, ["root"]));
    await waitUntil(() => {
      try {
        return client.access.addressOf("srv-01") !== "";
      } catch {
        return false;
      }
    }, "the server in the client's map");
    const fwd = await forwarded();
    const ssh = await sshExec("echo started; sleep 42.31; echo done");
    const nodes = await bed.api("GET", "/api/v1/nodes");
    const list = (nodes.json as { nodes: { id: number; name: string }[] }).nodes;
    const id = list.find((n) => n.name === "cli-01")?.id;
    expect(id).toBeDefined();
    const at = Date.now();
    const removed = await bed.api("DELETE", `/api/v1/nodes/${id}`);
    expect(removed.status).toBeLessThan(300);
    await waitUntil(() => fwd.entry.closed, "the service's side of the forward to close");
    const forwardMs = Date.now() - at;
    await waitUntil(() => !running("sleep 42.31"), "the session's process to be hung up");
    const sshMs = Date.now() - at;
    await waitUntil(() => server.ssh?.connections === 0, "the SSH connection to be dropped");
    console.log(
      `node removed: forward ended after ${forwardMs} ms, SSH process hung up after ${sshMs} ms, connection dropped after ${Date.now() - at} ms`,
    );
    expect(server.forwardCounters.revoked).toBe(2);
    ssh.end();
  }, 60_000);
});
