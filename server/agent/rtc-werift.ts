// The agent's WebRTC (docs/paths.md, "Direct paths from the browser: WebRTC"): an RtcFactory
// over werift's RTCPeerConnection (pure TypeScript; no native code, nothing downloaded). What
// the probes of werift 0.25.2 against Chromium found shapes it:
// - werift's default ICE server is Google's STUN: the servers are always passed (ours or none);
// - a remote candidate named "<uuid>.local" (Chromium hides host addresses so) sends werift into
//   its own multicast DNS, which blocks up to 10 s per name and outlives close(): such candidates
//   are dropped, in trickle and inside the SDP. werift still connects, learning the browser's
//   address as peer-reflexive when the browser checks ours;
// - werift's send queue costs O(n) per queued message: send() drops above `maxBuffered` (right
//   for WireGuard, which recovers from loss; a deep queue only adds delay);
// - a channel werift creates in-band reaches the other side as ordered (werift overwrites the
//   unordered bit): the page creates the channel, the agent answers. The offer role exists for
//   Node-only tests and labs;
// - werift gathers every interface but tun*/tap*/veth*-named ones, so a TUN agent's own
//   WireGuard interface would be a candidate: addresses `excluded` says are the mesh's are
//   neither announced nor taken from the peer (a path through the tunnel is no direct path).
// werift is imported on the first connection: an agent no page ever reaches does not pay its
// ~170 ms and ~30 MB.

import type { PeerConfig, RTCDataChannel, RTCPeerConnection } from "werift";
import type {
  DatagramChannel,
  RtcCandidate,
  RtcConnection,
  RtcConnectionOptions,
  RtcEvents,
  RtcFactory,
} from "../../worker/path/rtc-types.ts";

/** Options of the werift factory. */
export interface WeriftOptions {
  /** "answer": takes the offerer's channel (the agent); "offer": creates it (tests, labs). */
  role: "offer" | "answer";
  /** Also offer 127.0.0.1 as a host candidate (werift leaves loopback out): several nodes on one host. */
  loopback?: boolean;
  /**
   * Bind the ICE sockets to this one local address and announce only it (werift binds the
   * wildcard otherwise). Absent, "0.0.0.0" or "::": every interface.
   */
  interfaceAddress?: string;
  /** Gather IPv6 candidates too (default false, as the agent's UDP socket is IPv4 by default). */
  ipv6?: boolean;
  /** send() drops when this many bytes would be buffered (default 64 KiB). */
  maxBuffered?: number;
  /** Seconds gathering waits for a STUN answer (default 3; werift's is 5). */
  stunTimeoutS?: number;
  /** Addresses that are no candidate, ours or the peer's (the mesh's own addresses). */
  excluded?: (address: string) => boolean;
}

/** The default bound on a channel's buffered bytes: deeper queues slow werift's sender down. */
export const DEFAULT_MAX_BUFFERED = 64 * 1024;

type Werift = typeof import("werift");
let loading: Promise<Werift> | undefined;

/** werift, imported once on first use. */
function loadWerift(): Promise<Werift> {
  loading ??= import("werift");
  return loading;
}

/** The address field of a candidate line ("candidate:..." or "a=candidate:..."). */
function candidateAddress(candidate: string): string | undefined {
  return candidate.trimEnd().split(" ")[4];
}

/** True when a candidate line ("candidate:..." or "a=candidate:...") names an mDNS host. */
export function isMdnsCandidate(candidate: string): boolean {
  return candidateAddress(candidate)?.toLowerCase().endsWith(".local") === true;
}

/** `sdp` without the a=candidate lines `drop` refuses. */
export function withoutCandidates(sdp: string, drop: (candidate: string) => boolean): string {
  return sdp
    .split(/(?<=\n)/)
    .filter((line) => !(line.startsWith("a=candidate:") && drop(line.slice(2).trimEnd())))
    .join("");
}

function isWildcard(address: string | undefined): boolean {
  return address === undefined || address === "0.0.0.0" || address === "::";
}

/** werift's configuration for one connection. */
export function weriftConfig(
  options: WeriftOptions,
  connection: RtcConnectionOptions,
): Partial<PeerConfig> {
  const config: Partial<PeerConfig> = {
    // Never werift's default (Google's STUN): ours, or none.
    iceServers: connection.iceServers.map((urls) => ({ urls })),
    iceUseIpv6: options.ipv6 === true,
    iceStunGatherTimeout: options.stunTimeoutS ?? 3,
  };
  const additional: string[] = [];
  if (options.loopback === true) additional.push("127.0.0.1");
  const bound = options.interfaceAddress;
  if (bound !== undefined && !isWildcard(bound)) {
    config.iceInterfaceAddresses = bound.includes(":") ? { udp6: bound } : { udp4: bound };
    // werift leaves loopback out of gathering even when it is the bound address.
    if (bound.startsWith("127.") && !additional.includes(bound)) additional.push(bound);
  }
  if (additional.length > 0) config.iceAdditionalHostAddresses = additional;
  return config;
}

/** An RtcFactory over werift. */
export function weriftFactory(options: WeriftOptions): RtcFactory {
  return {
    create: (connection, events) => new WeriftConnection(options, connection, events),
  };
}

class WeriftConnection implements RtcConnection {
  private readonly ready: Promise<RTCPeerConnection>;
  private pc: RTCPeerConnection | undefined;
  private channel: RTCDataChannel | undefined;
  private opened = false;
  /** close() was called or onClose reported: nothing more is reported. */
  private ended = false;
  private readonly maxBuffered: number;
  private readonly bound: string | undefined;

  constructor(
    private readonly options: WeriftOptions,
    connection: RtcConnectionOptions,
    private readonly events: RtcEvents,
  ) {
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.bound = isWildcard(options.interfaceAddress) ? undefined : options.interfaceAddress;
    const config = weriftConfig(options, connection);
    this.ready = loadWerift().then((werift) => {
      if (this.ended) throw new Error("webrtc: connection closed");
      const pc = new werift.RTCPeerConnection(config);
      this.pc = pc;
      this.watch(pc);
      return pc;
    });
    // Each method awaits `ready` and rejects on its own; this one only must not go unhandled.
    this.ready.catch(() => {});
  }

  async offer(): Promise<string> {
    if (this.options.role !== "offer") throw new Error("webrtc: this factory answers only");
    const pc = await this.ready;
    this.useChannel(pc.createDataChannel("wg", { ordered: false, maxRetransmits: 0 }));
    await pc.setLocalDescription(await pc.createOffer());
    return this.localSdp(pc);
  }

  async acceptAnswer(sdp: string): Promise<void> {
    const pc = await this.ready;
    await pc.setRemoteDescription({ type: "answer", sdp: withoutCandidates(sdp, this.unusable) });
  }

  async answer(sdp: string): Promise<string> {
    if (this.options.role !== "answer") throw new Error("webrtc: this factory offers only");
    const pc = await this.ready;
    await pc.setRemoteDescription({ type: "offer", sdp: withoutCandidates(sdp, this.unusable) });
    await pc.setLocalDescription(await pc.createAnswer());
    return this.localSdp(pc);
  }

  async addCandidate(candidate: RtcCandidate): Promise<void> {
    if (this.unusable(candidate.candidate)) return;
    const pc = await this.ready;
    if (this.ended) return;
    await pc.addIceCandidate({
      candidate: candidate.candidate,
      sdpMid: candidate.mid,
      sdpMLineIndex: candidate.mline,
    });
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
  }

  /** The local description as sent: without host candidates of other interfaces when bound. */
  private localSdp(pc: RTCPeerConnection): string {
    const sdp = pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error("webrtc: no local description");
    if (this.ended) throw new Error("webrtc: connection closed");
    return withoutCandidates(sdp, (candidate) => !this.announced(candidate));
  }

  /**
   * Whether a local candidate is worth announcing: not one of the mesh's addresses, and with a
   * bound address only that one (werift still lists the other interfaces' addresses as host
   * candidates, though its sockets cannot use them).
   */
  private announced(candidate: string): boolean {
    const fields = candidate.trimEnd().split(" ");
    const address = fields[4] ?? "";
    if (this.options.excluded?.(address) === true) return false;
    return this.bound === undefined || fields[7] !== "host" || address === this.bound;
  }

  /** A remote candidate werift must not see: an mDNS name, or one of the mesh's addresses. */
  private readonly unusable = (candidate: string): boolean =>
    isMdnsCandidate(candidate) ||
    this.options.excluded?.(candidateAddress(candidate) ?? "") === true;

  private watch(pc: RTCPeerConnection): void {
    pc.onIceCandidate.subscribe((candidate) => {
      if (this.ended || candidate === undefined || !this.announced(candidate.candidate)) return;
      this.events.onCandidate({
        candidate: candidate.candidate,
        mid: candidate.sdpMid,
        mline: candidate.sdpMLineIndex,
      });
    });
    // werift reports no "disconnected": a peer that vanished fails ICE consent after ~30 s.
    pc.connectionStateChange.subscribe((state) => {
      if (state === "failed" || state === "closed") this.gone(`connection ${state}`);
    });
    if (this.options.role === "answer") pc.onDataChannel.subscribe((dc) => this.useChannel(dc));
  }

  /** The connection's one channel: the first the offerer opened (any other is closed). */
  private useChannel(dc: RTCDataChannel): void {
    if (this.channel !== undefined) {
      dc.close();
      return;
    }
    this.channel = dc;
    dc.stateChanged.subscribe((state) => {
      if (state === "open") this.open(dc);
      else if (state === "closing" || state === "closed") this.gone("channel closed");
    });
    dc.onMessage.subscribe((message) => {
      // WireGuard is binary; a string message is nothing of ours. Copied: the receiver owns it.
      if (this.ended || !this.opened || typeof message === "string") return;
      // An error of the receiver must not unwind into werift's SCTP code.
      try {
        this.events.onDatagram(new Uint8Array(message));
      } catch {
        // The device counts what it cannot take; nothing here to undo.
      }
    });
    if (dc.readyState === "open") this.open(dc);
  }

  private open(dc: RTCDataChannel): void {
    if (this.ended || this.opened) return;
    this.opened = true;
    const channel: DatagramChannel = {
      send: (packet, urgent) => {
        if (this.ended || dc.readyState !== "open") return false;
        if (urgent !== true && dc.bufferedAmount + packet.length > this.maxBuffered) return false;
        try {
          // Copied: werift queues the Buffer, and the caller may reuse its packet.
          dc.send(Buffer.from(packet));
          return true;
        } catch {
          return false;
        }
      },
    };
    this.events.onOpen(channel);
  }

  /** The connection or its channel went away: reported once, then released. */
  private gone(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    this.events.onClose(reason);
  }

  /** Closes werift's connection: its sockets and timers go with it. */
  private release(): void {
    const pc = this.pc;
    if (pc === undefined) return; // not made yet: `ready` sees `ended` and never makes it
    pc.close().catch(() => {});
  }
}
