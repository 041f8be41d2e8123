// Test rig for TCP against the Linux kernel behind wireguard-go (issue 5's interop tests):
//
//   our engine (Device over UdpBind + NetInterface, in this process)
//        │ UDP (straight, or through a seeded lossy proxy of the test's own)
//   wireguard-go in a namespace (wg-host.ts) ── the namespace's kernel TCP (python3)
//
// Addresses: we are 100.64.0.1 and fd00:64::1, the host 100.64.0.2 and fd00:64::2. Bulk data
// on both ends comes from one deterministic generator, SHAKE-256 in 64 KiB blocks
// (block i = SHAKE256("<seed>:<i>")), which node:crypto and Python's hashlib compute alike, so
// each side can check the other's bytes by their SHA-256 without trusting what it reports.
//
// Transfer protocol (one TCP connection, each direction measured alone): the side that
// connects sends `size` bytes and half-closes; the side that listens reads to EOF, answers a
// line "<sha256 of what it received> <byte count>\n", then sends `size` bytes and closes.

import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createSocket, type RemoteInfo } from "node:dgram";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { UdpBind } from "../../server/udp-bind.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { NetInterface } from "../../worker/net/interface.ts";
import type { TcpConnection, TcpConnectionStats } from "../../worker/net/tcp/types.ts";
import { type Clock, systemClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededInts } from "../helpers/seeded.ts";
import { createWgHost, WG_TOOLS, type WgHost } from "./wg-host.ts";

export const OUR_V4 = "100.64.0.1";
export const OUR_V6 = "fd00:64::1";
export const HOST_V4 = "100.64.0.2";
export const HOST_V6 = "fd00:64::2";
export const MiB = 1024 * 1024;
const BLOCK = 65536;
/** Debian's python3 (DESIGN §5), not whatever PATH finds first. */
export const PYTHON3 = "/usr/bin/python3";

/** Rejects with "timed out: <what>" unless `promise` settles within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Block `index` of the seeded stream (full 64 KiB). */
function block(seed: string, index: number): Buffer {
  return createHash("shake256", { outputLength: BLOCK }).update(`${seed}:${index}`).digest();
}

/** The seeded stream's first `size` bytes, block by block. */
export function* seededStream(seed: string, size: number): Generator<Uint8Array> {
  for (let i = 0, left = size; left > 0; i++, left -= BLOCK) {
    const b = block(seed, i);
    yield left < BLOCK ? b.subarray(0, left) : b;
  }
}

/** SHA-256 (hex) of the seeded stream's first `size` bytes. */
export function seededSha(seed: string, size: number): string {
  const h = createHash("sha256");
  for (const b of seededStream(seed, size)) h.update(b);
  return h.digest("hex");
}

/**
 * The namespace's side of the transfer protocol, for python3 -c. argv: role ("serve" or
 * "connect"), address, port, size, seed of what it sends, socket timeout (s). "serve" prints
 * "listening" once bound; both print one JSON line at the end.
 */
export const KERNEL_PEER_PY = String.raw`
import hashlib, json, socket, sys, time
role, addr, port, size, seed, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].encode(), float(sys.argv[6])
BLOCK = 65536
buf = bytearray(1 << 20)
view = memoryview(buf)

def send_data(s):
    h, left, i = hashlib.sha256(), size, 0
    while left > 0:
        b = hashlib.shake_256(b"%s:%d" % (seed, i)).digest(BLOCK)
        if left < BLOCK:
            b = b[:left]
        h.update(b)
        s.sendall(b)
        left -= len(b)
        i += 1
    return h.hexdigest()

def recv_to_eof(s, h, n):
    while True:
        k = s.recv_into(buf)
        if k == 0:
            return n
        h.update(view[:k])
        n += k

family = socket.AF_INET6 if ":" in addr else socket.AF_INET
if role == "serve":
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(timeout)
    print("listening", flush=True)
    s, _ = ls.accept()
    s.settimeout(timeout)
    t0 = time.monotonic()
    h = hashlib.sha256()
    n = recv_to_eof(s, h, 0)
    t1 = time.monotonic()
    s.sendall(b"%s %d\n" % (h.hexdigest().encode(), n))
    sent = send_data(s)
    s.shutdown(socket.SHUT_WR)
    tail = s.recv(1)
    t2 = time.monotonic()
    out = dict(received_sha=h.hexdigest(), received_bytes=n, sent_sha=sent, receive_s=t1 - t0, send_s=t2 - t1, tail=len(tail))
else:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((addr, port))
    t0 = time.monotonic()
    sent = send_data(s)
    s.shutdown(socket.SHUT_WR)
    head = b""
    while b"\n" not in head:
        k = s.recv(4096)
        if not k:
            break
        head += k
    t1 = time.monotonic()
    line, _, rest = head.partition(b"\n")
    h = hashlib.sha256(rest)
    n = recv_to_eof(s, h, len(rest))
    t2 = time.monotonic()
    out = dict(received_sha=h.hexdigest(), received_bytes=n, sent_sha=sent, send_s=t1 - t0, receive_s=t2 - t1, header=line.decode())
print(json.dumps(out), flush=True)
`;

/** What KERNEL_PEER_PY reports. */
export interface KernelReport {
  received_sha: string;
  received_bytes: number;
  sent_sha: string;
  send_s: number;
  receive_s: number;
  header?: string;
}

/** A python3 transfer peer running in the namespace. */
export interface KernelPeer {
  /** Resolves once "listening" was printed (serve role). */
  listening: Promise<void>;
  /** Resolves with the final report once the process exits 0; rejects otherwise. */
  report: Promise<KernelReport>;
  child: ChildProcess;
}

/** Starts KERNEL_PEER_PY inside the host's namespace. */
export function startKernelPeer(
  host: WgHost,
  args: { role: "serve" | "connect"; address: string; port: number; size: number; seed: string },
): KernelPeer {
  const child = host.spawn([
    PYTHON3,
    "-c",
    KERNEL_PEER_PY,
    args.role,
    args.address,
    String(args.port),
    String(args.size),
    args.seed,
    "60",
  ]);
  let stdout = "";
  let stderr = "";
  let onListening: () => void = () => {};
  const listening = new Promise<void>((resolve) => {
    onListening = resolve;
  });
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
    if (stdout.startsWith("listening\n")) onListening();
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-8192);
  });
  const report = new Promise<KernelReport>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      if (code === 0 && last.startsWith("{")) resolve(JSON.parse(last) as KernelReport);
      else reject(new Error(`python3 ${args.role} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
  report.catch(() => {}); // observed by the test; never an unhandled rejection
  // A peer that died before listening: make `listening` fail with its stderr.
  const listeningOrDeath = Promise.race([listening, report.then(() => {})]);
  return { listening: listeningOrDeath, report, child };
}

/** Our side's measured view of one transfer. */
export interface NodeTransfer {
  sentSha: string;
  sendMs: number;
  receivedSha: string;
  receivedBytes: number;
  receiveMs: number;
  /** The peer's header line (initiator) — "<sha of what it received> <count>". */
  header?: string;
}

async function sendStream(c: TcpConnection, seed: string, size: number): Promise<string> {
  const w = c.writable.getWriter();
  const h = createHash("sha256");
  for (const b of seededStream(seed, size)) {
    h.update(b);
    await w.write(b);
  }
  await w.close();
  return h.digest("hex");
}

/** Our end as the connecting side of the protocol. */
export async function runInitiator(
  c: TcpConnection,
  seed: string,
  size: number,
): Promise<NodeTransfer> {
  const t0 = performance.now();
  let tHeader = 0;
  const sending = sendStream(c, seed, size);
  sending.catch(() => {}); // awaited below; if reading fails first, not an unhandled rejection
  const reader = c.readable.getReader();
  let head = new Uint8Array(0);
  let header: string | undefined;
  const h = createHash("sha256");
  let n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (header === undefined) {
      const joined = new Uint8Array(head.length + value.length);
      joined.set(head);
      joined.set(value, head.length);
      const nl = joined.indexOf(10);
      if (nl < 0) {
        head = joined;
        continue;
      }
      tHeader = performance.now();
      header = new TextDecoder().decode(joined.subarray(0, nl));
      const rest = joined.subarray(nl + 1);
      h.update(rest);
      n += rest.length;
    } else {
      h.update(value);
      n += value.length;
    }
  }
  const tEnd = performance.now();
  const sentSha = await sending;
  return {
    sentSha,
    sendMs: tHeader - t0,
    receivedSha: h.digest("hex"),
    receivedBytes: n,
    receiveMs: tEnd - tHeader,
    header,
  };
}

/** Our end as the listening side of the protocol; resolves once the connection is closed. */
export async function runResponder(
  c: TcpConnection,
  seed: string,
  size: number,
): Promise<NodeTransfer> {
  const t0 = performance.now();
  const reader = c.readable.getReader();
  const h = createHash("sha256");
  let n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    h.update(value);
    n += value.length;
  }
  const receivedSha = h.digest("hex");
  const t1 = performance.now();
  const w = c.writable.getWriter();
  await w.write(new TextEncoder().encode(`${receivedSha} ${n}\n`));
  w.releaseLock();
  const sentSha = await sendStream(c, seed, size);
  await c.closed; // the peer read everything and closed its side too
  return {
    sentSha,
    sendMs: performance.now() - t1,
    receivedSha,
    receivedBytes: n,
    receiveMs: t1 - t0,
  };
}

/** "12.3 MB/s" (decimal megabytes). */
export function rate(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

/** The TcpConnection counters worth printing. */
export function statsLine(s: Readonly<TcpConnectionStats>): string {
  return (
    `segs out ${s.segmentsSent} in ${s.segmentsReceived}, retx ${s.retransmissions} ` +
    `(fast ${s.fastRetransmits}, timeouts ${s.timeouts}), dupacks ${s.dupAcks}, ` +
    `out-of-order ${s.outOfOrder}, srtt ${s.srtt?.toFixed(2)} ms, rto ${s.rto} ms, ` +
    `cwnd ${s.cwnd}, ssthresh ${s.ssthresh}, mss ${s.sendMss}`
  );
}

/**
 * The real clock, with timers that do not keep the process alive: a connection lingering in
 * TIME_WAIT (2 MSL = 60 s) must not hold the test worker open after the rig is gone.
 */
const unrefClock: Clock = {
  now: systemClock.now,
  wallNow: systemClock.wallNow,
  setTimer(ms, fn) {
    const id = setTimeout(fn, ms);
    id.unref();
    return { cancel: () => clearTimeout(id) };
  },
};

/** A UDP proxy between our engine and wireguard-go that loses and reorders datagrams. */
export interface LossyProxy {
  /** Where our engine sends ("127.0.0.1:port"). */
  readonly endpoint: string;
  readonly counts: {
    forwarded: number;
    dropped: number;
    reordered: number;
    handshake: number;
  };
  close(): Promise<void>;
}

/**
 * Starts a proxy on one socket: datagrams from `target` go to the engine (the last other
 * source seen), all others to `target`. Only WireGuard transport messages (type 4) are lost
 * (`loss`) or reordered (`reorder`: held back and released after the next one of the same
 * direction, or after 20 ms if none comes); handshake messages pass, so that a lost
 * handshake's 5 s retry cannot eat the time budget. Decisions come from `seed`.
 */
export async function startLossyProxy(options: {
  target: { host: string; port: number };
  seed: number;
  loss: number;
  reorder: number;
}): Promise<LossyProxy> {
  const socket = createSocket("udp4");
  const random = seededInts(options.seed);
  const counts = { forwarded: 0, dropped: 0, reordered: 0, handshake: 0 };
  let engine: { host: string; port: number } | undefined;
  const held: { msg: Buffer; to: { host: string; port: number }; timer: NodeJS.Timeout }[] = [];
  const heldIn = new Map<string, (typeof held)[number]>();
  const send = (msg: Buffer, to: { host: string; port: number }) => {
    counts.forwarded++;
    socket.send(msg, to.port, to.host);
  };
  const release = (direction: string) => {
    const h = heldIn.get(direction);
    if (!h) return;
    heldIn.delete(direction);
    clearTimeout(h.timer);
    send(h.msg, h.to);
  };
  socket.on("message", (msg: Buffer, from: RemoteInfo) => {
    const fromTarget = from.address === options.target.host && from.port === options.target.port;
    if (!fromTarget) engine = { host: from.address, port: from.port };
    const to = fromTarget ? engine : options.target;
    if (!to) return;
    const direction = fromTarget ? "down" : "up";
    if (msg[0] !== 4) {
      counts.handshake++;
      send(msg, to);
      return;
    }
    const roll = random(1_000_000) / 1_000_000;
    if (roll < options.loss) {
      counts.dropped++;
      return;
    }
    if (roll < options.loss + options.reorder && !heldIn.has(direction)) {
      counts.reordered++;
      const timer = setTimeout(() => release(direction), 20);
      heldIn.set(direction, { msg, to, timer });
      return;
    }
    send(msg, to);
    release(direction);
  });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "0.0.0.0", () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return {
    endpoint: `127.0.0.1:${socket.address().port}`,
    counts,
    close() {
      for (const direction of [...heldIn.keys()]) clearTimeout(heldIn.get(direction)!.timer);
      heldIn.clear();
      return new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    },
  };
}

/** Our engine and interface facing one wireguard-go host. */
export interface MeshRig {
  host: WgHost;
  device: Device;
  bind: UdpBind;
  net: NetInterface;
  proxy?: LossyProxy;
  /** Tears everything down (each step best-effort); safe to call twice. */
  close(): Promise<void>;
}

/**
 * Builds the rig: a wireguard-go host with fd00:64::2/64 added to its tunnel, our device with
 * the host as its one peer (allowed 100.64.0.2/32, fd00:64::2/128), and our NetInterface on
 * 100.64.0.1/32 and fd00:64::1/128. With `lossy`, our device's Endpoint is a LossyProxy and
 * the host learns the proxy as our endpoint by roaming. Resolves once a ping of each address
 * family has been answered through the tunnel (so the host knows our endpoint). `track`
 * receives the rig's close before anything can fail, so a half-built rig is still torn down.
 */
export async function createMeshRig(
  track: (close: () => Promise<void>) => void,
  options: { lossy?: { seed: number; loss: number; reorder: number } } = {},
): Promise<MeshRig> {
  const steps: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const errors: string[] = [];
      for (const step of steps.splice(0).reverse()) {
        try {
          await step();
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
      if (errors.length > 0) throw new Error(`mesh rig teardown: ${errors.join("; ")}`);
    })();
    return closing;
  };
  track(close);

  const core = await initCrypto();
  const privateKey = generatePrivateKey();
  const ourKey = keyToBase64(await nodeX25519.publicKey(privateKey));
  const host = await createWgHost({
    peer: { publicKey: ourKey, allowedIps: [`${OUR_V4}/32`, `${OUR_V6}/128`] },
    prefix: "ctcp",
  });
  steps.push(() => host.close());
  // nodad: usable at once (no duplicate address detection keeping it tentative for a while).
  const added = await host.exec([
    WG_TOOLS.ip,
    "-6",
    "addr",
    "add",
    `${HOST_V6}/64`,
    "dev",
    host.iface,
    "nodad",
  ]);
  if (added.code !== 0) throw new Error(`ip -6 addr add: ${added.stderr.trim()}`);

  let proxy: LossyProxy | undefined;
  if (options.lossy) {
    proxy = await startLossyProxy({
      target: { host: host.hostAddress, port: host.listenPort },
      ...options.lossy,
    });
    const p = proxy;
    steps.push(() => p.close());
  }

  const bind = new UdpBind({ host: "0.0.0.0", port: 0 });
  let net: NetInterface | undefined;
  const device = await Device.create({
    privateKey,
    bind,
    core,
    x25519: nodeX25519,
    clock: systemClock,
    onPacket: (packet) => net?.receive(packet),
  });
  steps.push(() => device.close());
  const made = new NetInterface({
    addresses: [`${OUR_V4}/32`, `${OUR_V6}/128`],
    output: (packet) => {
      device.send(packet);
    },
    clock: unrefClock,
    randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
    mtu: 1420,
  });
  net = made;
  // Before the device closes: end every connection (TIME_WAIT included) and its timers.
  steps.push(() => {
    for (const c of made.tcp.connections) c.abort("rig closed");
  });
  await device.addPeer({
    publicKey: keyFromBase64(host.publicKey),
    endpoint: proxy?.endpoint ?? `${host.hostAddress}:${host.listenPort}`,
    allowedIps: [`${HOST_V4}/32`, `${HOST_V6}/128`],
  });
  // The first packet starts our handshake; over the lossy proxy a ping may be lost, so retry.
  for (const target of [HOST_V4, HOST_V6]) {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await made.ping(target, { timeoutMs: 1000 });
        lastError = undefined;
        break;
      } catch (error) {
        lastError = error as Error;
      }
    }
    if (lastError) throw new Error(`${lastError.message}; wireguard-go log:\n${host.logs()}`);
  }
  return { host, device, bind, net: made, proxy, close };
}
