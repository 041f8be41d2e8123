// This page's WebRTC, lent to the engine (docs/paths.md, "Direct paths from the browser"): a
// Worker has no RTCPeerConnection in Chromium, so the page runs the connections the engine asks
// for (worker/engine/rtc-port.ts has the messages) and moves their data channel's datagrams to
// and from the engine over each connection's MessagePort. The page only offers: it creates the
// one unreliable, unordered channel (werift, the agent's side, mislabels a channel it creates
// in-band as ordered). Nothing here looks inside a datagram: they are WireGuard's ciphertext.

import type {
  FromPageMessage,
  HostOpenMessage,
  ToPageMessage,
} from "../../worker/engine/rtc-port.ts";

/**
 * Above this much queued in the channel a datagram is dropped rather than queued: WireGuard's
 * inner TCP recovers from loss, while a deep queue only adds delay (and werift degrades).
 */
const MAX_BUFFERED = 256 * 1024;
/** Connections this page runs at most, whatever the engine asks (MAX_CHANNELS_PER_PAGE). */
const MAX_CONNECTIONS = 8;

/** The connections this page runs now (for the page's own diagnostics). */
let running = 0;

/** Connections this page runs now. */
export function hostedConnections(): number {
  return running;
}

/**
 * Runs connections for the engine on `hostPort` (the page gives the other end to the engine).
 * On pagehide the engine is told at once, so its peers go back to the relay without waiting.
 */
export function hostRtc(hostPort: MessagePort): void {
  hostPort.onmessage = (event: MessageEvent) => {
    const message = event.data as Partial<HostOpenMessage> | null;
    if (message?.t !== "open" || !(message.port instanceof MessagePort)) return;
    const servers = Array.isArray(message.iceServers)
      ? message.iceServers.filter((url): url is string => typeof url === "string").slice(0, 8)
      : [];
    runConnection(message.port, servers);
  };
  hostPort.start();
  addEventListener("pagehide", () => {
    try {
      hostPort.postMessage({ t: "gone" });
    } catch {
      // The engine is gone already.
    }
  });
}

function runConnection(port: MessagePort, iceServers: string[]): void {
  const post = (message: FromPageMessage): void => port.postMessage(message);
  if (running >= MAX_CONNECTIONS || typeof RTCPeerConnection !== "function") {
    post({ t: "closed", reason: "no_webrtc" });
    port.close();
    return;
  }
  let pc: RTCPeerConnection;
  try {
    pc = new RTCPeerConnection({ iceServers: iceServers.map((urls) => ({ urls })) });
  } catch (error) {
    post({ t: "closed", reason: "no_webrtc" });
    port.close();
    console.warn("corridor: RTCPeerConnection refused the ICE servers", error);
    return;
  }
  running++;
  let channel: RTCDataChannel | undefined;
  let ended = false;
  const end = (reason: string | null): void => {
    if (ended) return;
    ended = true;
    running--;
    if (reason !== null) post({ t: "closed", reason });
    pc.close();
    port.onmessage = null;
    port.close();
  };
  pc.onicecandidate = (event) => {
    const c = event.candidate;
    if (c === null || c.candidate === "") return;
    post({
      t: "candidate",
      candidate: {
        candidate: c.candidate,
        mid: c.sdpMid ?? undefined,
        mline: c.sdpMLineIndex ?? undefined,
      },
    });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") end("ice_failed");
  };
  const openChannel = (): RTCDataChannel => {
    const dc = pc.createDataChannel("wireguard", { ordered: false, maxRetransmits: 0 });
    dc.binaryType = "arraybuffer";
    dc.onopen = () => post({ t: "open" });
    dc.onclose = () => end("channel_closed");
    dc.onmessage = (event: MessageEvent) => {
      const data = event.data;
      if (data instanceof ArrayBuffer) port.postMessage(data, [data]);
    };
    return dc;
  };
  port.onmessage = (event: MessageEvent) => {
    const data = event.data as ArrayBuffer | ToPageMessage;
    if (data instanceof ArrayBuffer) {
      if (channel?.readyState === "open" && channel.bufferedAmount <= MAX_BUFFERED) {
        channel.send(data);
      }
      return;
    }
    switch (data.t) {
      case "offer":
        channel ??= openChannel();
        pc.createOffer()
          .then((offer) => pc.setLocalDescription(offer))
          .then(
            () => post({ t: "done", req: data.req, sdp: pc.localDescription?.sdp ?? "" }),
            (error: Error) => post({ t: "done", req: data.req, error: String(error.message) }),
          );
        return;
      case "answer":
        pc.setRemoteDescription({ type: "answer", sdp: data.sdp }).then(
          () => post({ t: "done", req: data.req }),
          (error: Error) => post({ t: "done", req: data.req, error: String(error.message) }),
        );
        return;
      case "candidate":
        pc.addIceCandidate({
          candidate: data.candidate.candidate,
          sdpMid: data.candidate.mid ?? null,
          sdpMLineIndex: data.candidate.mline ?? null,
        }).catch(() => {
          // A candidate this browser cannot use: the others may still connect.
        });
        return;
      case "close":
        end(null);
        return;
    }
  };
  port.start();
}
