// A STUN Binding client (RFC 5389 §7) over the agent's WireGuard UDP socket: the address the
// server reports is where that very socket is seen from outside, so it is the endpoint peers
// must send to (a second socket would have its own NAT mapping). Requests go out as raw
// datagrams on the socket; the answer is picked out of its incoming datagrams by an intercept
// (UdpBind.intercept) before the device or the path probes see it.
//
// Retransmission as §7.2.1: the first wait is `rtoMs` (500 ms), doubling after each send, at
// most `maxTransmits` (7) sends, the last wait 16 times the first; the whole query also ends at
// `timeoutMs`. Over TCP or TLS none of this applies; we only speak UDP.

import {
  encodeBindingRequest,
  errorCode,
  looksLikeStun,
  mappedAddress,
  parseStun,
  type StunAddress,
} from "../../worker/path/stun.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";

/** A UDP socket to run STUN over (UdpBind is one). */
export interface StunTransport {
  /** Sends one datagram; false when it could not be sent. */
  send(packet: Uint8Array, to: Endpoint): boolean;
  /** Sees each received datagram first; returning true consumes it. Returns an unsubscriber. */
  intercept(fn: (packet: Uint8Array, from: Endpoint) => boolean): () => void;
}

/** Options of stunBinding(). */
export interface StunBindingOptions {
  transport: StunTransport;
  /** The STUN server (an IP endpoint: resolve names first with resolveEndpoint). */
  server: Endpoint;
  /** First retransmission timeout (ms). Default 500 (RFC 5389's RTO). */
  rtoMs?: number;
  /** Requests sent at most. Default 7 (RFC 5389's Rc). */
  maxTransmits?: number;
  /** The whole query ends here at the latest (ms). Default 10,000. */
  timeoutMs?: number;
  /** Ask for FINGERPRINT (some middleboxes need it to tell STUN apart). Default true. */
  fingerprint?: boolean;
  /** Random bytes for the transaction id. Default crypto.getRandomValues. */
  randomBytes?: (n: number) => Uint8Array;
}

/**
 * Sends a Binding request to `server` and resolves with the mapped address it reports. Rejects
 * with an Error naming the server when it answers with an error, an answer without an address,
 * or nothing in time.
 */
export function stunBinding(options: StunBindingOptions): Promise<StunAddress> {
  const rto = options.rtoMs ?? 500;
  const maxTransmits = Math.max(1, options.maxTransmits ?? 7);
  const random =
    options.randomBytes ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
  const transactionId = random(12);
  const request = encodeBindingRequest(transactionId, options.fingerprint ?? true);
  const server = options.server;
  const name = `STUN server ${server.key}`;

  return new Promise<StunAddress>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let sent = 0;
    let wait = rto;
    const finish = (error: Error | undefined, address?: StunAddress) => {
      clearTimeout(timer);
      clearTimeout(deadline);
      unsubscribe();
      if (error !== undefined) reject(error);
      else resolve(address as StunAddress);
    };
    const unsubscribe = options.transport.intercept((packet, from) => {
      if (from.key !== server.key || !looksLikeStun(packet)) return false;
      const parsed = parseStun(packet);
      if (!parsed.ok) return false;
      const message = parsed.message;
      if (!message.transactionId.every((b, i) => b === transactionId[i])) return false;
      if (message.cls === "error") {
        const error = errorCode(message);
        const text = error === undefined ? "an error" : `${error.code} ${error.reason}`;
        finish(new Error(`${name} answered ${text}`));
      } else if (message.cls === "success") {
        const address = mappedAddress(message);
        if (address === undefined) finish(new Error(`${name} answered without a mapped address`));
        else finish(undefined, address);
      } else {
        return false;
      }
      return true;
    });
    const transmit = () => {
      if (!options.transport.send(request, server)) {
        finish(new Error(`${name}: cannot send on this socket (closed, or another family)`));
        return;
      }
      sent++;
      // After the last request, wait Rm (16) times the RTO for a late answer.
      const next = sent >= maxTransmits ? rto * 16 : wait;
      wait *= 2;
      timer = setTimeout(
        sent >= maxTransmits
          ? () => finish(new Error(`${name}: no answer to ${sent} requests`))
          : transmit,
        next,
      );
    };
    deadline = setTimeout(
      () => finish(new Error(`${name}: no answer within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    transmit();
  });
}
