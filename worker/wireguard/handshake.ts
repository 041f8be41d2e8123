// Handshake messages on the device (wireguard-go's device/receive.go handshake worker and
// send.go initiation/response): rate limits, mac1/mac2 and cookies, then the Noise steps of
// noise.ts, then installing keypairs. Every path drops what it cannot use and counts it.

import type { Endpoint } from "./bind.ts";
import {
  HANDSHAKE_INITIATION_RATE_MS,
  REJECT_AFTER_TIME_MS,
  REKEY_TIMEOUT_MS,
} from "./constants.ts";
import type { DeviceCore } from "./device-core.ts";
import { Keypair } from "./keypair.ts";
import { COOKIE_REPLY, INITIATION, RESPONSE, readU32 } from "./messages.ts";
import { consumeInitiation, consumeResponse, createInitiation, createResponse } from "./noise.ts";
import type { Peer } from "./peer.ts";
import { tai64nAfter, tai64nNow } from "./tai64n.ts";

/** Sends an initiation to `peer` unless one went out less than REKEY_TIMEOUT ago. */
export async function sendInitiation(d: DeviceCore, peer: Peer, isRetry: boolean): Promise<void> {
  if (peer.removed || !peer.endpoint) return;
  if (!isRetry) peer.timers.handshakeAttempts = 0;
  const now = d.clock.now();
  if (now - peer.lastInitiationSent < REKEY_TIMEOUT_MS && !isRetry) return;
  peer.lastInitiationSent = now;
  if (peer.handshake) d.indices.delete(peer.handshake.localIndex);
  const localIndex = d.indices.allocate({ peer });
  const ephemeral = await d.newEphemeral();
  const { message, handshake } = await createInitiation(d.noise, {
    localStatic: d.staticKey,
    remoteStatic: peer.publicKey,
    staticShared: peer.staticShared,
    presharedKey: peer.presharedKey,
    ephemeral,
    localIndex,
    timestamp: tai64nNow(d.clock),
  });
  if (peer.removed) {
    d.indices.delete(localIndex);
    return;
  }
  peer.handshake = handshake;
  peer.cookies.addMacs(message);
  // An initiation is authenticated traffic for the timers, as in wireguard-go: it restarts the
  // persistent keepalive, so a persistent peer whose other side is down tries again 25 s after
  // giving up instead of never, and it stands in for a pending passive keepalive.
  peer.timers.onAnyAuthenticatedPacketTraversal();
  peer.timers.onAnyAuthenticatedPacketSent();
  d.sendTo(peer, message);
  peer.timers.onHandshakeInitiated();
}

/**
 * Checks mac1, and under load mac2 (answering with a cookie reply when it is missing or
 * stale). Returns whether the message may go on to the expensive Noise step.
 */
function admit(d: DeviceCore, message: Uint8Array, from: Endpoint, senderIndex: number): boolean {
  if (!d.cookieChecker.checkMac1(message)) {
    d.count("badMac1");
    return false;
  }
  if (!d.underLoad()) return true;
  const source = d.sourceBytes(from);
  if (!d.cookieChecker.checkMac2(message, source)) {
    d.bind.send(d.cookieChecker.createReply(message, senderIndex, source), from);
    d.count("cookieReplySent");
    return false;
  }
  if (!d.rateLimiter.allow(from.host)) {
    d.count("rateLimited");
    return false;
  }
  return true;
}

/** Handles an initiation: authenticate, check freshness, answer with a response. */
export async function receiveInitiation(
  d: DeviceCore,
  message: Uint8Array,
  from: Endpoint,
): Promise<void> {
  if (!admit(d, message, from, readU32(message, INITIATION.sender))) return;
  const consumed = await consumeInitiation(
    d.noise,
    d.staticKey,
    message,
    (pub) => d.peerByKey(pub)?.staticShared,
  );
  if (!consumed) {
    d.count("badInitiation");
    return;
  }
  const peer = d.peerByKey(consumed.remoteStatic);
  if (!peer || peer.removed) return;
  const now = d.clock.now();
  // Replayed or out-of-order initiations, and floods from a peer, are refused.
  if (!tai64nAfter(consumed.timestamp, peer.lastTimestamp)) {
    d.count("staleTimestamp");
    return;
  }
  if (now - peer.lastInitiationReceived < HANDSHAKE_INITIATION_RATE_MS) {
    d.count("initiationFlood");
    return;
  }
  peer.lastTimestamp = consumed.timestamp;
  peer.lastInitiationReceived = now;
  const localIndex = d.indices.allocate({ peer });
  const { message: response, keys } = await createResponse(d.noise, consumed, {
    ephemeral: await d.newEphemeral(),
    localIndex,
    presharedKey: peer.presharedKey,
  });
  if (peer.removed) {
    d.indices.delete(localIndex);
    return;
  }
  const keypair = new Keypair(
    keys.send,
    keys.receive,
    false,
    d.clock.now(),
    localIndex,
    consumed.remoteIndex,
  );
  d.indices.replace(localIndex, { peer, keypair });
  peer.keypairs.install(keypair);
  peer.endpoint = from;
  peer.rxBytes += message.length;
  peer.cookies.addMacs(response);
  d.sendTo(peer, response);
  peer.timers.onSessionDerived();
  peer.timers.onAnyAuthenticatedPacketTraversal();
  peer.timers.onAnyAuthenticatedPacketSent();
}

/** Handles a response to our initiation: derive the session and flush staged packets. */
export async function receiveResponse(
  d: DeviceCore,
  message: Uint8Array,
  from: Endpoint,
): Promise<void> {
  if (!admit(d, message, from, readU32(message, RESPONSE.sender))) return;
  const entry = d.indices.get(readU32(message, RESPONSE.receiver));
  const peer = entry?.peer;
  const handshake = peer?.handshake;
  if (
    !peer ||
    entry.keypair ||
    !handshake ||
    handshake.localIndex !== readU32(message, RESPONSE.receiver)
  ) {
    d.count("unknownReceiver");
    return;
  }
  const done = await consumeResponse(d.noise, handshake, message);
  if (!done || peer.removed || peer.handshake !== handshake) {
    d.count("badResponse");
    return;
  }
  peer.handshake = undefined;
  const keypair = new Keypair(
    done.keys.send,
    done.keys.receive,
    true,
    d.clock.now(),
    handshake.localIndex,
    done.remoteIndex,
  );
  d.indices.replace(handshake.localIndex, { peer, keypair });
  peer.keypairs.install(keypair);
  peer.endpoint = from;
  peer.rxBytes += message.length;
  peer.lastHandshakeWall = d.clock.wallNow();
  peer.sentLastMinuteHandshake = false;
  peer.timers.onHandshakeComplete();
  peer.timers.onSessionDerived();
  peer.timers.onAnyAuthenticatedPacketTraversal();
  peer.timers.onAnyAuthenticatedPacketReceived();
  // Confirm the session at once: staged data does it, else a keepalive.
  if (!d.flushStaged(peer)) d.sendKeepalive(peer);
}

/** Handles a cookie reply to one of our handshake messages. */
export function receiveCookieReply(d: DeviceCore, message: Uint8Array): void {
  const entry = d.indices.get(readU32(message, COOKIE_REPLY.receiver));
  if (!entry?.peer.cookies.consumeReply(message)) {
    d.count("badCookieReply");
    return;
  }
  d.count("cookieReplyReceived");
}

/** Whether a keypair may still send: younger than REJECT_AFTER_TIME, counter in range. */
export function canSend(d: DeviceCore, keypair: Keypair | undefined): keypair is Keypair {
  return (
    keypair !== undefined &&
    d.clock.now() - keypair.created < REJECT_AFTER_TIME_MS &&
    keypair.sendCounter < d.rejectAfterMessages
  );
}
