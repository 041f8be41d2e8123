// Child process of server-memory.test.ts: a relay (open auth, no log output) in its own process,
// so that its RSS in /proc is the relay's alone. Options come as JSON in argv[2] (the test lifts
// the queue caps to show what happens without them). Tells the parent { url, pid } over IPC
// once listening; exits when the parent goes away.

import { startRelay } from "../../server/relay/index.ts";
import type { RelayOptions } from "../../server/relay/options.ts";

const extra = JSON.parse(process.argv[2] ?? "{}") as Partial<RelayOptions>;
const relay = await startRelay({
  auth: { mode: "open" },
  relayId: "memory-test",
  host: "127.0.0.1",
  log: () => {},
  ...extra,
});
process.send?.({ url: relay.url, pid: process.pid });
process.on("disconnect", () => process.exit(0));
