// The kernel anchor's pieces shared by the TCP benchmark (tcp.bench.ts) and the agent
// benchmark (agent-rig.ts): namespaces S and A (wireguard-go each, test/interop/wg-host.ts)
// joined directly by a veth pair, so no routing through the root namespace (no sysctl or
// firewall of the machine touched), and the Python sink in S.

import { createWgHost, type WgHost } from "../interop/wg-host.ts";
import { must, WG_TOOLS, wgGenKey } from "../interop/wg-tools.ts";

// The sink: one connection at a time, read and discard, answer the count after the FIN.
const SINK = `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    n = 0
    while True:
        k = c.recv_into(buf)
        if k == 0:
            break
        n += k
    c.sendall(b"%d\\n" % n)
    c.close()
`;

/**
 * The kernel sender's script: N bytes (argv: host, port, N) in 1 MiB sendall calls with a
 * `timeoutSeconds` socket timeout, half-close, wait for the sink's count (in `reply`; `start`
 * is when the connection was established); then `report`, the lines that print the result.
 */
export function senderScript(timeoutSeconds: number, report: string): string {
  return `
import os, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = memoryview(os.urandom(1 << 20))
s = socket.create_connection((host, port), timeout=${timeoutSeconds})
start = time.perf_counter()
left = n
while left > 0:
    k = min(left, len(buf))
    s.sendall(buf[:k])
    left -= k
s.shutdown(socket.SHUT_WR)
reply = b""
while not reply.endswith(b"\\n"):
    d = s.recv(64)
    if not d:
        break
    reply += d
${report}
`;
}

/** Joins S and A by a veth pair, `link.s` and `link.a` its two ends' addresses (a /30). */
export async function joinByVeth(
  s: WgHost,
  a: WgHost,
  link: { s: string; a: string },
): Promise<void> {
  const ip = (...args: string[]) => must([WG_TOOLS.ip, ...args]);
  const [sLink, aLink] = [`${s.namespace}x`, `${a.namespace}x`];
  await ip(
    ...["link", "add", sLink, "netns", s.namespace, "type", "veth"],
    ...["peer", "name", aLink, "netns", a.namespace],
  );
  await ip("-n", s.namespace, "addr", "add", `${link.s}/30`, "dev", sLink);
  await ip("-n", a.namespace, "addr", "add", `${link.a}/30`, "dev", aLink);
  await ip("-n", s.namespace, "link", "set", sLink, "up");
  await ip("-n", a.namespace, "link", "set", aLink, "up");
}

/**
 * Namespace A: the anchor's wireguard-go at 100.64.0.3, a peer of S, joined to it by a veth pair
 * (`link`: the two ends' addresses, a /30); S learns A as its peer. The caller closes A.
 */
export async function createAnchorHost(
  s: WgHost,
  link: { s: string; a: string },
  prefix: string,
): Promise<WgHost> {
  const aKeys = await wgGenKey();
  const a = await createWgHost({
    peer: {
      publicKey: s.publicKey,
      allowedIps: "100.64.0.0/24",
      endpoint: `${link.s}:${s.listenPort}`,
    },
    privateKey: aKeys.privateKey,
    tunnelAddress: "100.64.0.3",
    prefix,
    logLevel: "error",
  });
  try {
    await joinByVeth(s, a, link);
    await s.setPeer({
      publicKey: aKeys.publicKey,
      allowedIps: "100.64.0.3/32",
      endpoint: `${link.a}:${a.listenPort}`,
    });
  } catch (error) {
    await a.close();
    throw error;
  }
  return a;
}

/**
 * Starts the sink in S on `port` (it lives as long as the namespace); resolves once it
 * listens, rejects if it exits first or is not ready within 10 s.
 */
export async function startKernelSink(s: WgHost, python: string, port: number): Promise<void> {
  const sink = s.spawn([python, "-c", SINK, String(port)]);
  let out = "";
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error("python sink in S: not ready in 10000 ms")),
        10_000,
      );
      sink.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        if (out.includes("ready")) resolve();
      });
      sink.stderr?.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
      });
      sink.on("exit", () => reject(new Error(`kernel sink exited: ${out}`)));
    });
  } finally {
    clearTimeout(timer);
  }
}
