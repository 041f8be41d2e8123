// Child process of relay.bench.ts: one relay client that only measures PING round trips, in a
// process of its own, so what it measures is the relay's latency and not the benchmark's event
// loop (which also drives the bulk flows and checks every packet they carry). Talks to the
// parent over IPC:
//   argv[2]: the relay URL
//   -> { ready: true }                     once WELCOME arrived
//   <- { count }                           measures up to count round trips, one after another
//   <- "stop"                              ends the current measurement early
//   -> { samples: number[] }               the round trips of that measurement, in ms
//   -> { error: string }                   a PING went unanswered (the run fails)
//   <- "exit"                              exits (also on disconnect)

import { initCrypto } from "../../worker/crypto/index.ts";
import { nodeKeys } from "../relay/raw-client.ts";
import { pings, relayClient } from "./relay-bench-client.ts";

const url = process.argv[2] ?? "";
const core = await initCrypto();
const ws = await relayClient(core, url, await nodeKeys());
let stopped = false;

const send = (message: unknown) => process.send?.(message);
process.on("message", (message) => {
  if (message === "exit") {
    ws.terminate();
    process.exit(0);
  } else if (message === "stop") {
    stopped = true;
  } else if (typeof message === "object" && message !== null && "count" in message) {
    stopped = false;
    pings(ws, Number(message.count), () => stopped).then(
      (samples) => send({ samples }),
      (error: unknown) => send({ error: String(error) }),
    );
  }
});
process.on("disconnect", () => process.exit(0));
send({ ready: true });
