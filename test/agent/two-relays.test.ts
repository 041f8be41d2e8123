// Issue 18, "two relays": a control server listing two relays of this process (r1, r2, tokens
// good on both), each with a STUN listener behind a UDP forwarder that can slow the way to it;
// agent X (userspace, identity SSH on its mesh port 22) homed on r1 and agent Y homed on r2,
// both relay only (no direct UDP), each picking its home by its own STUN probes (the way to r2
// is slow while X measures, the way to r1 while Y does; both equal afterwards, so neither moves
// for latency). (a) OpenSSH's ssh on Y, through `corridor nc` and Y's local socket, runs a
// command on X: Y's packets go to X's home r1, X's to Y's home r2. (b) An interactive SSH
// session Y -> X, then Y's home r2 is killed: Y fails over to r1, reports it, X's map follows,
// and the same session answers the next command (a pause, not a drop). (c) The same with X's
// home r1 killed in a fresh mesh.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Agent } from "../../server/agent/agent.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { startControl } from "../../server/control/index.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { createLogger } from "../../server/log.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { startStunServer } from "../../server/relay/stun-server.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { reservedPort } from "../helpers/ports.ts";
import { describeWithPrereq, executable, prereq, root } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { corridorBin } from "./agent-harness.ts";
import { ownerApi, startControlFront } from "./control-http-harness.ts";

const POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"], "tag:client": ["autogroup:admin"] },
  "acls": [{ "action": "accept", "src": ["tag:client"], "dst": ["tag:server:*"] }],
  "ssh": [{ "action": "accept", "src": ["tag:client"], "dst": ["tag:server"], "users": ["root"] }],
}`;
/** One way, on the slow path to a relay's STUN listener: 40 ms, far past the 10 ms hysteresis. */
const SLOW_MS = 40;

/**
 * A UDP forwarder in front of a STUN listener, one back socket per client (as a NAT), holding
 * each datagram `delayMs` each way; `dead` drops everything (the relay's host is gone).
 */
class StunPath {
  delayMs = 0;
  dead = false;
  port = 0;
  private readonly front = createSocket("udp4");
  private readonly backs = new Map<string, Socket>();

  constructor(private readonly target: number) {}

  async open(): Promise<void> {
    this.front.on("message", (msg, from) => {
      if (this.dead) return;
      const key = `${from.address}:${from.port}`;
      let back = this.backs.get(key);
      if (back === undefined) {
        const made = createSocket("udp4");
        made.on("message", (answer) => {
          if (this.dead) return;
          setTimeout(() => this.front.send(answer, from.port, from.address), this.delayMs);
        });
        made.bind(0, "127.0.0.1");
        this.backs.set(key, made);
        back = made;
      }
      const out = back;
      setTimeout(() => out.send(msg, this.target, "127.0.0.1"), this.delayMs);
    });
    await new Promise<void>((resolve) => this.front.bind(0, "127.0.0.1", resolve));
    this.port = this.front.address().port;
  }

  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.front.close();
    for (const back of this.backs.values()) back.close();
  }
}

/** One mesh: control, relays r1 and r2 with their STUN paths, agents X (server) and Y. */
interface World {
  x: Agent;
  y: Agent;
  relays: Map<string, RelayServer>;
  paths: Map<string, StunPath>;
  knownHosts: string;
  close(): Promise<void>;
}

const quiet = () => createLogger({ level: "silent" });

async function startWorld(): Promise<World> {
  const cleanup: (() => unknown)[] = [];
  const close = async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), "corridor-two-relays-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = await openSqliteStore(":memory:");
    cleanup.push(() => store.close());
    const owner = await store.createUser({
      issuer: "corridor:local",
      subject: "owner",
      email: "owner@example.com",
      name: "owner",
      role: "owner",
      lastLoginAt: null,
    });
    const apiKey = (await createApiKeyLocal(store, owner.id)).key;
    const front = await startControlFront("127.0.0.1");
    cleanup.push(() => front.close());
    const paths = new Map<string, StunPath>();
    const infos: RelayInfo[] = [];
    const secrets = new Map<string, { port: number; privateKey: Uint8Array }>();
    for (const id of ["r1", "r2"]) {
      const stun = await startStunServer({ host: "127.0.0.1", port: 0 });
      cleanup.push(() => stun.close());
      const path = new StunPath(stun.port);
      await path.open();
      cleanup.push(() => path.close());
      paths.set(id, path);
      const port = await reservedPort("127.0.0.1");
      const privateKey = generatePrivateKey();
      secrets.set(id, { port, privateKey });
      infos.push({
        id,
        region: `lab-${id}`,
        url: `ws://127.0.0.1:${port}/relay`,
        key: keyToBase64(await nodeX25519.publicKey(privateKey)),
        stun: `127.0.0.1:${path.port}`,
      });
    }
    const control = await startControl({
      store,
      relays: infos,
      baseUrl: `${front.baseUrl}/`,
      crypto: await initCrypto(),
      log: quiet(),
    });
    cleanup.push(() => control.close());
    front.serve(control);
    const relays = new Map<string, RelayServer>();
    for (const [id, { port, privateKey }] of secrets) {
      const relay = await startRelay({
        auth: { mode: "token", controlPublicKey: control.tokenPublicKey },
        relayId: id,
        host: "127.0.0.1",
        port,
        privateKey,
        log: () => {},
        closeGraceMs: 100,
      });
      cleanup.push(() => relay.close());
      relays.set(id, relay);
    }
    const api = ownerApi(front.baseUrl, apiKey, { throwOnServerError: true });
    const policy = await api("PUT", "/api/v1/policy", { text: POLICY });
    expect(policy.status).toBe(200);
    const agent = async (name: string, tag: string, sshPort: number): Promise<Agent> => {
      const key = await api("POST", "/api/v1/authkeys", { tags: [tag] });
      const stateDir = join(dir, name);
      const started = await Agent.start({
        serverUrl: front.baseUrl,
        controlUrl: `ws://127.0.0.1:${front.port}${CONTROL_PATH}`,
        authKey: (key.json as { key: string }).key,
        hostname: name,
        tags: [tag],
        stateDir,
        sshPort,
        expose: null,
        // Relay only: every packet between X and Y crosses a relay.
        direct: { disabled: true },
        log: quiet(),
      });
      cleanup.push(() => started.stop());
      await started.joined;
      return started;
    };
    /**
     * Starts an agent while the way to the other relay is slow; resolves once it measured both
     * and is at home on `home` (a move for latency waits for the new home's welcome).
     */
    const homedAgent = async (name: string, tag: string, sshPort: number, home: string) => {
      for (const [id, path] of paths) path.delayMs = id === home ? 0 : SLOW_MS;
      const started = await agent(name, tag, sshPort);
      const relays = () => started.node.relays;
      await waitUntil(
        () => relays()?.roundTrips.size === 2 && started.node.relay?.id === home,
        `${name} at home on ${home} (round trips: ${JSON.stringify([...(relays()?.roundTrips ?? [])])})`,
      );
      return started;
    };
    const x = await homedAgent("x-server", "tag:server", 22, "r1");
    const y = await homedAgent("y-client", "tag:client", 0, "r2");
    for (const path of paths.values()) path.delayMs = 0;
    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, `x-server ${x.state.hostKey.publicLine}\n`);
    return { x, y, relays, paths, knownHosts, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** OpenSSH's ssh on `from` (through `corridor nc` and its local socket) to root@x-server. */
function ssh(world: World, command: string): ChildProcessWithoutNullStreams {
  const proxy = `${process.execPath} ${corridorBin} nc %h %p`;
  return spawn(
    "ssh",
    [
      ...["-F", "/dev/null", "-o", `ProxyCommand=${proxy}`],
      ...["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${world.knownHosts}`],
      ...["-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes"],
      ...["-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null"],
      // No keepalive of OpenSSH's own ends the session during the pause.
      ...["-o", "ServerAliveInterval=0", "-o", "ConnectTimeout=30"],
      "root@x-server",
      command,
    ],
    { env: { ...process.env, CORRIDOR_SOCKET: world.y.state.socketPath } },
  );
}

/** What a process printed, and a wait for a pattern in it. */
function collect(child: ChildProcessWithoutNullStreams) {
  const out = { stdout: "", stderr: "", code: undefined as number | null | undefined };
  child.stdout.on("data", (d: Buffer) => {
    out.stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out.stderr += d.toString();
  });
  child.on("close", (code) => {
    out.code = code;
  });
  const waitFor = (text: string, hangAfterMs = 60_000) =>
    waitUntil(
      () => out.stdout.includes(text) || out.code !== undefined,
      `"${text}" from ssh (stdout so far: ${JSON.stringify(out.stdout)}, stderr: ${out.stderr})`,
      { hangAfterMs },
    ).then(() => {
      if (!out.stdout.includes(text)) {
        throw new Error(`ssh ended (${out.code}) before "${text}": ${out.stderr}`);
      }
    });
  return { out, waitFor };
}

/** A peer's home relay as `agent`'s map shows it. */
function homeOf(agent: Agent, peer: Agent): string | undefined {
  return [...agent.node.state.peers.values()].find((p) => p.key === peer.node.key)?.homeRelay;
}

/**
 * Opens an interactive session Y -> X (a shell reading commands from stdin), kills `victim`
 * and at once sends a command (its bytes wait in TCP's retransmissions through the outage),
 * then another once `moved` is on the other relay and its peer's map says so; the same
 * session answers both. Resolves the times it took (ms from the kill).
 */
async function survivesKill(world: World, victim: "r1" | "r2", moved: Agent) {
  const child = ssh(world, "sh");
  const { out, waitFor } = collect(child);
  child.stdin.write("echo before-$((6*7))\n");
  await waitFor("before-42");
  const killedAt = performance.now();
  world.paths.get(victim)?.close();
  await world.relays.get(victim)?.close();
  child.stdin.write("echo during-$((6*7))\n");
  const other = victim === "r1" ? "r2" : "r1";
  await waitUntil(() => moved.node.relay?.id === other, "the node moving off the killed relay", {
    hangAfterMs: 30_000,
  });
  const movedMs = performance.now() - killedAt;
  const peer = moved === world.x ? world.y : world.x;
  await waitUntil(() => homeOf(peer, moved) === other, "the peer's map showing the new home", {
    hangAfterMs: 30_000,
  });
  const mapMs = performance.now() - killedAt;
  await waitFor("during-42");
  const answeredMs = performance.now() - killedAt;
  child.stdin.write("echo after-$((6*7))\n");
  await waitFor("after-42");
  // The same session: no reconnect, so one prompt-less shell printed the answers in order.
  expect(out.code).toBeUndefined();
  expect(out.stdout).toBe("before-42\nduring-42\nafter-42\n");
  child.stdin.end("exit 0\n");
  await waitUntil(() => out.code !== undefined, "ssh to end");
  expect(out.code, out.stderr).toBe(0);
  return { movedMs, mapMs, answeredMs };
}

describeWithPrereq(prereq(root(), executable("/usr/bin/ssh")), "two relays", () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  }, 120_000);

  afterAll(async () => {
    await world?.close();
  }, 60_000);

  it("nodes with different home relays exchange traffic (OpenSSH Y -> X runs a command)", async () => {
    const { x, y } = world;
    expect(x.node.relay?.id).toBe("r1");
    expect(y.node.relay?.id).toBe("r2");
    // Each reported its home; each sees the other's in its map.
    await waitUntil(
      () => homeOf(x, y) === "r2" && homeOf(y, x) === "r1",
      "the maps showing both homes",
    );
    const child = ssh(world, "echo ok-$((6*7)) from $(id -un)");
    const { out } = collect(child);
    await waitUntil(() => out.code !== undefined, "ssh to end", { hangAfterMs: 60_000 });
    expect(out.stderr).not.toMatch(/authenticity|Warning/);
    expect(out.stdout).toBe("ok-42 from root\n");
    expect(out.code).toBe(0);
    // Y sent to X's home r1 and X to Y's home r2: each holds a connection to the other's home.
    expect([...y.node.relays!.connections.keys()].sort()).toEqual(["r1", "r2"]);
    expect([...x.node.relays!.connections.keys()].sort()).toEqual(["r1", "r2"]);
  }, 90_000);

  it("Y's home relay killed: Y moves to r1 and the same SSH session keeps going", async () => {
    const times = await survivesKill(world, "r2", world.y);
    console.log(
      `two-relays: r2 killed; Y's home on r1 after ${times.movedMs.toFixed(0)} ms, X's map ` +
        `after ${times.mapMs.toFixed(0)} ms, the command sent at the kill answered after ${times.answeredMs.toFixed(0)} ms`,
    );
    expect(times.movedMs).toBeLessThan(15_000);
  }, 120_000);

  it("X's home relay killed (a fresh mesh): X moves to r2 and the same SSH session keeps going", async () => {
    const fresh = await startWorld();
    try {
      expect(fresh.x.node.relay?.id).toBe("r1");
      expect(fresh.y.node.relay?.id).toBe("r2");
      const times = await survivesKill(fresh, "r1", fresh.x);
      console.log(
        `two-relays: r1 killed; X's home on r2 after ${times.movedMs.toFixed(0)} ms, Y's map ` +
          `after ${times.mapMs.toFixed(0)} ms, the command sent at the kill answered after ${times.answeredMs.toFixed(0)} ms`,
      );
      expect(times.movedMs).toBeLessThan(15_000);
    } finally {
      await fresh.close();
    }
  }, 180_000);
});
