// The agent lab (issue 14's tests, DESIGN §5): real `corridor agent` processes, each in a
// network namespace of its own, on one Ethernet segment with the control server and relay of
// this process (agent-harness.ts). The segment is a bridge inside a "hub" namespace; the root
// namespace joins it through a veth whose root end holds the .254 address of a /24 that no root
// address uses yet, and every agent namespace joins it with a veth named eth0 inside. Packets
// between agents never touch the root namespace's forwarding or firewall: nothing of the host
// changes but the one veth, removed in teardown. Names: stem "cal" + creator pid (base 36) + 4
// hex digits (wg-netns.ts's scheme), so a later run removes what a crashed one left behind.

import { execFileSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { executable, onPath, prereq, root } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { installExitHook, newStem, removeNamespaceSync, unclosed } from "../interop/wg-netns.ts";
import { must, type RunResult, run, WG_TOOLS } from "../interop/wg-tools.ts";
import { type AgentMesh, CorridorProcess, corridorBin, startAgentMesh } from "./agent-harness.ts";

/** What the lab needs: root, ip, nft, and the programs the tests run inside it. */
export const LAB_PREREQ = prereq(
  root(),
  executable(WG_TOOLS.ip),
  onPath("nft"),
  onPath("python3"),
  onPath("curl"),
  onPath("ssh"),
);

const PREFIX = "cal";

/** One agent host: its namespace, address, state dir and running agent. */
export interface LabHost {
  name: string;
  netns: string;
  address: string;
  state: string;
  socket: string;
  agent: CorridorProcess;
  /** Mesh addresses once joined. */
  meshV4: string;
}

/** Options of Lab.addAgent. */
export interface AgentSpec {
  name: string;
  authKey: string;
  /** More `corridor agent` arguments (--socks5 1055, --expose ...). */
  args?: string[];
}

/** Removes namespaces and veths of earlier runs whose process is gone. */
function removeStaleLabs(): void {
  const stem = new RegExp(`^(${PREFIX}([0-9a-z]{5})[0-9a-f]{4})`);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const list = (args: string[]) => {
    try {
      return execFileSync(WG_TOOLS.ip, args, { encoding: "utf8", timeout: 5000 });
    } catch {
      return "";
    }
  };
  for (const line of list(["netns", "list"]).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = stem.exec(name);
    if (m !== null && !alive(Number.parseInt(m[2]!, 36))) removeNamespaceSync(name);
  }
  for (const m of list(["-o", "link", "show"]).matchAll(/^\d+: ([^:@\s]+)[@:]/gm)) {
    const s = stem.exec(m[1] ?? "");
    if (s !== null && !alive(Number.parseInt(s[2]!, 36))) {
      try {
        execFileSync(WG_TOOLS.ip, ["link", "del", m[1]!], { stdio: "ignore", timeout: 5000 });
      } catch {}
    }
  }
}

/** A free 10.203.N.0/24 (no root address in it). */
async function freeSubnet(): Promise<number> {
  const used = (await must([WG_TOOLS.ip, "-o", "-4", "addr", "show"])).stdout;
  for (;;) {
    const n = randomInt(256);
    if (!used.includes(`inet 10.203.${n}.`)) return n;
  }
}

/** The lab: segment, control server, agents. */
export class Lab {
  readonly hosts = new Map<string, LabHost>();
  private nextHost = 1;

  private constructor(
    readonly stem: string,
    readonly subnet: number,
    readonly mesh: AgentMesh,
    readonly dir: string,
    private readonly teardownSync: () => void,
  ) {}

  /** Builds the segment and starts the control server on it. */
  static async start(options: { ephemeralGraceMs?: number } = {}): Promise<Lab> {
    removeStaleLabs();
    installExitHook();
    const stem = newStem(PREFIX);
    const hub = `${stem}h`;
    const subnet = await freeSubnet();
    const dir = mkdtempSync(join(tmpdir(), "corridor-lab-"));
    const namespaces: string[] = [hub];
    const teardownSync = () => {
      for (const ns of namespaces.splice(0).reverse()) removeNamespaceSync(ns);
      try {
        execFileSync(WG_TOOLS.ip, ["link", "del", `${stem}r`], { stdio: "ignore" });
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    };
    unclosed.add(teardownSync);
    try {
      await must([WG_TOOLS.ip, "netns", "add", hub]);
      await must([WG_TOOLS.ip, "-n", hub, "link", "add", "br0", "type", "bridge"]);
      await must([WG_TOOLS.ip, "-n", hub, "link", "set", "br0", "up"]);
      await must([
        WG_TOOLS.ip,
        ...["link", "add", `${stem}r`, "type", "veth", "peer", "name", `${stem}b`],
      ]);
      await must([WG_TOOLS.ip, "link", "set", `${stem}b`, "netns", hub]);
      await must([WG_TOOLS.ip, "-n", hub, "link", "set", `${stem}b`, "master", "br0", "up"]);
      await must([WG_TOOLS.ip, "addr", "add", `10.203.${subnet}.254/24`, "dev", `${stem}r`]);
      await must([WG_TOOLS.ip, "link", "set", `${stem}r`, "up"]);
      const mesh = await startAgentMesh({
        host: `10.203.${subnet}.254`,
        ephemeralGraceMs: options.ephemeralGraceMs,
      });
      const lab = new Lab(stem, subnet, mesh, dir, teardownSync);
      lab.namespaces = namespaces;
      return lab;
    } catch (error) {
      unclosed.delete(teardownSync);
      teardownSync();
      throw error;
    }
  }

  private namespaces: string[] = [];

  /** A namespace on the segment (eth0 at 10.203.N.i), without an agent yet. */
  async addNamespace(): Promise<{ netns: string; address: string }> {
    const i = this.nextHost++;
    const netns = `${this.stem}${i}`;
    const address = `10.203.${this.subnet}.${i}`;
    this.namespaces.push(netns);
    const hub = `${this.stem}h`;
    await must([WG_TOOLS.ip, "netns", "add", netns]);
    await must([WG_TOOLS.ip, "-n", netns, "link", "set", "lo", "up"]);
    const [p, q] = [`${this.stem}${i}p`, `${this.stem}${i}q`];
    await must([WG_TOOLS.ip, "link", "add", p, "type", "veth", "peer", "name", q]);
    await must([WG_TOOLS.ip, "link", "set", p, "netns", hub]);
    await must([WG_TOOLS.ip, "-n", hub, "link", "set", p, "master", "br0", "up"]);
    await must([WG_TOOLS.ip, "link", "set", q, "netns", netns]);
    await must([WG_TOOLS.ip, "-n", netns, "link", "set", q, "name", "eth0"]);
    await must([WG_TOOLS.ip, "-n", netns, "addr", "add", `${address}/24`, "dev", "eth0"]);
    await must([WG_TOOLS.ip, "-n", netns, "link", "set", "eth0", "up"]);
    return { netns, address };
  }

  /** Starts `corridor agent` in a new namespace; resolves once it joined. */
  async addAgent(spec: AgentSpec): Promise<LabHost> {
    const { netns, address } = await this.addNamespace();
    const state = join(this.dir, spec.name);
    const socket = join(state, "agent.sock");
    const agent = new CorridorProcess(
      [
        "agent",
        ...["--server", this.mesh.baseUrl, "--hostname", spec.name, "--state", state],
        ...(spec.args ?? []),
      ],
      { netns, env: { CORRIDOR_AUTH_KEY: spec.authKey } },
    );
    const joined = await agent.waitFor(/joined \S+ as \S+ \((100\.[\d.]+), /);
    const host = { name: spec.name, netns, address, state, socket, agent, meshV4: joined[1]! };
    this.hosts.set(spec.name, host);
    return host;
  }

  /** Runs a command inside `host`'s namespace. */
  exec(host: LabHost, cmd: string[], timeoutMs = 30_000): Promise<RunResult> {
    return run([WG_TOOLS.ip, "netns", "exec", host.netns, ...cmd], { timeoutMs });
  }

  /** Runs `corridor ARGS` (root namespace) talking to `host`'s agent through its socket. */
  corridor(host: LabHost, args: string[], timeoutMs = 30_000): Promise<RunResult> {
    return run(["env", `CORRIDOR_SOCKET=${host.socket}`, process.execPath, corridorBin, ...args], {
      timeoutMs,
    });
  }

  /** The agent's status as `corridor status --json` prints it. */
  // biome-ignore lint/suspicious/noExplicitAny: the status JSON is read field by field
  async status(host: LabHost): Promise<any> {
    const result = await this.corridor(host, ["status", "--json"]);
    if (result.code !== 0) throw new Error(`corridor status: ${result.stderr}`);
    return JSON.parse(result.stdout);
  }

  /** Waits until `host` sees peer `peer` on `path` ("direct" or "relay"). */
  async waitForPath(host: LabHost, peer: string, path: string, hangAfterMs = 45_000) {
    // biome-ignore lint/suspicious/noExplicitAny: status JSON
    let peers: any[] = [];
    await waitUntil(
      () => peers.some((p) => p.name === peer && p.path === path),
      `${host.name} seeing ${peer} on the ${path} path (last: ${JSON.stringify(peers.map((p) => [p.name, p.path]))})`,
      {
        everyMs: 250,
        hangAfterMs,
        poll: async () => {
          // Traffic keeps the probes going: a ping through the agent each round.
          await this.corridor(host, ["ping", "-c", "1", peer], 10_000);
          peers = (await this.status(host)).peers;
        },
      },
    );
  }

  /** nft rules in `host`'s namespace dropping its UDP to and from `others` (table "lab"). */
  async blockUdp(host: LabHost, others: LabHost[]): Promise<void> {
    const set = others.map((o) => o.address).join(", ");
    const rules = [
      "table inet lab {",
      "  chain out {",
      "    type filter hook output priority 0; policy accept;",
      `    ip daddr { ${set} } meta l4proto udp drop`,
      "  }",
      "  chain in {",
      "    type filter hook input priority 0; policy accept;",
      `    ip saddr { ${set} } meta l4proto udp drop`,
      "  }",
      "}",
    ].join("\n");
    await must([WG_TOOLS.ip, "netns", "exec", host.netns, "nft", "-f", "-"], { input: rules });
  }

  /** Removes the rules of blockUdp. */
  async unblockUdp(host: LabHost): Promise<void> {
    await must([WG_TOOLS.ip, "netns", "exec", host.netns, "nft", "delete", "table", "inet", "lab"]);
  }

  /** Stops the agents, the control server and relay, and removes namespaces and the veth. */
  async close(): Promise<void> {
    for (const host of this.hosts.values()) await host.agent.stop("SIGKILL");
    await this.mesh.close();
    unclosed.delete(this.teardownSync);
    this.teardownSync();
  }
}
