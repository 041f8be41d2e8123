// WebRTC signals across control servers (../signals.ts): a node's signal for a peer whose stream
// another server holds goes to that server on the corridor_signals channel and is delivered
// there. The holder is presence's (presence.ts): the server that last claimed the peer's stream.
// The sending server checked the signal (rate, content, the policy) before forwarding; the
// receiving one decodes it strictly again (a payload from a broken or newer server is dropped
// and counted, never half-delivered), and answers a signal it cannot deliver with a bye to the
// sender's server, as one server would.
//
// {"s":SERVER,"to":HOLDER,"n":NODE_ID,"m":PEER_SIGNAL}

import type { Logger } from "pino";
import * as v from "valibot";
import { decodeServerMessage } from "../../../worker/control/codec.ts";
import type { PeerSignalMessage, ServerMessage } from "../../../worker/control/messages.ts";
import type { LocalDelivery } from "../signals.ts";
import { NOTIFY_PAYLOAD_LIMIT } from "./pg-bus.ts";
import { decodeNotification, serverId } from "./presence-wire.ts";

const envelope = v.strictObject({
  s: serverId,
  to: serverId,
  n: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  m: v.record(v.string(), v.unknown()),
});

/** What the forwarder needs. */
export interface SignalForwardOptions {
  serverId: string;
  /** The server holding the node's stream, if any is known. */
  holder(nodeId: number): string | undefined;
  /** Sends a payload on the signals channel. */
  send(payload: string): Promise<void>;
  /** Delivers to a stream on this server (Hub.deliverSignal). */
  deliver(nodeId: number, message: PeerSignalMessage): LocalDelivery;
  /** The map's node id of a node key, and the key of a node id (for a bye back). */
  idOf(nodeKey: string): number | undefined;
  keyOf(nodeId: number): string | undefined;
  log?: Logger;
}

/** Passes signals to the server holding their peer, and delivers the others' here. */
export class SignalForward {
  /** Payloads that were not signal envelopes, or whose signal did not decode. */
  malformed = 0;
  /** Signals from other servers delivered here, and ones whose node was not (or no more) here. */
  delivered = 0;
  undeliverable = 0;

  /**
   * Sends go out one after another: notifications sent on different pool connections at once
   * may commit in either order, and a candidate must not overtake its offer.
   */
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly options: SignalForwardOptions) {}

  private sendInOrder(payload: string, what: string): void {
    this.sending = this.sending
      .then(() => this.options.send(payload))
      .catch((error: unknown) => {
        this.options.log?.warn({ err: String(error) }, what);
      });
  }

  /** Sends `message` on to the server holding `nodeId`; false when none other is known. */
  forward(nodeId: number, message: PeerSignalMessage): boolean {
    const holder = this.options.holder(nodeId);
    if (holder === undefined || holder === this.options.serverId) return false;
    const payload = JSON.stringify({ s: this.options.serverId, to: holder, n: nodeId, m: message });
    if (Buffer.byteLength(payload) > NOTIFY_PAYLOAD_LIMIT) return false;
    this.sendInOrder(payload, "cluster: signal not forwarded");
    return true;
  }

  /** A payload from the signals channel. */
  received(payload: string): void {
    const parsed = decodeNotification(envelope, payload);
    if (parsed === null) {
      this.malformed++;
      return;
    }
    const { s: origin, to, n, m } = parsed;
    if (to !== this.options.serverId) return;
    let message: ServerMessage;
    try {
      message = decodeServerMessage(JSON.stringify(m));
    } catch {
      this.malformed++;
      return;
    }
    if (message.type !== "signal") {
      this.malformed++;
      return;
    }
    const outcome = this.options.deliver(n, message);
    if (outcome === "delivered") {
      this.delivered++;
      return;
    }
    this.undeliverable++;
    // The sender waits for an answer: a bye with the outcome goes back to it, as on one server
    // (never for a bye).
    if (message.kind === "bye") return;
    const sender = this.options.idOf(message.from);
    const peerKey = this.options.keyOf(n);
    if (sender === undefined || peerKey === undefined) return;
    const bye: PeerSignalMessage = {
      type: "signal",
      from: peerKey,
      sid: message.sid,
      kind: "bye",
      reason: outcome,
    };
    const back = JSON.stringify({ s: this.options.serverId, to: origin, n: sender, m: bye });
    this.sendInOrder(back, "cluster: signal bye not sent back");
  }
}
