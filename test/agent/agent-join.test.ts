// `corridor agent` as a real process against a control server in this process: it joins with
// an auth key (from the command line or CORRIDOR_AUTH_KEY) and prints its name and addresses;
// a restart on the same --state is the same node without a key; without a key it prints an
// approval URL and joins once the owner approves it through the API; SIGTERM leaves cleanly
// (exit 0) and an ephemeral node is then removed; a refused auth key exits 1 with the server's
// message, and the key is on no output line.

import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { executable, prereq, root } from "../helpers/prereq.ts";
import { type AgentMesh, CorridorProcess, startAgentMesh } from "./agent-harness.ts";

let mesh: AgentMesh;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-agent-join-"));
  // The server's default grace for ephemeral nodes (two minutes): a removal seen within this
  // test is the agent's logout, not the grace period running out.
  mesh = await startAgentMesh();
}, 60_000);

afterAll(async () => {
  await mesh?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `corridor agent` on the mesh with `extra` arguments; stopped when the test ends. */
function agent(state: string, extra: string[], env: Record<string, string> = {}): CorridorProcess {
  const started = new CorridorProcess(
    ["agent", "--server", mesh.baseUrl, "--state", join(dir, state), "--ssh-port", "0", ...extra],
    { env },
  );
  onTestFinished(async () => {
    await started.stop("SIGKILL");
  });
  return started;
}

const JOINED = /joined \S+ as (\S+) \((100\.\d+\.\d+\.\d+), ([0-9a-f:]+)\), key (\S+)\n/;

describe("corridor agent joins the mesh", () => {
  it("joins with an auth key; a restart on the same --state is the same node, without a key", async () => {
    const key = await mesh.authKey({ reusable: false });
    const first = agent("a", ["--hostname", "build-01"], { CORRIDOR_AUTH_KEY: key });
    const [, name, ipv4, , nodeKey] = await first.waitFor(JOINED);
    expect(name).toBe("build-01");
    const nodes = await mesh.nodes();
    const node = nodes.find((n) => n.key === nodeKey);
    expect(node).toMatchObject({ name: "build-01", hostname: "build-01" });
    expect(node?.addresses).toContain(ipv4);
    expect(await first.stop()).toBe(0);
    expect(first.stdout).toContain("corridor agent: left the mesh\n");
    expect(statSync(join(dir, "a")).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "a", "node.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "a", "ssh_host_ed25519_key")).mode & 0o777).toBe(0o600);
    // The key was single-use: the same node comes back on its node key alone.
    const again = agent("a", ["--hostname", "build-01"]);
    const [, name2, ipv4b, , nodeKey2] = await again.waitFor(JOINED);
    expect([name2, ipv4b, nodeKey2]).toEqual([name, ipv4, nodeKey]);
    const after = await mesh.nodes();
    const same = after.filter((n) => n.key === nodeKey);
    expect(same.map((n) => [n.id, n.name, n.addresses])).toEqual([
      [node?.id, node?.name, node?.addresses],
    ]);
    expect(after).toHaveLength(nodes.length);
    // The auth key is never printed or logged.
    expect(`${first.stdout}${first.stderr}${again.stdout}${again.stderr}`).not.toContain(key);
  }, 60_000);

  it("without a key, prints the approval URL and joins once the owner approves it", async () => {
    const waiting = agent("b", ["--hostname", "needs-ok"]);
    const [, url] = await waiting.waitFor(
      /waiting for approval: a signed-in user must open (\S+)\n/,
    );
    expect(url).toMatch(new RegExp(`^${mesh.baseUrl}/approve/[A-Za-z0-9_-]+$`));
    // The local socket answers while the node waits: `corridor status` shows the URL.
    const status = new CorridorProcess([
      "status",
      "--json",
      "--socket",
      join(dir, "b", "agent.sock"),
    ]);
    expect(await status.exited).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      self: null,
      control: { state: "waiting", url: mesh.baseUrl, approvalUrl: url },
      mode: "userspace",
    });
    const id = new URL(url!).pathname.split("/").pop();
    const approved = await mesh.api("POST", `/api/v1/approvals/${id}`, { approve: true });
    expect(approved).toEqual({ status: 200, json: { approved: true } });
    const [, name] = await waiting.waitFor(JOINED);
    expect(name).toBe("needs-ok");
    expect(await waiting.stop("SIGINT")).toBe(0);
  }, 60_000);

  it("SIGTERM of an ephemeral agent exits 0 after logging out: the node is gone at once", async () => {
    const key = await mesh.authKey({ ephemeral: true });
    const eph = agent("c", ["--hostname", "ci-runner", "--auth-key", key, "--ephemeral"]);
    const [, , , , nodeKey] = await eph.waitFor(JOINED);
    expect((await mesh.nodes()).some((n) => n.key === nodeKey)).toBe(true);
    expect(await eph.stop("SIGTERM")).toBe(0);
    // Removed before the process exited, not two minutes later.
    expect((await mesh.nodes()).some((n) => n.key === nodeKey)).toBe(false);
    expect(eph.stdout).not.toContain(key);
  }, 60_000);

  it("a refused auth key exits 1 with the server's message, and is not retried", async () => {
    const refused = agent("d", ["--auth-key", "corridor-authkey-notarealkey0000000000"]);
    expect(await refused.exited).toBe(1);
    expect(refused.stderr).toMatch(/corridor agent: the control server refused this node: .+\n/);
    expect(refused.stderr).not.toContain("notarealkey");
  }, 60_000);

  const setpriv = prereq(root(), executable("/usr/bin/setpriv"));
  it.skipIf(setpriv.skip)(
    "a non-root agent reports its own user as the only SSH user; a root one reports none",
    async () => {
      setpriv.assert();
      const key = await mesh.authKey({ reusable: true });
      const state = join(dir, "nobody");
      // nobody must pass through the test's temp folder (0700, root's) to reach its own.
      chmodSync(dir, 0o711);
      mkdirSync(state, { mode: 0o700 });
      chownSync(state, 65534, 65534);
      // The same binary, as the user nobody (its state dir is nobody's).
      const asNobody = new CorridorProcess(
        ["agent", "--server", mesh.baseUrl, "--state", state, "--hostname", "unprivileged"],
        {
          env: { CORRIDOR_AUTH_KEY: key, HOME: state },
          wrap: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        },
      );
      onTestFinished(async () => {
        await asNobody.stop("SIGKILL");
      });
      const [, , , , nobodyKey] = await asNobody.waitFor(JOINED);
      const asRoot = agent("root-run", ["--hostname", "privileged", "--ssh-port", "22"], {
        CORRIDOR_AUTH_KEY: key,
      });
      const [, , , , rootKey] = await asRoot.waitFor(JOINED);
      const nodes = await mesh.nodes();
      const view = (k: string | undefined) => nodes.find((n) => n.key === k) as unknown;
      expect(view(nobodyKey)).toMatchObject({ name: "unprivileged", sshUsers: ["nobody"] });
      expect(view(rootKey)).toMatchObject({ name: "privileged", sshUsers: null });
    },
    60_000,
  );

  it("--tun refuses --ssh-port and --expose, which only the userspace mode has", async () => {
    const bad = new CorridorProcess([
      "agent",
      "--server",
      mesh.baseUrl,
      "--tun",
      "corridor9",
      "--expose",
      "22",
    ]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toContain("--ssh-port and --expose do not apply");
  }, 30_000);

  it("a --server URL with another path fails at once, naming the expected form", async () => {
    const bad = new CorridorProcess(["agent", "--server", `${mesh.baseUrl}/relay`]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toContain(
      "corridor agent: --server: path /relay is not the control server's: expected the control server's base URL",
    );
  }, 30_000);
});
