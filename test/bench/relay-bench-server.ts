// Child process of relay.bench.ts: a relay (open auth, no logs, no rate limit to speak of) and
// the anchor, a minimal `ws` server that forwards each binary message from one client to the
// other named in its URL (`?id=a&to=b`). Run in its own process so its RSS is its own and the
// clients' event loop is not the servers'. Talks to the parent over IPC:
//   -> { url, anchorUrl }           once listening
//   <- "rss"  -> { rss, heapUsed }   after a forced GC when --expose-gc is on
//   <- "loop-start"                  starts sampling this process's event-loop delay
//   <- "loop-stop" -> { p50, p99, max, stalls, busyStalls }  the delay since "loop-start", in
//                                    ms, and how many times a 1 ms timer came over 5 ms late
//                                    (busyStalls: of those, the ones the process spent mostly
//                                    on the CPU, i.e. its own work held the loop; the rest it
//                                    waited for a CPU the machine gave to other processes)
//   <- "exit"                        exits (also on disconnect)

import { monitorEventLoopDelay } from "node:perf_hooks";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { MAX_MESSAGE, startRelay } from "../../server/relay/index.ts";

// argv[2]: JSON options over the defaults below (section (d) puts the rate limit back).
const overrides = JSON.parse(process.argv[2] ?? "{}") as Record<string, unknown>;
const relay = await startRelay({
  auth: { mode: "open" },
  relayId: "bench-relay",
  log: () => {},
  host: "127.0.0.1",
  // The bench measures forwarding and connections, not the per-client rate limit.
  rate: { bytesPerSecond: 1e12, burstBytes: 1 << 30 },
  maxConnections: 1_000_000,
  // Every bench client comes from 127.0.0.1: lift the per-address and hello caps too.
  maxUnauthenticated: 1_000_000,
  maxConnectionsPerAddress: 1_000_000,
  maxUnauthenticatedPerAddress: 1_000_000,
  ...overrides,
});

const peers = new Map<string, WsSocket>();
const anchor = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  maxPayload: MAX_MESSAGE,
  perMessageDeflate: false,
  clientTracking: false,
});
anchor.on("connection", (ws, req) => {
  const query = new URLSearchParams((req.url ?? "").split("?")[1] ?? "");
  const id = query.get("id") ?? "";
  const to = query.get("to") ?? "";
  peers.set(id, ws);
  ws.on("error", () => {});
  ws.on("close", () => {
    if (peers.get(id) === ws) peers.delete(id);
  });
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) peers.get(to)?.send(data);
  });
});
await new Promise<void>((resolve) => anchor.once("listening", () => resolve()));
const address = anchor.address();
const port = typeof address === "object" && address !== null ? address.port : 0;

const send = (message: unknown) => process.send?.(message);
// How long the relay's event loop was held up (the time a frame can wait before the relay
// even reads it), sampled every millisecond.
let loop = monitorEventLoopDelay({ resolution: 1 });
let stalls = 0;
let busyStalls = 0;
let busyMax = 0;
let ticker: ReturnType<typeof setInterval> | undefined;
process.on("message", (message) => {
  if (message === "loop-start") {
    loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    stalls = 0;
    busyStalls = 0;
    busyMax = 0;
    let at = performance.now();
    let cpu = process.cpuUsage();
    ticker = setInterval(() => {
      const now = performance.now();
      const used = process.cpuUsage(cpu);
      if (now - at > 6) {
        stalls++;
        if ((used.user + used.system) / 1000 >= 0.8 * (now - at)) {
          busyStalls++;
          busyMax = Math.max(busyMax, now - at);
        }
      }
      at = now;
      cpu = process.cpuUsage();
    }, 1);
  } else if (message === "loop-stop") {
    loop.disable();
    clearInterval(ticker);
    const ms = (ns: number) => ns / 1e6;
    send({
      p50: ms(loop.percentile(50)),
      p99: ms(loop.percentile(99)),
      max: ms(loop.max),
      stalls,
      busyStalls,
      busyMax,
    });
  } else if (message === "rss") {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    send({ rss, heapUsed });
  } else if (message === "exit") {
    process.exit(0);
  }
});
process.on("disconnect", () => process.exit(0));
send({ url: relay.url, anchorUrl: `ws://127.0.0.1:${port}/anchor` });
