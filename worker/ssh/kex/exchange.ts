// The exchange hash H (RFC 4253 §8, RFC 5656 §4) and the derivation of the six keys from K,
// H and the session identifier (RFC 4253 §7.2).

import { SshWriter } from "../wire.ts";
import type { KexExchange, KexMethod } from "./methods.ts";

/** What goes into the exchange hash besides the public values and K. */
export interface ExchangeHashInput {
  clientIdentification: string;
  serverIdentification: string;
  clientKexInit: Uint8Array;
  serverKexInit: Uint8Array;
  hostKeyBlob: Uint8Array;
}

/**
 * H = HASH(string V_C ‖ string V_S ‖ string I_C ‖ string I_S ‖ string K_S ‖ publics ‖
 * mpint K). The identifications are without CR LF; I_C and I_S are whole KEXINIT payloads.
 */
export function exchangeHash(
  method: KexMethod,
  exchange: KexExchange,
  input: ExchangeHashInput,
  serverPublic: Uint8Array,
  sharedSecret: Uint8Array,
): Uint8Array {
  const w = new SshWriter(2048)
    .writeString(input.clientIdentification)
    .writeString(input.serverIdentification)
    .writeString(input.clientKexInit)
    .writeString(input.serverKexInit)
    .writeString(input.hostKeyBlob);
  exchange.writeHashPublics(w, serverPublic);
  w.writeMpintUnsigned(sharedSecret);
  return method.hash(w.toBytes());
}

/** The six derived values of RFC 4253 §7.2, named by their letter. */
export interface DerivedKeys {
  /** A: initial IV client to server. */
  ivClientToServer: Uint8Array;
  /** B: initial IV server to client. */
  ivServerToClient: Uint8Array;
  /** C: encryption key client to server. */
  keyClientToServer: Uint8Array;
  /** D: encryption key server to client. */
  keyServerToClient: Uint8Array;
  /** E: integrity key client to server. */
  macKeyClientToServer: Uint8Array;
  /** F: integrity key server to client. */
  macKeyServerToClient: Uint8Array;
}

/** How many bytes each derived value needs. */
export interface KeySizes {
  ivClientToServer: number;
  ivServerToClient: number;
  keyClientToServer: number;
  keyServerToClient: number;
  macKeyClientToServer: number;
  macKeyServerToClient: number;
}

/**
 * K1 = HASH(K ‖ H ‖ X ‖ session_id), K(n+1) = HASH(K ‖ H ‖ K1 ‖ … ‖ Kn), truncated to
 * `length`; K is the mpint encoding of the shared secret, X the letter.
 */
export function deriveKey(
  hash: (data: Uint8Array) => Uint8Array,
  sharedSecret: Uint8Array,
  exchangeHashValue: Uint8Array,
  letter: string,
  sessionId: Uint8Array,
  length: number,
): Uint8Array {
  const k = new SshWriter(300).writeMpintUnsigned(sharedSecret).toBytes();
  const first = new SshWriter(512)
    .writeRaw(k)
    .writeRaw(exchangeHashValue)
    .writeByte(letter.charCodeAt(0))
    .writeRaw(sessionId)
    .toBytes();
  const out = new Uint8Array(length);
  let produced = hash(first);
  let have = 0;
  const chain = new SshWriter(512).writeRaw(k).writeRaw(exchangeHashValue);
  for (;;) {
    const take = Math.min(produced.length, length - have);
    out.set(produced.subarray(0, take), have);
    have += take;
    if (have >= length) break;
    chain.writeRaw(produced);
    produced = hash(chain.toBytes());
  }
  return out;
}

/** Derives all six values of `sizes`. */
export function deriveKeys(
  hash: (data: Uint8Array) => Uint8Array,
  sharedSecret: Uint8Array,
  exchangeHashValue: Uint8Array,
  sessionId: Uint8Array,
  sizes: KeySizes,
): DerivedKeys {
  const d = (letter: string, n: number) =>
    deriveKey(hash, sharedSecret, exchangeHashValue, letter, sessionId, n);
  return {
    ivClientToServer: d("A", sizes.ivClientToServer),
    ivServerToClient: d("B", sizes.ivServerToClient),
    keyClientToServer: d("C", sizes.keyClientToServer),
    keyServerToClient: d("D", sizes.keyServerToClient),
    macKeyClientToServer: d("E", sizes.macKeyClientToServer),
    macKeyServerToClient: d("F", sizes.macKeyServerToClient),
  };
}
