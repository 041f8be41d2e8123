// The map stream's messages (WebSocket `/control`, subprotocol `corridor-control.v1`): one JSON
// text message per WebSocket message, each an object with a `type`. docs/control.md is the
// prose; the codec (schema validation with bounds) lives in codec.ts beside this file.
//
//   server                                    node
//     ── hello {version, serverKey, challenge} ─►
//     ◄─ login {nodeKey, proof, hostinfo, lastSeq?, authKey?, ...}
//     ── waiting {approvalUrl}  (only an agent that still needs a person's approval)
//     ── map {seq, map}  or  delta {seq, ...}  (resumed: only what was missed)
//     ── delta {seq, ...} ... keepalive ...
//     ◄─ update {endpoints?, homeRelay?, hostinfo?}
//     ◄─ logout  (the node leaves: removed at once, answered by refused node_removed)
//     ── refused {code, message}, then close 4401/4403
//
// The proof is keyed BLAKE2s-256 of the challenge under X25519(node private key, serverKey),
// exactly as the relay's hello (DESIGN §4): it shows the node holds its WireGuard private key
// without the server learning anything it could decrypt traffic with.

import type {
  FilterRule,
  NetworkMap,
  PeerPatch,
  PeerView,
  RelayInfo,
  RelayTokenGrant,
  SshRule,
} from "./types.ts";

/** WebSocket subprotocol of the map stream. */
export const CONTROL_PROTOCOL = "corridor-control.v1";

/** Path of the map stream on the control server. */
export const CONTROL_PATH = "/control";

/** Largest message either side accepts (bytes of UTF-8): a full map of ~10,000 peers fits. */
export const MAX_CONTROL_MESSAGE = 8 * 1024 * 1024;

/** Close codes of the map stream (besides 1000, 1001, 1009 too large, 1012 restarting). */
export const CONTROL_CLOSE = {
  /** Malformed message, or a message not valid in this state. */
  PROTOCOL: 4400,
  /** Bad proof, unknown node without credentials, hello timeout. */
  UNAUTHENTICATED: 4401,
  /** Credentials refused for good: revoked or expired auth key, expired node key, removed node. */
  REFUSED: 4403,
  /** The same node connected again; the newest stream wins. */
  REPLACED: 4409,
  /** The client fell too far behind (bounded queue): reconnect and resume. */
  TOO_SLOW: 4429,
} as const;

/** What a node reports about its host. */
export interface Hostinfo {
  hostname: string;
  os: string;
  /** SSH host keys of the agent's SSH server ("ssh-ed25519 AAAA..." lines). */
  sshHostKeys?: string[];
  /**
   * The local users the agent's SSH server can log in as, when it cannot be any (a non-root
   * agent sends [its own user]); absent: any local user. The server narrows the node's SSH
   * rules to them.
   */
  sshUsers?: string[];
}

/** s→c, first message: who the server is and what to prove. */
export interface HelloMessage {
  type: "hello";
  version: 1;
  /** The control server's X25519 public key (base64). */
  serverKey: string;
  /** 32 random bytes (base64). */
  challenge: string;
}

/** c→s, answer to hello. */
export interface LoginMessage {
  type: "login";
  /** The node's WireGuard public key (base64). */
  nodeKey: string;
  /** keyed BLAKE2s-256(challenge) under X25519(node private, serverKey) (base64). */
  proof: string;
  hostinfo: Hostinfo;
  /** Register with this auth key (agents); browsers register through their session cookie. */
  authKey?: string;
  /** Ask to be removed when the stream ends (browsers always are). */
  ephemeral?: boolean;
  /** Tags requested at registration (must be allowed by the auth key or tagOwners). */
  tags?: string[];
  /**
   * Resume: the last sequence number applied, with the session it came from and the cursor of
   * the last message that carried one (several control servers: any of them resumes from it).
   */
  resume?: { session: string; seq: number; cursor?: string };
  /** Rotate: the node's previous key, proving possession of it too (keeps id and addresses). */
  rotateFrom?: { nodeKey: string; proof: string };
  /**
   * What this client understands beyond version 1 (at most 16, a-z 0-9 -): "signal" = it takes
   * `signal` messages (WebRTC direct paths). The server sends nothing new to a client that did
   * not list it.
   */
  caps?: string[];
}

/** s→c: the node is unknown and has no auth key; a signed-in user must open the URL. */
export interface WaitingMessage {
  type: "waiting";
  approvalUrl: string;
}

/** s→c: a full map. `session` names this map session for resuming. */
export interface MapMessage {
  type: "map";
  session: string;
  seq: number;
  /**
   * Where this message leaves the node in the mesh-wide change log, when control servers share
   * one (PostgreSQL): opaque to the client, sent back in `resume.cursor`.
   */
  cursor?: string;
  map: NetworkMap;
}

/** s→c: changes since the previous sequence number; absent fields did not change. */
export interface DeltaMessage {
  type: "delta";
  seq: number;
  /** As MapMessage.cursor. */
  cursor?: string;
  /** Peers that appeared, or whose non-volatile fields changed (full views: replace). */
  peersUpserted?: PeerView[];
  /** Ids of peers no longer in the map. */
  peersRemoved?: number[];
  /** Volatile changes (online, last seen, endpoints, home relay). */
  patches?: PeerPatch[];
  /** This node's own view changed (name, addresses, tags, key expiry). */
  self?: PeerView;
  filter?: FilterRule[];
  ssh?: SshRule[];
  relays?: RelayInfo[];
  token?: RelayTokenGrant;
}

/** s→c: keeps the stream (and proxies on the way) alive; ~every 50 s with jitter. */
export interface KeepaliveMessage {
  type: "keepalive";
  /**
   * As MapMessage.cursor: where the node stands now that everything sent before reached it
   * (the change log moved on without concerning it). Several control servers only.
   */
  cursor?: string;
}

/** s→c: why the server is about to close the stream. */
export interface RefusedMessage {
  type: "refused";
  /** Machine-readable reason: "authkey_revoked", "authkey_expired", "key_expired", ... */
  code: string;
  /** A sentence for a person. */
  message: string;
}

/** c→s: volatile facts about the node. */
export interface UpdateMessage {
  type: "update";
  endpoints?: string[];
  homeRelay?: string;
  hostinfo?: Hostinfo;
}

/**
 * c→s: the node leaves the mesh (an ephemeral agent that stops, a page that signs out): the
 * server removes it at once and answers `refused` "node_removed".
 */
export interface LogoutMessage {
  type: "logout";
}

/**
 * What a WebRTC signal carries (docs/paths.md, "Direct paths from the browser"): the session
 * description of an offer or answer, one ICE candidate, or the end of the attempt ("bye", with
 * a reason code; the server sends one back for a signal it could not deliver).
 */
export type SignalKind = "offer" | "answer" | "candidate" | "bye";

/** The fields of a signal, in either direction. */
export interface SignalFields {
  /** The attempt's id, chosen by the side that starts it (8-64 of A-Z a-z 0-9 _ -). */
  sid: string;
  kind: SignalKind;
  /** offer, answer: the SDP (worker/control/signal-values.ts says what is accepted). */
  sdp?: string;
  /** candidate: RTCIceCandidate.candidate, its sdpMid and sdpMLineIndex. */
  candidate?: string;
  mid?: string;
  mline?: number;
  /** bye: why (a-z 0-9 _). */
  reason?: string;
}

/** c→s: a signal for the peer whose node key is `to` (a peer in the sender's map). */
export interface SignalMessage extends SignalFields {
  type: "signal";
  to: string;
}

/**
 * s→c: a signal from the peer whose node key is `from`. The server writes `from` from the
 * sender's proven key: a node cannot signal in another's name. Sent only to nodes whose login
 * listed the "signal" capability.
 */
export interface PeerSignalMessage extends SignalFields {
  type: "signal";
  from: string;
}

/** Every message the server sends. */
export type ServerMessage =
  | HelloMessage
  | WaitingMessage
  | MapMessage
  | DeltaMessage
  | KeepaliveMessage
  | RefusedMessage
  | PeerSignalMessage;

/** Every message a node sends. */
export type ClientMessage = LoginMessage | UpdateMessage | LogoutMessage | SignalMessage;
