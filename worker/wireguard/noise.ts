// Noise_IKpsk2 as WireGuard uses it (the WireGuard paper §5.4; wireguard-go's
// device/noise-protocol.go): building and consuming the handshake initiation and response,
// and deriving the transport keys. Pure functions over explicit state; the device decides
// which peer, which index and when. X25519 is async (a provider may be WebCrypto).

import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import {
  INITIATION,
  INITIATION_SIZE,
  KEY_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  newMessage,
  RESPONSE,
  RESPONSE_SIZE,
  readU32,
  TAG_SIZE,
  TIMESTAMP_SIZE,
  writeU32,
} from "./messages.ts";

/** The primitives a handshake needs. */
export interface NoiseCrypto {
  core: CryptoCore;
  x25519: X25519Provider;
}

/** An X25519 key pair. */
export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Keys for one session: what we send with and what we receive with. */
export interface TransportKeys {
  send: Uint8Array;
  receive: Uint8Array;
}

const encoder = new TextEncoder();
const CONSTRUCTION = encoder.encode("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
const IDENTIFIER = encoder.encode("WireGuard v1 zx2c4 Jason@zx2c4.com");
const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** HASH(a ‖ b). */
function mixHash(core: CryptoCore, hash: Uint8Array, data: Uint8Array): Uint8Array {
  return core.blake2s(concat(hash, data));
}

/**
 * The chaining key and hash every handshake towards `responderStatic` starts from:
 * C = HASH(CONSTRUCTION), H = HASH(HASH(C ‖ IDENTIFIER) ‖ S_pub_r). Depends only on the
 * responder's key, so callers may compute it once per key.
 */
export function initialState(
  core: CryptoCore,
  responderStatic: Uint8Array,
): { chainKey: Uint8Array; hash: Uint8Array } {
  const chainKey = core.blake2s(CONSTRUCTION);
  const hash = mixHash(core, mixHash(core, chainKey, IDENTIFIER), responderStatic);
  return { chainKey, hash };
}

/** What the initiator keeps between sending the initiation and receiving the response. */
export interface InitiatorHandshake {
  chainKey: Uint8Array;
  hash: Uint8Array;
  ephemeral: KeyPair;
  localIndex: number;
  localStatic: KeyPair;
  presharedKey: Uint8Array;
}

/** Inputs of an initiation. */
export interface InitiationParams {
  localStatic: KeyPair;
  remoteStatic: Uint8Array;
  /** DH(S_priv_i, S_pub_r), which the device computes once per peer. */
  staticShared: Uint8Array;
  presharedKey: Uint8Array;
  ephemeral: KeyPair;
  localIndex: number;
  /** TAI64N, 12 bytes. */
  timestamp: Uint8Array;
}

/** Builds a handshake initiation (mac1 and mac2 left zero for cookie.ts to fill). */
export async function createInitiation(
  nc: NoiseCrypto,
  p: InitiationParams,
): Promise<{ message: Uint8Array; handshake: InitiatorHandshake }> {
  const { core } = nc;
  const message = newMessage(MESSAGE_INITIATION, INITIATION_SIZE);
  writeU32(message, INITIATION.sender, p.localIndex);
  let { chainKey, hash } = initialState(core, p.remoteStatic);
  const e = p.ephemeral.publicKey;
  message.set(e, INITIATION.ephemeral);
  [chainKey] = core.kdf(1, chainKey, e) as [Uint8Array];
  hash = mixHash(core, hash, e);
  const es = await nc.x25519.sharedSecret(p.ephemeral.privateKey, p.remoteStatic);
  let key: Uint8Array;
  [chainKey, key] = core.kdf(2, chainKey, es) as [Uint8Array, Uint8Array];
  const encryptedStatic = core.aeadSeal(key, ZERO_NONCE, p.localStatic.publicKey, hash);
  message.set(encryptedStatic, INITIATION.encryptedStatic);
  hash = mixHash(core, hash, encryptedStatic);
  [chainKey, key] = core.kdf(2, chainKey, p.staticShared) as [Uint8Array, Uint8Array];
  const encryptedTimestamp = core.aeadSeal(key, ZERO_NONCE, p.timestamp, hash);
  message.set(encryptedTimestamp, INITIATION.encryptedTimestamp);
  hash = mixHash(core, hash, encryptedTimestamp);
  es.fill(0);
  key.fill(0);
  return {
    message,
    handshake: {
      chainKey,
      hash,
      ephemeral: p.ephemeral,
      localIndex: p.localIndex,
      localStatic: p.localStatic,
      presharedKey: p.presharedKey,
    },
  };
}

/** What the responder learns from an authentic initiation. */
export interface ConsumedInitiation {
  remoteStatic: Uint8Array;
  remoteEphemeral: Uint8Array;
  remoteIndex: number;
  timestamp: Uint8Array;
  chainKey: Uint8Array;
  hash: Uint8Array;
}

/**
 * Decrypts an initiation addressed to `localStatic`. `staticSharedFor` returns the
 * precomputed DH(S_priv_r, S_pub_i) of a known peer, or undefined to refuse an unknown
 * one. Returns undefined for anything not authentic; never throws on hostile bytes.
 */
export async function consumeInitiation(
  nc: NoiseCrypto,
  localStatic: KeyPair,
  message: Uint8Array,
  staticSharedFor: (remoteStatic: Uint8Array) => Uint8Array | undefined,
): Promise<ConsumedInitiation | undefined> {
  const { core } = nc;
  let { chainKey, hash } = initialState(core, localStatic.publicKey);
  const e = message.slice(INITIATION.ephemeral, INITIATION.ephemeral + KEY_SIZE);
  [chainKey] = core.kdf(1, chainKey, e) as [Uint8Array];
  hash = mixHash(core, hash, e);
  let es: Uint8Array;
  try {
    es = await nc.x25519.sharedSecret(localStatic.privateKey, e);
  } catch {
    return undefined; // a low-order ephemeral key
  }
  let key: Uint8Array;
  [chainKey, key] = core.kdf(2, chainKey, es) as [Uint8Array, Uint8Array];
  es.fill(0);
  const encryptedStatic = message.subarray(
    INITIATION.encryptedStatic,
    INITIATION.encryptedStatic + KEY_SIZE + TAG_SIZE,
  );
  const remoteStatic = core.aeadOpen(key, ZERO_NONCE, encryptedStatic, hash);
  if (!remoteStatic) return undefined;
  hash = mixHash(core, hash, encryptedStatic);
  const ss = staticSharedFor(remoteStatic);
  if (!ss) return undefined;
  [chainKey, key] = core.kdf(2, chainKey, ss) as [Uint8Array, Uint8Array];
  const encryptedTimestamp = message.subarray(
    INITIATION.encryptedTimestamp,
    INITIATION.encryptedTimestamp + TIMESTAMP_SIZE + TAG_SIZE,
  );
  const timestamp = core.aeadOpen(key, ZERO_NONCE, encryptedTimestamp, hash);
  key.fill(0);
  if (!timestamp) return undefined;
  hash = mixHash(core, hash, encryptedTimestamp);
  return {
    remoteStatic,
    remoteEphemeral: e,
    remoteIndex: readU32(message, INITIATION.sender),
    timestamp,
    chainKey,
    hash,
  };
}

/** The transport keys from the final chaining key: (T_i→r, T_r→i) = KDF2(C, ε). */
function transportKeys(core: CryptoCore, chainKey: Uint8Array, initiator: boolean): TransportKeys {
  const [first, second] = core.kdf(2, chainKey, EMPTY) as [Uint8Array, Uint8Array];
  return initiator ? { send: first, receive: second } : { send: second, receive: first };
}

/** Builds the response to a consumed initiation and derives the responder's keys. */
export async function createResponse(
  nc: NoiseCrypto,
  initiation: ConsumedInitiation,
  p: { ephemeral: KeyPair; localIndex: number; presharedKey: Uint8Array },
): Promise<{ message: Uint8Array; keys: TransportKeys }> {
  const { core } = nc;
  const message = newMessage(MESSAGE_RESPONSE, RESPONSE_SIZE);
  writeU32(message, RESPONSE.sender, p.localIndex);
  writeU32(message, RESPONSE.receiver, initiation.remoteIndex);
  let { chainKey, hash } = initiation;
  const e = p.ephemeral.publicKey;
  message.set(e, RESPONSE.ephemeral);
  [chainKey] = core.kdf(1, chainKey, e) as [Uint8Array];
  hash = mixHash(core, hash, e);
  const ee = await nc.x25519.sharedSecret(p.ephemeral.privateKey, initiation.remoteEphemeral);
  [chainKey] = core.kdf(1, chainKey, ee) as [Uint8Array];
  const se = await nc.x25519.sharedSecret(p.ephemeral.privateKey, initiation.remoteStatic);
  [chainKey] = core.kdf(1, chainKey, se) as [Uint8Array];
  const [c, tau, key] = core.kdf(3, chainKey, p.presharedKey) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  chainKey = c;
  hash = mixHash(core, hash, tau);
  const encryptedNothing = core.aeadSeal(key, ZERO_NONCE, EMPTY, hash);
  message.set(encryptedNothing, RESPONSE.encryptedNothing);
  const keys = transportKeys(core, chainKey, false);
  for (const secret of [ee, se, tau, key, chainKey]) secret.fill(0);
  return { message, keys };
}

/**
 * Consumes a response to our initiation and derives the initiator's keys; undefined when it
 * is not authentic. The caller has matched its receiver index to `handshake.localIndex`.
 */
export async function consumeResponse(
  nc: NoiseCrypto,
  handshake: InitiatorHandshake,
  message: Uint8Array,
): Promise<{ keys: TransportKeys; remoteIndex: number } | undefined> {
  const { core } = nc;
  let { chainKey, hash } = handshake;
  const e = message.slice(RESPONSE.ephemeral, RESPONSE.ephemeral + KEY_SIZE);
  [chainKey] = core.kdf(1, chainKey, e) as [Uint8Array];
  hash = mixHash(core, hash, e);
  let ee: Uint8Array;
  let se: Uint8Array;
  try {
    ee = await nc.x25519.sharedSecret(handshake.ephemeral.privateKey, e);
    se = await nc.x25519.sharedSecret(handshake.localStatic.privateKey, e);
  } catch {
    return undefined; // a low-order ephemeral key
  }
  [chainKey] = core.kdf(1, chainKey, ee) as [Uint8Array];
  [chainKey] = core.kdf(1, chainKey, se) as [Uint8Array];
  const [c, tau, key] = core.kdf(3, chainKey, handshake.presharedKey) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  hash = mixHash(core, hash, tau);
  const encryptedNothing = message.subarray(
    RESPONSE.encryptedNothing,
    RESPONSE.encryptedNothing + TAG_SIZE,
  );
  const ok = core.aeadOpen(key, ZERO_NONCE, encryptedNothing, hash) !== null;
  for (const secret of [ee, se, tau, key]) secret.fill(0);
  if (!ok) return undefined;
  const keys = transportKeys(core, c, true);
  c.fill(0);
  return { keys, remoteIndex: readU32(message, RESPONSE.sender) };
}
