// WireGuard's four message formats (the paper §5.4, wireguard-go's device/messages.go) as
// views over bytes: offsets and sizes in one place, bounds checked once by `messageType`,
// never a copy where a subarray serves. The state machines in noise.ts, cookie.ts and
// device.ts read and write through these.

import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_SIZE,
  MESSAGE_TRANSPORT_TYPE,
} from "./constants.ts";

/** Message types, the first byte of every message (followed by three zero bytes). */
export const MESSAGE_INITIATION = MESSAGE_INITIATION_TYPE;
export const MESSAGE_RESPONSE = MESSAGE_RESPONSE_TYPE;
export const MESSAGE_COOKIE_REPLY = MESSAGE_COOKIE_REPLY_TYPE;
export const MESSAGE_TRANSPORT = MESSAGE_TRANSPORT_TYPE;

export const INITIATION_SIZE = MESSAGE_INITIATION_SIZE;
export const RESPONSE_SIZE = MESSAGE_RESPONSE_SIZE;
export const COOKIE_REPLY_SIZE = MESSAGE_COOKIE_REPLY_SIZE;
/** Type, reserved, receiver index, counter. */
export const TRANSPORT_HEADER_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE;
/** A transport message carries at least the Poly1305 tag (a keepalive has nothing else). */
export const TRANSPORT_MIN_SIZE = MESSAGE_TRANSPORT_SIZE;

export const KEY_SIZE = 32;
export const TAG_SIZE = 16;
export const MAC_SIZE = 16;
export const TIMESTAMP_SIZE = 12;
export const XNONCE_SIZE = 24;

// Field offsets.
export const INITIATION = {
  sender: 4,
  ephemeral: 8,
  encryptedStatic: 40, // 32 + 16
  encryptedTimestamp: 88, // 12 + 16
  mac1: 116,
  mac2: 132,
} as const;

export const RESPONSE = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  encryptedNothing: 44, // 0 + 16
  mac1: 60,
  mac2: 76,
} as const;

export const COOKIE_REPLY = {
  receiver: 4,
  nonce: 8,
  encryptedCookie: 32, // 16 + 16
} as const;

export const TRANSPORT = {
  receiver: 4,
  counter: 8,
  content: 16,
} as const;

/**
 * The type of a well-formed message, or 0 when the bytes are no WireGuard message: an unknown
 * type, non-zero reserved bytes, or a size that does not fit the type.
 */
export function messageType(packet: Uint8Array): number {
  if (packet.length < 4 || packet[1] !== 0 || packet[2] !== 0 || packet[3] !== 0) return 0;
  const type = packet[0]!;
  switch (type) {
    case MESSAGE_INITIATION:
      return packet.length === INITIATION_SIZE ? type : 0;
    case MESSAGE_RESPONSE:
      return packet.length === RESPONSE_SIZE ? type : 0;
    case MESSAGE_COOKIE_REPLY:
      return packet.length === COOKIE_REPLY_SIZE ? type : 0;
    case MESSAGE_TRANSPORT:
      return packet.length >= TRANSPORT_MIN_SIZE ? type : 0;
    default:
      return 0;
  }
}

/** Reads a little-endian u32 (indices are little-endian on the wire). */
export function readU32(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
  );
}

/** Writes a little-endian u32. */
export function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

/** Starts a message of `size` bytes with its type byte set. */
export function newMessage(type: number, size: number): Uint8Array {
  const message = new Uint8Array(size);
  message[0] = type;
  return message;
}

/** The bytes mac1 covers (everything before it) and mac2 covers (everything before mac2). */
export function macSpans(message: Uint8Array): { beforeMac1: Uint8Array; beforeMac2: Uint8Array } {
  const mac1At = message.length - 2 * MAC_SIZE;
  return {
    beforeMac1: message.subarray(0, mac1At),
    beforeMac2: message.subarray(0, mac1At + MAC_SIZE),
  };
}
