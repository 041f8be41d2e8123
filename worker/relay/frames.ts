// Relay protocol v1 frames (DESIGN §4; WebSocket subprotocol `corridor-relay.v1`): one binary
// message per frame, byte 0 the type. Shared by the relay server and the relay client.
// Decoding never throws: hostile bytes yield `{ type: "invalid", error }`, and unknown types
// `{ type: "unknown" }`, which v1 peers ignore.

/** The WebSocket subprotocol of relay protocol v1. */
export const RELAY_SUBPROTOCOL = "corridor-relay.v1";
/** The protocol version carried in SERVER_HELLO. */
export const RELAY_VERSION = 1;

export const SERVER_HELLO = 0x01;
export const CLIENT_HELLO = 0x02;
export const WELCOME = 0x03;
export const SEND = 0x10;
export const RECV = 0x11;
export const SEND_UDP = 0x12;
export const RECV_UDP = 0x13;
/**
 * UDP_ERROR (relay to client, issue 15): the bridge did not, or could not, deliver a SEND_UDP
 * to an endpoint. Payload: the endpoint (18 bytes) and a reason byte (UDP_REFUSED_*). v1
 * clients that predate it decode it as "unknown" and ignore it.
 */
export const UDP_ERROR = 0x14;
export const PING = 0x20;
export const PONG = 0x21;
export const PEER_GONE = 0x22;
export const HEALTH = 0x30;
export const RESTARTING = 0x31;

export const KEY_LENGTH = 32;
export const CHALLENGE_LENGTH = 32;
export const PROOF_LENGTH = 32;
export const PING_LENGTH = 8;
/** 16 bytes of IPv6 address (IPv4 as ::ffff:a.b.c.d) and a big-endian port. */
export const ENDPOINT_LENGTH = 18;
/** The largest packet a SEND/RECV/SEND_UDP/RECV_UDP frame carries. */
export const MAX_PACKET = 65535;

/** PEER_GONE reasons. */
export const GONE_DISCONNECTED = 0;
export const GONE_NOT_HERE = 1;

/** UDP_ERROR reasons. */
/** The endpoint is outside the relay's `--allow-udp` list and the client's token allowances. */
export const UDP_REFUSED_NOT_ALLOWED = 0;
/** A special address (loopback, link-local, multicast…) only a narrow allowance unlocks. */
export const UDP_REFUSED_SPECIAL = 1;
/** A socket limit (per client, per source address, or in total) is reached. */
export const UDP_REFUSED_SOCKET_LIMIT = 2;
/** The endpoint answered with ICMP port unreachable: nothing listens there. */
export const UDP_UNREACHABLE = 3;

/** A UDP endpoint as the relay carries it. */
export interface RelayEndpoint {
  /** 16 bytes; IPv4 as ::ffff:a.b.c.d. */
  address: Uint8Array;
  port: number;
}

/** A decoded frame. Byte fields are views into the decoded message, not copies. */
export type RelayFrame =
  | { type: "server-hello"; version: number; relayKey: Uint8Array; challenge: Uint8Array }
  | { type: "client-hello"; nodeKey: Uint8Array; proof: Uint8Array; token: string }
  | { type: "welcome"; json: string }
  | { type: "send" | "recv"; key: Uint8Array; packet: Uint8Array }
  | { type: "send-udp" | "recv-udp"; endpoint: RelayEndpoint; packet: Uint8Array }
  | { type: "ping" | "pong"; data: Uint8Array }
  | { type: "peer-gone"; key: Uint8Array; reason: number }
  | { type: "health"; text: string }
  | { type: "restarting"; reconnectInMs: number; tryForMs: number }
  | { type: "udp-error"; endpoint: RelayEndpoint; reason: number }
  | { type: "features"; flags: number }
  /** BATCH (batch.ts): whole data frames, each to be decoded on its own. */
  | { type: "batch"; frames: Uint8Array[] }
  | { type: "unknown"; code: number }
  | { type: "invalid"; error: string };

import { BATCH, decodeBatch, FEATURES } from "./batch.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function invalid(error: string): RelayFrame {
  return { type: "invalid", error };
}

function text(bytes: Uint8Array, what: string): string | RelayFrame {
  try {
    return decoder.decode(bytes);
  } catch {
    return invalid(`${what}: not UTF-8`);
  }
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Decodes one frame. Never throws. */
export function decodeFrame(message: Uint8Array): RelayFrame {
  if (message.length === 0) return invalid("empty frame");
  const code = message[0]!;
  const body = message.subarray(1);
  const exact = (n: number, name: string) =>
    body.length === n
      ? undefined
      : invalid(`${name}: payload must be ${n} bytes, got ${body.length}`);
  switch (code) {
    case SERVER_HELLO:
      return (
        exact(1 + KEY_LENGTH + CHALLENGE_LENGTH, "SERVER_HELLO") ?? {
          type: "server-hello",
          version: body[0]!,
          relayKey: body.subarray(1, 1 + KEY_LENGTH),
          challenge: body.subarray(1 + KEY_LENGTH),
        }
      );
    case CLIENT_HELLO: {
      if (body.length < KEY_LENGTH + PROOF_LENGTH)
        return invalid(`CLIENT_HELLO: ${body.length} bytes, below 64`);
      const token = text(body.subarray(KEY_LENGTH + PROOF_LENGTH), "CLIENT_HELLO token");
      if (typeof token !== "string") return token;
      return {
        type: "client-hello",
        nodeKey: body.subarray(0, KEY_LENGTH),
        proof: body.subarray(KEY_LENGTH, KEY_LENGTH + PROOF_LENGTH),
        token,
      };
    }
    case WELCOME: {
      const json = text(body, "WELCOME");
      return typeof json === "string" ? { type: "welcome", json } : json;
    }
    case SEND:
    case RECV: {
      const name = code === SEND ? "SEND" : "RECV";
      if (body.length < KEY_LENGTH)
        return invalid(`${name}: ${body.length} bytes, below the 32-byte key`);
      if (body.length - KEY_LENGTH > MAX_PACKET)
        return invalid(`${name}: packet over ${MAX_PACKET} bytes`);
      return {
        type: code === SEND ? "send" : "recv",
        key: body.subarray(0, KEY_LENGTH),
        packet: body.subarray(KEY_LENGTH),
      };
    }
    case SEND_UDP:
    case RECV_UDP: {
      const name = code === SEND_UDP ? "SEND_UDP" : "RECV_UDP";
      if (body.length < ENDPOINT_LENGTH)
        return invalid(`${name}: ${body.length} bytes, below the 18-byte endpoint`);
      if (body.length - ENDPOINT_LENGTH > MAX_PACKET)
        return invalid(`${name}: packet over ${MAX_PACKET} bytes`);
      return {
        type: code === SEND_UDP ? "send-udp" : "recv-udp",
        endpoint: { address: body.subarray(0, 16), port: (body[16]! << 8) | body[17]! },
        packet: body.subarray(ENDPOINT_LENGTH),
      };
    }
    case UDP_ERROR:
      // Reasons this side does not know stay numbers: a newer relay may add some.
      return (
        exact(ENDPOINT_LENGTH + 1, "UDP_ERROR") ?? {
          type: "udp-error",
          endpoint: { address: body.subarray(0, 16), port: (body[16]! << 8) | body[17]! },
          reason: body[ENDPOINT_LENGTH]!,
        }
      );
    case PING:
    case PONG:
      return (
        exact(PING_LENGTH, code === PING ? "PING" : "PONG") ?? {
          type: code === PING ? "ping" : "pong",
          data: body,
        }
      );
    case PEER_GONE:
      return (
        exact(KEY_LENGTH + 1, "PEER_GONE") ?? {
          type: "peer-gone",
          key: body.subarray(0, KEY_LENGTH),
          reason: body[KEY_LENGTH]!,
        }
      );
    case HEALTH: {
      const health = text(body, "HEALTH");
      return typeof health === "string" ? { type: "health", text: health } : health;
    }
    case RESTARTING:
      return (
        exact(8, "RESTARTING") ?? {
          type: "restarting",
          reconnectInMs: u32(body, 0),
          tryForMs: u32(body, 4),
        }
      );
    case FEATURES:
      return exact(4, "FEATURES") ?? { type: "features", flags: u32(body, 0) };
    case BATCH: {
      const frames = decodeBatch(body);
      return typeof frames === "string" ? invalid(frames) : { type: "batch", frames };
    }
    default:
      return { type: "unknown", code };
  }
}

function frame(code: number, length: number): Uint8Array {
  const out = new Uint8Array(1 + length);
  out[0] = code;
  return out;
}

function checkLength(what: string, bytes: Uint8Array, length: number): void {
  if (bytes.length !== length)
    throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

function checkPacket(packet: Uint8Array): void {
  if (packet.length > MAX_PACKET)
    throw new RangeError(`packet of ${packet.length} bytes is over ${MAX_PACKET}`);
}

/** SERVER_HELLO: version, the relay's static public key, a fresh challenge. */
export function encodeServerHello(relayKey: Uint8Array, challenge: Uint8Array): Uint8Array {
  checkLength("relay key", relayKey, KEY_LENGTH);
  checkLength("challenge", challenge, CHALLENGE_LENGTH);
  const out = frame(SERVER_HELLO, 1 + KEY_LENGTH + CHALLENGE_LENGTH);
  out[1] = RELAY_VERSION;
  out.set(relayKey, 2);
  out.set(challenge, 2 + KEY_LENGTH);
  return out;
}

/** CLIENT_HELLO: our node key, the proof of possession, and a token (may be empty). */
export function encodeClientHello(nodeKey: Uint8Array, proof: Uint8Array, token = ""): Uint8Array {
  checkLength("node key", nodeKey, KEY_LENGTH);
  checkLength("proof", proof, PROOF_LENGTH);
  const tokenBytes = encoder.encode(token);
  const out = frame(CLIENT_HELLO, KEY_LENGTH + PROOF_LENGTH + tokenBytes.length);
  out.set(nodeKey, 1);
  out.set(proof, 1 + KEY_LENGTH);
  out.set(tokenBytes, 1 + KEY_LENGTH + PROOF_LENGTH);
  return out;
}

/** A frame whose payload is UTF-8 text (WELCOME, HEALTH). */
export function encodeText(code: typeof WELCOME | typeof HEALTH, value: string): Uint8Array {
  const bytes = encoder.encode(value);
  const out = frame(code, bytes.length);
  out.set(bytes, 1);
  return out;
}

/** SEND or RECV: a key and a packet, in one buffer. */
export function encodeKeyed(
  code: typeof SEND | typeof RECV,
  key: Uint8Array,
  packet: Uint8Array,
): Uint8Array {
  checkLength("key", key, KEY_LENGTH);
  checkPacket(packet);
  const out = frame(code, KEY_LENGTH + packet.length);
  out.set(key, 1);
  out.set(packet, 1 + KEY_LENGTH);
  return out;
}

/** SEND_UDP or RECV_UDP: an endpoint and a packet. */
export function encodeUdp(
  code: typeof SEND_UDP | typeof RECV_UDP,
  endpoint: RelayEndpoint,
  packet: Uint8Array,
): Uint8Array {
  checkLength("endpoint address", endpoint.address, 16);
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw new RangeError(`endpoint port ${endpoint.port} is not 0-65535`);
  }
  checkPacket(packet);
  const out = frame(code, ENDPOINT_LENGTH + packet.length);
  out.set(endpoint.address, 1);
  out[17] = endpoint.port >> 8;
  out[18] = endpoint.port & 0xff;
  out.set(packet, 1 + ENDPOINT_LENGTH);
  return out;
}

/** UDP_ERROR: the endpoint a SEND_UDP went to and why it was not delivered (0-255). */
export function encodeUdpError(endpoint: RelayEndpoint, reason: number): Uint8Array {
  checkLength("endpoint address", endpoint.address, 16);
  if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
    throw new RangeError(`endpoint port ${endpoint.port} is not 0-65535`);
  }
  if (!Number.isInteger(reason) || reason < 0 || reason > 255) {
    throw new RangeError(`UDP_ERROR reason ${reason} is not 0-255`);
  }
  const out = frame(UDP_ERROR, ENDPOINT_LENGTH + 1);
  out.set(endpoint.address, 1);
  out[17] = endpoint.port >> 8;
  out[18] = endpoint.port & 0xff;
  out[19] = reason;
  return out;
}

/** PING or PONG with 8 bytes. */
export function encodePing(code: typeof PING | typeof PONG, data: Uint8Array): Uint8Array {
  checkLength("ping data", data, PING_LENGTH);
  const out = frame(code, PING_LENGTH);
  out.set(data, 1);
  return out;
}

/** PEER_GONE: the key and why (GONE_DISCONNECTED or GONE_NOT_HERE). */
export function encodePeerGone(key: Uint8Array, reason: number): Uint8Array {
  checkLength("key", key, KEY_LENGTH);
  const out = frame(PEER_GONE, KEY_LENGTH + 1);
  out.set(key, 1);
  out[1 + KEY_LENGTH] = reason;
  return out;
}

/** RESTARTING: reconnect in, and keep trying for, the given milliseconds. */
export function encodeRestarting(reconnectInMs: number, tryForMs: number): Uint8Array {
  const out = frame(RESTARTING, 8);
  const view = new DataView(out.buffer);
  view.setUint32(1, reconnectInMs >>> 0);
  view.setUint32(5, tryForMs >>> 0);
  return out;
}

/** An address (4 or 16 bytes) as the 16-byte form endpoints carry (IPv4-mapped). */
export function toRelayAddress(address: Uint8Array): Uint8Array {
  if (address.length === 16) return address;
  if (address.length !== 4)
    throw new RangeError(`address must be 4 or 16 bytes, got ${address.length}`);
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(address, 12);
  return out;
}
