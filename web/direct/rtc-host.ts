// This page's WebRTC, lent to the engine (docs/paths.md, "Direct paths from the browser"): a
// Worker has no RTCPeerConnection in Chromium, so the page runs the connections the engine asks
// for (worker/engine/rtc-port.ts has the messages); each connection's data channel goes, with a
// data port to the engine, to the page's channel worker (channel-worker.ts), off the main
// thread. The page only offers: it creates the one unreliable, unordered channel (werift, the
// agent's side, mislabels a channel it creates in-band as ordered). Nothing here looks inside a
// datagram: they are WireGuard's ciphertext.

import type {
  FromPageMessage,
  HostOpenMessage,
  ToPageMessage,
} from "../../worker/engine/rtc-port.ts";
import { pumpChannel } from "./channel-pump.ts";

/** Connections this page runs at most, whatever the engine asks (MAX_CHANNELS_PER_PAGE). */
const MAX_CONNECTIONS = 8;

/** How long a connection may stay "disconnected" before the page ends it (ms). */
const DISCONNECTED_GRACE_MS = 10_000;

let channelWorker: Worker | null | undefined;

/**
 * Runs the channel's datagrams off this page's main thread: the channel goes to the page's
 * channel worker (Chromium can transfer a data channel to a dedicated worker, not to the
 * engine's SharedWorker). Where the browser cannot, it is pumped here.
 */
function handOff(channel: RTCDataChannel, port: MessagePort): void {
  if (channelWorker === undefined) {
    try {
      channelWorker = new Worker(new URL("./channel-worker.ts", import.meta.url), {
        type: "module",
        name: "corridor-channels",
      });
    } catch {
      channelWorker = null;
    }
  }
  if (channelWorker !== null) {
    try {
      channelWorker.postMessage({ channel, port }, [channel as unknown as Transferable, port]);
      return;
    } catch {
      // Not transferable here (DataCloneError): nothing moved, the page pumps it.
    }
  }
  pumpChannel(channel, port);
}

/** The connections this page runs now (for the page's own diagnostics). */
let running = 0;

/** Connections this page runs now. */
export function hostedConnections(): number {
  return running;
}

/** Runs the connection an engine's "open" message asks for (anything else is ignored). */
export function runRequest(data: unknown): void {
  const message = data as Partial<HostOpenMessage> | null;
  if (message?.t !== "open" || !(message.port instanceof MessagePort)) return;
  const servers = Array.isArray(message.iceServers)
    ? message.iceServers.filter((url): url is string => typeof url === "string").slice(0, 8)
    : [];
  runConnection(message.port, servers);
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
  /** The offer made the channel (once: a repeated offer request reuses it). */
  let channelMade = false;
  let ended = false;
  const end = (reason: string | null): void => {
    if (ended) return;
    ended = true;
    running--;
    clearTimeout(disconnected);
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
  // "disconnected" may heal (a moment of loss); one that lasts is as good as failed, and the
  // slot is better given to another attempt than held until ICE consent runs out (~30 s).
  let disconnected: ReturnType<typeof setTimeout> | undefined;
  pc.onconnectionstatechange = () => {
    const state = pc.connectionState;
    clearTimeout(disconnected);
    if (state === "failed" || state === "closed") end("ice_failed");
    else if (state === "disconnected") {
      disconnected = setTimeout(() => end("ice_disconnected"), DISCONNECTED_GRACE_MS);
    }
  };
  const openChannel = (): void => {
    const dc = pc.createDataChannel("wireguard", { ordered: false, maxRetransmits: 0 });
    // The channel's data port: to the engine, and with the channel to the channel worker.
    const data = new MessageChannel();
    port.postMessage({ t: "data", port: data.port1 } satisfies FromPageMessage, [data.port1]);
    handOff(dc, data.port2);
  };
  port.onmessage = (event: MessageEvent) => {
    const data = event.data as ToPageMessage;
    switch (data.t) {
      case "offer":
        if (!channelMade) {
          channelMade = true;
          openChannel();
        }
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
