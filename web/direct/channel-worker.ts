// The page's channel worker: each data channel the page creates for the engine is transferred
// here with its data port (rtc-host.ts), so its datagrams flow between Chromium's WebRTC and the
// engine's SharedWorker without waiting for the page's main thread (busy drawing a terminal, it
// cut the direct path's throughput to a quarter of the relay's in bench:direct).

import { pumpChannel } from "./channel-pump.ts";

/** What the page sends: one channel and its data port. */
interface ChannelHandoff {
  channel: RTCDataChannel;
  port: MessagePort;
}

self.onmessage = (event: MessageEvent) => {
  const { channel, port } = (event.data ?? {}) as Partial<ChannelHandoff>;
  if (channel instanceof RTCDataChannel && port instanceof MessagePort) pumpChannel(channel, port);
};
