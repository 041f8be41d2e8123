// WebRTC signalling through the map stream (issue 19; docs/paths.md). A node sends `signal`
// to a peer by its node key; the server checks it and passes it on with `from` set to the
// sender's proven key, so no node can signal in another's name. Checked, in order: the
// sender's rate (a token bucket per node), the content (an offer or answer carries SDP the
// shared validators accept, a candidate a valid UDP candidate, a bye neither), the peer (known,
// in the sender's map: the policy lets them meet), and where the peer is (its stream on this
// server, and it listed the "signal" capability at login; on another server, passed there).
// Whatever is not delivered is counted by outcome, and the sender gets a `bye` with the
// outcome as reason for its attempt (never for a bye: two nodes cannot bounce byes forever; a
// hidden peer's bye says unknown_peer, so byes do not reveal which keys exist).

import type { PeerSignalMessage, SignalMessage } from "../../worker/control/messages.ts";
import { signalContentReason } from "../../worker/control/signal-values.ts";
import { RateLimiter } from "./auth/rate-limit.ts";
import type { Mapper } from "./mapper/mapper.ts";

/** What became of one signal. */
export type SignalOutcome =
  | "delivered"
  | "forwarded"
  | "malformed"
  | "unknown_peer"
  | "not_visible"
  | "offline"
  | "not_supported"
  | "busy"
  | "rate_limited";

/**
 * Where a signal for a node on this server goes: sent, no stream here, a client that did not
 * list the capability, or a socket that holds too much unsent (a peer that stops reading must
 * not make the server buffer signals for it without bound).
 */
export type LocalDelivery = "delivered" | "offline" | "not_supported" | "busy";

/** What the router needs. */
export interface SignalRouterOptions {
  mapper: Pick<Mapper, "node" | "nodeIdByKey" | "sees">;
  /** Sends to the node's stream on this server, if it has one that takes signals. */
  deliver(nodeId: number, message: PeerSignalMessage): LocalDelivery;
  /** Several control servers: sends to the server holding the node's stream, if another. */
  elsewhere?(nodeId: number, message: PeerSignalMessage): boolean;
  now(): number;
  /** Signals a node may send: a burst, then a steady rate (default 40, then 10 a second). */
  rate?: { burst: number; perSecond: number };
  /** Counts every signal by outcome. */
  count?(outcome: SignalOutcome): void;
}

/** The outcome, and the `bye` the sender gets when it was not passed on. */
export interface SignalResult {
  outcome: SignalOutcome;
  bye?: PeerSignalMessage;
}

/** Passes signals between nodes. */
export class SignalRouter {
  private readonly limiter: RateLimiter;

  constructor(private readonly options: SignalRouterOptions) {
    const rate = options.rate ?? { burst: 40, perSecond: 10 };
    this.limiter = new RateLimiter({ ...rate, maxAddresses: 100_000 });
  }

  /** Routes `message` from node `fromNodeId` (attached on this server). */
  route(fromNodeId: number, message: SignalMessage): SignalResult {
    const result = this.decide(fromNodeId, message);
    this.options.count?.(result);
    if (result === "delivered" || result === "forwarded" || message.kind === "bye") {
      return { outcome: result };
    }
    // A peer the policy hides is answered as one that does not exist: the bye must not tell
    // the sender which keys are registered (the count keeps them apart for the operator).
    const reason = result === "not_visible" ? "unknown_peer" : result;
    return {
      outcome: result,
      bye: { type: "signal", from: message.to, sid: message.sid, kind: "bye", reason },
    };
  }

  private decide(fromNodeId: number, message: SignalMessage): SignalOutcome {
    const { mapper } = this.options;
    const sender = mapper.node(fromNodeId);
    if (sender === undefined) return "unknown_peer";
    if (!this.limiter.take(String(fromNodeId), this.options.now()).ok) return "rate_limited";
    if (signalContentReason(message) !== null) return "malformed";
    const target = mapper.nodeIdByKey(message.to);
    if (target === undefined) return "unknown_peer";
    if (!mapper.sees(fromNodeId, target)) return "not_visible";
    const { to: _to, type: _type, ...fields } = message;
    const out: PeerSignalMessage = { type: "signal", from: sender.nodeKey, ...fields };
    const local = this.options.deliver(target, out);
    if (local !== "offline") return local;
    return this.options.elsewhere?.(target, out) === true ? "forwarded" : "offline";
  }
}
