// One data channel's datagrams to and from the engine (docs/paths.md, "Direct paths from the
// browser"), over the connection's data port (worker/engine/rtc-port.ts): batches both ways
// (worker/engine/rtc-batch.ts), "open" and "closed" to the engine. It runs in this page's
// channel worker (channel-worker.ts: the channel is transferred there, so a busy page, a
// terminal drawing a flood of output, never holds packets up) or, where a browser cannot transfer
// a channel, on the page itself.

import { BatchWriter, readBatch } from "../../worker/engine/rtc-batch.ts";
import type { FromChannelMessage } from "../../worker/engine/rtc-port.ts";
import { isProbe } from "../../worker/path/probe-magic.ts";

/**
 * Above this much queued in the channel a datagram is dropped rather than queued: WireGuard's
 * inner TCP recovers from loss, while a deep queue only adds delay (and werift degrades).
 */
const MAX_BUFFERED = 256 * 1024;

/** Moves `channel`'s datagrams to and from the engine over `port` until either closes. */
export function pumpChannel(channel: RTCDataChannel, port: MessagePort): void {
  const post = (message: FromChannelMessage): void => port.postMessage(message);
  let ended = false;
  // Each datagram arrives as its own task: a sparse one is flushed at the end of its task (no
  // delay); a burst is collected until a timer runs after the queued ones.
  let lastFlush = 0;
  const toEngine = new BatchWriter(
    (batch) => {
      lastFlush = performance.now();
      port.postMessage(batch, [batch]);
    },
    (flush) => {
      if (performance.now() - lastFlush > 4) queueMicrotask(flush);
      else setTimeout(flush, 0);
    },
  );
  channel.binaryType = "arraybuffer";
  channel.onopen = () => post({ t: "open" });
  channel.onclose = () => {
    if (ended) return;
    ended = true;
    toEngine.flush();
    post({ t: "closed", reason: "channel_closed" });
    port.onmessage = null;
    port.close();
  };
  channel.onmessage = (event: MessageEvent) => {
    const data = event.data;
    if (data instanceof ArrayBuffer && !ended) toEngine.add(new Uint8Array(data));
  };
  port.onmessage = (event: MessageEvent) => {
    const data = event.data;
    if (!(data instanceof ArrayBuffer)) return;
    for (const datagram of readBatch(data).datagrams) {
      if (channel.readyState !== "open") return;
      // Path probes pass the bound: a busy channel must still answer them, or its path flaps.
      if (channel.bufferedAmount > MAX_BUFFERED && !isProbe(datagram)) continue;
      channel.send(datagram);
    }
  };
  port.start();
  // A channel transferred after it opened (it cannot be, but a page may run this late).
  if (channel.readyState === "open") post({ t: "open" });
}
