// The topology of the agent benchmark (agent.bench.ts):
//
//   ours:    agent X (100.64.9.1) ── direct UDP on loopback ── agent Y (100.64.9.2), two
//            MeshNodes in this process with `direct` (agent-mesh.ts): PathBind over UdpBind,
//            packet filter, NetInterface, and a relay in this process as the fallback; hand
//            maps point their endpoints at each other. Y runs the sink.
//   kernel:  namespace A (wireguard-go, 100.64.0.3, python sender) ── veth pair ──
//            namespace S (wireguard-go, 100.64.0.2, python sink), no routing through the root
//            namespace (no sysctl or firewall of the machine touched).
//   lossy:   the kernel pair through a seeded lossy UDP proxy in this process
//            (mesh-rig.ts startLossyProxy; A's and S's endpoints are the proxy's address on
//            their root-namespace veth); our pair with the same seeded rule applied to each
//            agent's outgoing direct datagrams (agent-mesh.ts LossyBind), so the loss costs
//            our one thread no proxy hop the kernel pair does not pay either.

import { randomBytes } from "node:crypto";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBind } from "../../server/udp-bind.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";
import { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection } from "../../worker/net/tcp/types.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { executable, prereq } from "../helpers/prereq.ts";
import { type LossyProxy, PYTHON3, startLossyProxy, within } from "../interop/mesh-rig.ts";
import { createWgHost, type WgHost, wgGenKey, wgHostPrereq } from "../interop/wg-host.ts";
import { createMeshPair, type LossyBind } from "./agent-mesh.ts";
import { joinByVeth, senderScript, startKernelSink } from "./kernel-anchor.ts";

const SINK_PORT = 5301;
const CHUNK = 256 * 1024;
const TRANSFER_TIMEOUT_MS = 180_000;
const LOSS = { seed: 14, loss: 0.03, reorder: 0.03 };

/** One timed transfer. */
export interface Transfer {
  mbPerSec: number;
  retransmissions: number;
}

/** A userspace node: the agent's engine without the control plane. */
export interface Engine {
  device: Device;
  bind: UdpBind;
  net: NetInterface;
}

/** What the benchmark drives. */
export interface AgentBenchNodes {
  /** Namespaces A (client side) and S (server side), wireguard-go in each. */
  a: WgHost;
  s: WgHost;
  core: CryptoCore;
  oursSend(path: "clean" | "lossy", bytes: number): Promise<Transfer>;
  kernelSend(path: "clean" | "lossy", bytes: number): Promise<Transfer>;
  /** Datagrams the kernel pair's proxy and our agents' lossy binds passed, dropped, held. */
  lossCounts(): { ours: LossyBind["counts"]; kernel: LossyProxy["counts"] };
  /** Datagrams our agents sent through the relay during transfers (the direct path's figure). */
  relayedDuringTransfers(): number;
  /** A userspace node peered with wireguard-go in A (A reaches it as `address`). */
  engineForA(address: string): Promise<Engine>;
  /** Registers a teardown step (run in reverse order by close). */
  onClose(step: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Why the rig cannot run here, or undefined. */
export function agentRigMissing(): string | undefined {
  const need = prereq(
    ...wgHostPrereq().missing.map((what) => ({ what, ok: false })),
    executable(PYTHON3),
  );
  return need.ok ? undefined : need.reason;
}

// The kernel sender: N bytes in 1 MiB sendall calls, half-close, wait for the count; prints
// the count, the seconds from the established connection, and the retransmitted segments.
const SENDER = senderScript(
  120,
  `took = time.perf_counter() - start
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
retrans = int.from_bytes(info[100:104], "little")  # tcpi_total_retrans
print(reply.decode().strip(), took, retrans)`,
);

async function makeEngine(
  core: CryptoCore,
  address: string,
  privateKey: Uint8Array,
): Promise<Engine> {
  // 4 MiB receive buffers, as server/wg-engine.ts asks: the default (208 KiB) overflows while
  // the one thread is busy sealing a burst, and TCP backs off on the loss.
  const bind = new UdpBind({ host: "0.0.0.0", port: 0, recvBufferSize: 4 << 20 });
  let net: NetInterface | undefined;
  const device = await Device.create({
    privateKey,
    bind,
    core,
    x25519: nodeX25519,
    clock: systemClock,
    mtu: 1420,
    onPacket: (packet) => net?.receive(packet),
  });
  net = new NetInterface({
    addresses: [`${address}/32`],
    output: (packet) => {
      device.send(packet);
    },
    clock: systemClock,
    randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
    mtu: 1420,
  });
  return { device, bind, net };
}

/** Our sink on a userspace node: the kernel sink's protocol. */
function engineSink(net: NetInterface): void {
  const listener = net.tcp.listen("any", SINK_PORT);
  const serve = async (conn: TcpConnection) => {
    let n = 0;
    const reader = conn.readable.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
    const writer = conn.writable.getWriter();
    await writer.write(new TextEncoder().encode(`${n}\n`));
    await writer.close();
  };
  (async () => {
    for (;;) serve(await listener.accept()).catch(() => {});
  })().catch(() => {});
}

const payload = new Uint8Array(randomBytes(CHUNK));

async function engineSend(net: NetInterface, to: string, bytes: number): Promise<Transfer> {
  const destination = parseIp(to);
  const run = async (): Promise<Transfer> => {
    const conn = await net.tcp.connect(net.sourceFor(destination), destination, SINK_PORT, {
      timeoutMs: 10_000,
    });
    const start = performance.now();
    const writer = conn.writable.getWriter();
    for (let sent = 0; sent < bytes; sent += CHUNK) {
      const n = Math.min(CHUNK, bytes - sent);
      await writer.write(n === CHUNK ? payload : payload.subarray(0, n));
    }
    await writer.close();
    let reply = "";
    const reader = conn.readable.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read())
      reply += new TextDecoder().decode(r.value);
    const seconds = (performance.now() - start) / 1000;
    if (reply.trim() !== String(bytes))
      throw new Error(`our sink counted ${reply.trim() || "nothing"}, sent ${bytes}`);
    return { mbPerSec: bytes / 1e6 / seconds, retransmissions: conn.stats.retransmissions };
  };
  return within(run(), TRANSFER_TIMEOUT_MS, `our transfer of ${bytes} bytes to ${to}`);
}

/** Builds the rig; on failure everything built so far is torn down. */
export async function createAgentRig(): Promise<AgentBenchNodes> {
  const steps: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const step of steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`agent rig teardown: ${(error as Error).message}`);
      }
    }
  };
  try {
    const core = await initCrypto();
    const [aKeys, sKeys] = [await wgGenKey(), await wgGenKey()];
    const link = { s: "10.203.0.1", a: "10.203.0.2" };
    const s = await createWgHost({
      peer: { publicKey: aKeys.publicKey, allowedIps: "100.64.0.3/32" },
      privateKey: sKeys.privateKey,
      prefix: "cag",
      logLevel: "error",
    });
    steps.push(() => s.close());
    const a = await createWgHost({
      peer: { publicKey: sKeys.publicKey, allowedIps: "100.64.0.2/32" },
      privateKey: aKeys.privateKey,
      tunnelAddress: "100.64.0.3",
      prefix: "cag",
      logLevel: "error",
    });
    steps.push(() => a.close());
    await joinByVeth(s, a, link);

    const kernelProxy = await startLossyProxy({
      target: { host: s.hostAddress, port: s.listenPort },
      ...LOSS,
    });
    steps.push(() => kernelProxy.close());
    const proxyPort = Number(kernelProxy.endpoint.split(":")[1]);
    const kernelPath = async (path: "clean" | "lossy") => {
      await s.setPeer({
        publicKey: aKeys.publicKey,
        allowedIps: "100.64.0.3/32",
        endpoint: path === "clean" ? `${link.a}:${a.listenPort}` : `${s.ourAddress}:${proxyPort}`,
      });
      await a.setPeer({
        publicKey: sKeys.publicKey,
        allowedIps: "100.64.0.2/32",
        endpoint: path === "clean" ? `${link.s}:${s.listenPort}` : `${a.ourAddress}:${proxyPort}`,
      });
    };

    await startKernelSink(s, PYTHON3, SINK_PORT);

    // Our pair: two agents, X sends, Y sinks.
    const mesh = await createMeshPair(LOSS);
    steps.push(() => mesh.close());
    engineSink(mesh.y.net);
    await mesh.waitDirect();
    let relayed = 0;

    const kernelSend = async (path: "clean" | "lossy", bytes: number): Promise<Transfer> => {
      await kernelPath(path);
      const result = await a.exec(
        [PYTHON3, "-c", SENDER, s.tunnelAddress, String(SINK_PORT), String(bytes)],
        { timeoutMs: TRANSFER_TIMEOUT_MS },
      );
      const [count, seconds, retrans] = result.stdout.trim().split(/\s+/);
      if (result.code !== 0 || count !== String(bytes) || !(Number(seconds) > 0)) {
        throw new Error(
          `kernel sender (${path}): exit ${result.code}, sink counted ${count ?? "nothing"} of ${bytes}: ${result.stderr.trim()}`,
        );
      }
      return { mbPerSec: bytes / 1e6 / Number(seconds), retransmissions: Number(retrans) };
    };
    const oursSend = async (path: "clean" | "lossy", bytes: number): Promise<Transfer> => {
      mesh.setLossy(path === "lossy");
      await mesh.waitDirect();
      const relayBefore = mesh.relaySent();
      const result = await engineSend(mesh.x.net, mesh.addresses.y, bytes);
      relayed += mesh.relaySent() - relayBefore;
      return result;
    };

    const engineForA = async (address: string): Promise<Engine> => {
      const key = generatePrivateKey();
      const engine = await makeEngine(core, address, key);
      steps.push(() => engine.device.close());
      const publicKey = await nodeX25519.publicKey(key);
      await a.setPeer({
        publicKey: Buffer.from(publicKey).toString("base64"),
        allowedIps: `${address}/32`,
        endpoint: `${a.ourAddress}:${engine.bind.localPort}`,
      });
      await engine.device.addPeer({
        publicKey: new Uint8Array(Buffer.from(aKeys.publicKey, "base64")),
        endpoint: `${a.hostAddress}:${a.listenPort}`,
        allowedIps: ["100.64.0.3/32"],
      });
      return engine;
    };

    return {
      a,
      s,
      core,
      oursSend,
      kernelSend,
      lossCounts: () => ({ ours: mesh.lossCounts(), kernel: kernelProxy.counts }),
      relayedDuringTransfers: () => relayed,
      engineForA,
      onClose: (step) => steps.push(step),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
