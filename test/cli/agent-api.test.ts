// The agent's local socket (server/agent/local-api.ts) with the CLI's client (cli/agent-client.ts)
// in one process, over a fake AgentControl: the socket is 0600, a live agent is never replaced,
// a stale socket is, a file that is not a socket is refused; every request answers (or fails
// with the agent's code); a dial carries bytes both ways and half-closes; a malformed request
// gets a bad-request answer naming its field.

import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError, agentSocketPath, askAgent, dialThroughAgent } from "../../cli/agent-client.ts";
import { LocalApiStartError, startLocalApi } from "../../server/agent/local-api.ts";
import { readLine } from "../../server/agent/local-wire.ts";
import { executable } from "../helpers/prereq.ts";
import {
  type FakeAgent,
  type FakePeer,
  fakeControl,
  fakeStatus,
  startEchoServer,
  startFakeAgent,
  webAndDbPeers,
} from "./agent-fake.ts";

let echo: Awaited<ReturnType<typeof startEchoServer>>;
let agent: FakeAgent;
let peers: FakePeer[];

beforeAll(async () => {
  echo = await startEchoServer();
  peers = webAndDbPeers(echo.port, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey web");
  agent = await startFakeAgent(peers);
});

afterAll(async () => {
  await agent?.stop();
  await echo?.close();
});

async function agentError(promise: Promise<unknown>): Promise<AgentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgentError);
  return error as AgentError;
}

describe("the socket file", () => {
  it("is a socket with mode 0600", () => {
    const stat = lstatSync(agent.socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it("is never taken from a live agent", async () => {
    const error = await startLocalApi({ path: agent.socket, control: fakeControl(peers, []) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LocalApiStartError);
    expect((error as Error).message).toMatch(/another agent answers on .*agent\.sock/);
    // The first agent still answers.
    expect((await askAgent(agent.socket, { op: "knownHosts" })).lines).toHaveLength(1);
  });

  it("replaces a stale socket, refuses a file that is not one, and is removed by close()", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corridor-agent-stale-"));
    try {
      const file = join(dir, "not-a-socket");
      writeFileSync(file, "data");
      await expect(startLocalApi({ path: file, control: fakeControl(peers, []) })).rejects.toThrow(
        /exists and is not a socket/,
      );

      const stale = join(dir, "stale.sock");
      if (executable("/usr/bin/python3").ok) {
        // A process that bound the socket and died: the file stays, nothing answers.
        execFileSync("/usr/bin/python3", [
          "-c",
          "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
          stale,
        ]);
        expect(lstatSync(stale).isSocket()).toBe(true);
      }
      const api = await startLocalApi({ path: stale, control: fakeControl(peers, []) });
      expect((await askAgent(stale, { op: "ping", host: "web-01" })).rttMs).toBe(1.5);
      await api.close();
      expect(existsSync(stale)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("requests", () => {
  it("answers status, ping, hostKeys and knownHosts", async () => {
    const { status } = await askAgent(agent.socket, { op: "status" });
    const expected = fakeStatus(peers);
    expect(status.peers.map((p) => [p.name, p.path, p.rttMs])).toEqual(
      expected.peers.map((p) => [p.name, p.path, p.rttMs]),
    );
    expect(status.self?.name).toBe("laptop");
    expect((await askAgent(agent.socket, { op: "ping", host: "100.64.0.7" })).rttMs).toBe(1.5);
    const { hostKeys } = await askAgent(agent.socket, { op: "hostKeys", host: "web-01" });
    expect(hostKeys.names).toEqual(["web-01", "web-01.mesh.test", "100.64.0.7"]);
    expect((await askAgent(agent.socket, { op: "knownHosts" })).lines).toEqual([
      "web-01,web-01.mesh.test,100.64.0.7 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey",
    ]);
  });

  it("passes the agent's failures on with their code", async () => {
    const unknown = await agentError(askAgent(agent.socket, { op: "ping", host: "nobody" }));
    expect([unknown.code, unknown.message]).toEqual(["unknown-host", "nobody is not a mesh peer"]);
    const timeout = await agentError(
      askAgent(agent.socket, { op: "ping", host: "db-01", timeoutMs: 50 }),
    );
    expect([timeout.code, timeout.message]).toEqual([
      "timeout",
      "ping 100.64.0.8: no reply within 50 ms",
    ]);
    const noKeys = await agentError(askAgent(agent.socket, { op: "hostKeys", host: "x" }));
    expect(noKeys.code).toBe("unknown-host");
    const refused = await agentError(dialThroughAgent(agent.socket, "db-01", 5432));
    expect([refused.code, refused.message]).toEqual(["refused", "db-01 port 5432: refused (RST)"]);
  });

  it("dials: bytes both ways, the client's end half-closes, the peer's end ends", async () => {
    const socket = await dialThroughAgent(agent.socket, "web-01", 7);
    expect(agent.dials.at(-1)).toEqual({ host: "web-01", port: 7 });
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.resume();
    const ended = new Promise<void>((resolve) => socket.once("end", resolve));
    const payload = Buffer.alloc(256 * 1024, 0).map((_, i) => (i * 7) & 0xff);
    socket.write(payload.subarray(0, 1000));
    socket.end(payload.subarray(1000));
    // The echo server sees our FIN only after all the bytes, echoes them, then ends too.
    await ended;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    socket.destroy();
  });

  it("answers a malformed request with bad-request naming the field", async () => {
    const socket = connect(agent.socket);
    socket.write('{"op":"dial","host":"web-01","port":70000}\n');
    const line = await readLine(socket, 4096, "answer", 10_000);
    socket.destroy();
    expect(JSON.parse(line)).toEqual({
      ok: false,
      error: { code: "bad-request", message: "request.port: must be a port (1-65535)" },
    });
  });

  it("says no agent runs when nothing answers on the socket", async () => {
    const missing = join(agent.dir, "missing.sock");
    const error = await agentError(askAgent(missing, { op: "status" }));
    expect(error.code).toBe("no-agent");
    expect(error.message).toBe(
      `no agent is running (nothing answers on ${missing}): start one with \`corridor agent --server URL\``,
    );
  });
});

describe("agentSocketPath", () => {
  it("takes --socket, then $CORRIDOR_SOCKET, then the state dir", () => {
    const env = { HOME: "/home/u", CORRIDOR_SOCKET: "/run/a.sock", XDG_STATE_HOME: "/state" };
    expect(agentSocketPath("/x.sock", env)).toBe("/x.sock");
    expect(agentSocketPath(undefined, env)).toBe("/run/a.sock");
    expect(agentSocketPath(undefined, { ...env, CORRIDOR_SOCKET: "" })).toBe(
      "/state/corridor/agent/agent.sock",
    );
    expect(agentSocketPath(undefined, { HOME: "/home/u" })).toBe(
      "/home/u/.local/state/corridor/agent/agent.sock",
    );
    // A relative XDG_STATE_HOME is invalid by the spec and ignored.
    expect(agentSocketPath(undefined, { HOME: "/home/u", XDG_STATE_HOME: "rel" })).toBe(
      "/home/u/.local/state/corridor/agent/agent.sock",
    );
  });
});
