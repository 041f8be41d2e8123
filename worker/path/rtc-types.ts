// The platform side of WebRTC direct paths (docs/paths.md, "Direct paths from the browser"), as
// the platform-independent parts (rtc-sessions.ts, channel-bind.ts) see it. The page implements
// it over its own RTCPeerConnection (a Worker has no WebRTC in Chromium: web/direct/rtc-host.ts,
// reached through worker/engine/rtc-port.ts), the agent over werift (server/agent/rtc-werift.ts).
// One connection carries one unreliable, unordered data channel that the offerer creates; its
// messages are WireGuard datagrams (and path probes), unchanged.

/** One ICE candidate as signals carry it (RTCIceCandidate's candidate, sdpMid, sdpMLineIndex). */
export interface RtcCandidate {
  candidate: string;
  mid?: string;
  mline?: number;
}

/** The open data channel of a connection. */
export interface DatagramChannel {
  /**
   * Sends one datagram (copied before this returns, or sent). False when it cannot now: closed,
   * or so much is buffered that a datagram is better dropped (WireGuard recovers from loss; a
   * deep queue only adds delay). `urgent` (a path probe) passes the buffer bound: a channel busy
   * with a bulk transfer must still answer its probes, or its path flaps to the relay.
   */
  send(packet: Uint8Array, urgent?: boolean): boolean;
}

/** What a connection reports; every callback may come at any time until `onClose`. */
export interface RtcEvents {
  /** A local ICE candidate to trickle to the peer. */
  onCandidate(candidate: RtcCandidate): void;
  /** The data channel opened: datagrams may flow both ways. */
  onOpen(channel: DatagramChannel): void;
  /** One datagram from the peer (owned by the receiver). */
  onDatagram(packet: Uint8Array): void;
  /** The connection failed or closed, before or after opening (called once; not after close()). */
  onClose(reason: string): void;
}

/** One peer connection, in one of two roles. */
export interface RtcConnection {
  /** Offerer: creates the data channel and the offer; resolves to the local SDP. */
  offer(): Promise<string>;
  /** Offerer: applies the peer's answer. */
  acceptAnswer(sdp: string): Promise<void>;
  /** Answerer: applies the peer's offer; resolves to the local answer's SDP. */
  answer(sdp: string): Promise<string>;
  /** Applies one of the peer's candidates (a candidate the platform cannot use is skipped). */
  addCandidate(candidate: RtcCandidate): Promise<void>;
  /** Closes the connection and its channel; no event follows. */
  close(): void;
}

/** What a connection is made with. */
export interface RtcConnectionOptions {
  /** STUN servers as "stun:host:port" URLs (the map relays' STUN); never TURN. */
  iceServers: string[];
}

/** Makes connections: the platform's WebRTC. */
export interface RtcFactory {
  create(options: RtcConnectionOptions, events: RtcEvents): RtcConnection;
}
