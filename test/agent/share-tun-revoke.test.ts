// TUN mode's end of revoked connections (server/agent/tun/tun-revoke.ts): the host's services
// hold the sockets, and `ss -K` destroys those the map no longer allows. The parser and the
// choice are pure; the real thing runs in a network namespace whose loopback carries this node's
// mesh address (100.64.0.2) and two peers' (100.64.0.5, 100.64.0.6), with a Python script
// holding the connections and printing each one's end: a port the filter closes ends the peer's
// connection to it (its other connection stays), a peer removed from the map ends everything
// with it, the host's own connection out to it included, and nothing else is touched.

import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SweptMap } from "../../server/agent/revoke.ts";
import { hostCommands } from "../../server/agent/tun/exec.ts";
import {
  KernelSweep,
  killCommand,
  parseSs,
  socketsToEnd,
} from "../../server/agent/tun/tun-revoke.ts";
import { createLogger } from "../../server/log.ts";
import type { FilterRule, PeerView } from "../../worker/control/types.ts";
import { describeWithPrereq, executable, prereq, root } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { installExitHook, newStem, removeNamespaceSync, unclosed } from "../interop/wg-netns.ts";
import { must, WG_TOOLS } from "../interop/wg-tools.ts";
import { peer } from "./ssh-harness.ts";

const p5 = peer({ id: 5, name: "peer-5", addresses: ["100.64.0.5/32", "fd7a:115c:a1e0::5/128"] });
const p6 = peer({ id: 6, name: "peer-6", addresses: ["100.64.0.6/32", "fd7a:115c:a1e0::6/128"] });
const SELF = new Set(["100.64.0.2", "fd7a:115c:a1e0::2"]);

function tcp(first: number, last = first) {
  return { proto: "tcp" as const, first, last };
}

function map(peers: PeerView[], filter: FilterRule[]): SweptMap {
  return { peers: new Map(peers.map((p) => [p.id, p])), filter, ssh: [] };
}

const SS = [
  "LISTEN    0      128      100.64.0.2:8000      0.0.0.0:*",
  "LISTEN    0      128      *:8001      *:*",
  "ESTAB     0      0        100.64.0.2:8000      100.64.0.5:40001",
  "ESTAB     0      0        100.64.0.2:8001      100.64.0.5:40002",
  "ESTAB     0      0        [fd7a:115c:a1e0::2]:8001 [fd7a:115c:a1e0::5]:40003",
  "ESTAB     0      0        100.64.0.2:45000     100.64.0.6:9000",
  "TIME-WAIT 0      0        100.64.0.2:8000      100.64.0.6:40004",
  "ESTAB     0      0        10.0.0.1:8000        10.0.0.9:40005",
  "ESTAB     0      0        100.64.0.5:40001     100.64.0.2:8000",
  "garbage",
].join("\n");

describe("tun-revoke: what ss lists and what ends", () => {
  it("parses IPv4, IPv6 in brackets, wildcards; skips what it cannot read", () => {
    const sockets = parseSs(SS);
    expect(sockets).toHaveLength(9);
    expect(sockets[1]).toEqual({
      state: "LISTEN",
      local: { address: "*", port: 8001 },
      peer: { address: "*", port: 0 },
    });
    expect(sockets[4]?.peer).toEqual({ address: "fd7a:115c:a1e0::5", port: 40003 });
    expect(parseSs("ESTAB 0 0 [::ffff:100.64.0.2]:22 [fe80::1%eth0]:5")[0]).toMatchObject({
      local: { address: "100.64.0.2", port: 22 },
      peer: { address: "fe80::1", port: 5 },
    });
  });

  it("ends a peer's connections to ports the filter closed, and everything with a removed peer", () => {
    const sockets = parseSs(SS);
    const open = map([p5, p6], [{ src: { any: true }, ports: [tcp(8000, 8001)] }]);
    expect(socketsToEnd(sockets, open, SELF)).toEqual([]);
    const narrowed = map([p5, p6], [{ src: { any: true }, ports: [tcp(8000)] }]);
    const ended = socketsToEnd(sockets, narrowed, SELF);
    expect(ended.map((e) => e.socket.peer.port)).toEqual([40002, 40003]);
    expect(ended[0]?.reason).toBe(
      "the policy no longer lets peer-5 (100.64.0.5) reach TCP port 8001 here",
    );
    // The host's own connection out to peer-6 (an ephemeral local port nothing listens on)
    // is not judged by the filter; peer-6 removed, it ends too.
    const gone = map([p5], [{ src: { any: true }, ports: [tcp(8000, 8001)] }]);
    const ends = socketsToEnd(sockets, gone, SELF);
    expect(ends.map((e) => `${e.socket.local.port}>${e.socket.peer.address}`)).toEqual([
      "45000>100.64.0.6",
    ]);
    expect(ends[0]?.reason).toMatch(/^100\.64\.0\.6 is no longer a node/);
    // --tun-filter none: ports are the host firewall's business; removed peers still end.
    expect(socketsToEnd(sockets, narrowed, SELF, false)).toEqual([]);
    expect(socketsToEnd(sockets, gone, SELF, false)).toHaveLength(1);
    expect(killCommand("/usr/bin/ss", ended[1]!.socket)).toEqual([
      "/usr/bin/ss",
      "-K",
      "-Htn",
      "src",
      "[fd7a:115c:a1e0::2]:8001",
      "dst",
      "[fd7a:115c:a1e0::5]:40003",
    ]);
  });
});

/** Holds the connections in the namespace and prints "ready", then "ended NAME" for each end. */
const HOLDER = `
import socket, select, sys
def listen(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(8); return s
servers = [listen("100.64.0.2", 8000), listen("100.64.0.2", 8001), listen("100.64.0.6", 9000)]
def dial(name, src, dst, port):
    c = socket.socket(); c.bind((src, 0)); c.connect((dst, port)); return (name, c)
clients = [dial("p5-8000", "100.64.0.5", "100.64.0.2", 8000),
           dial("p5-8001", "100.64.0.5", "100.64.0.2", 8001),
           dial("p6-8000", "100.64.0.6", "100.64.0.2", 8000),
           dial("out-p6", "100.64.0.2", "100.64.0.6", 9000)]
accepted = [s.accept()[0] for s in servers for _ in range(2 if s is servers[0] else 1)]
print("ready", flush=True)
live = dict((c.fileno(), (n, c)) for n, c in clients)
while live:
    r, _, _ = select.select([c for _, c in live.values()], [], [])
    for c in r:
        name = live[c.fileno()][0]
        try:
            data = c.recv(10)
        except OSError as e:
            data = b""
        if not data:
            print("ended", name, flush=True)
            del live[c.fileno()]
`;

describeWithPrereq(
  prereq(root(), executable("/usr/bin/ss"), executable("/usr/bin/python3")),
  "tun-revoke: ss -K in a namespace",
  () => {
    let namespace = "";
    let output = "";
    let holder: ReturnType<typeof spawn> | undefined;
    beforeAll(async () => {
      installExitHook();
      namespace = newStem("csrv");
      await must([WG_TOOLS.ip, "netns", "add", namespace]);
      unclosed.add(() => removeNamespaceSync(namespace));
      await must([WG_TOOLS.ip, "-n", namespace, "link", "set", "lo", "up"]);
      for (const a of ["100.64.0.2", "100.64.0.5", "100.64.0.6"]) {
        await must([WG_TOOLS.ip, "-n", namespace, "addr", "add", `${a}/32`, "dev", "lo"]);
      }
      holder = spawn(WG_TOOLS.ip, ["netns", "exec", namespace, "/usr/bin/python3", "-c", HOLDER]);
      holder.stdout?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      holder.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      await waitUntil(() => output.includes("ready"), "the connections to be made");
    }, 30_000);
    afterAll(() => {
      holder?.kill("SIGKILL");
      if (namespace !== "") removeNamespaceSync(namespace);
    });

    it("ends exactly the revoked sockets; their other ends see it at once", async () => {
      const logs: Record<string, unknown>[] = [];
      const sweep = new KernelSweep({
        commands: hostCommands({ netns: namespace }),
        self: () => ["100.64.0.2/32", "fd7a:115c:a1e0::2/128"],
        log: createLogger({ level: "info", sink: (l) => logs.push(JSON.parse(l)) }),
      });
      const both = [{ src: { any: true }, ports: [tcp(8000, 8001)] }];
      expect(await sweep.sweep(map([p5, p6], both))).toBe(0);
      let at = Date.now();
      expect(await sweep.sweep(map([p5, p6], [{ src: { any: true }, ports: [tcp(8000)] }]))).toBe(
        1,
      );
      await waitUntil(() => output.includes("ended p5-8001"), "p5's connection to 8001 to end");
      console.log(`port closed: connection ended after ${Date.now() - at} ms`);
      at = Date.now();
      expect(await sweep.sweep(map([p5], both))).toBe(2);
      await waitUntil(
        () => output.includes("ended p6-8000") && output.includes("ended out-p6"),
        "peer-6's connections to end",
      );
      console.log(`peer removed: its connections ended after ${Date.now() - at} ms`);
      expect(output).not.toContain("ended p5-8000");
      expect(logs.filter((l) => l.event === "tun_connection_revoked")).toHaveLength(3);
    }, 30_000);
  },
);
