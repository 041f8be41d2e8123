// What a node knows about the way to each peer (docs/paths.md): the path in use (direct UDP or
// the relay), the round trip measured by probes on it, and the WireGuard counters. Shared by the
// agent (`corridor status`), the CLI and, later, the page's details panel.

/** How packets to a peer travel right now. */
export type PathKind = "direct" | "relay" | "none";

/** The state of one peer as `corridor status` shows it. */
export interface PeerStatus {
  /** The peer's WireGuard public key (base64). */
  key: string;
  /** Its mesh name ("web-01"). */
  name: string;
  /** Its mesh addresses. */
  addresses: string[];
  /** Online as the control server last said. */
  online: boolean;
  /**
   * "direct" when probes answer on a UDP endpoint or a WebRTC data channel, "relay" otherwise,
   * "none" before any packet.
   */
  path: PathKind;
  /** The endpoint in use on the direct path ("ip:port", or "webrtc:<key>" for a data channel), else null. */
  endpoint: string | null;
  /** The relay the peer is reached through (its id), when the path is the relay. */
  relay: string | null;
  /** Round trip measured on the path in use (ms), or null before the first answer. */
  rttMs: number | null;
  /** Wall time of the last completed WireGuard handshake (unix ms), or null. */
  lastHandshake: number | null;
  /** WireGuard bytes received from and sent to the peer (on the wire). */
  rxBytes: number;
  txBytes: number;
}
