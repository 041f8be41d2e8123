// The key exchange methods: curve25519-sha256 (RFC 8731, also under its old name
// curve25519-sha256@libssh.org), ecdh-sha2-nistp256 (RFC 5656) and
// diffie-hellman-group14-sha256 (RFC 8268, the 2048-bit MODP group of RFC 3526).
//
// Each method makes our ephemeral key, encodes the INIT message, reads the server's public
// value from the REPLY, validates it, and computes the shared secret K as an unsigned
// big-endian magnitude (it is hashed and derived from as an mpint). The exchange hash and key
// derivation are the same for all three (exchange.ts) apart from how the public values enter
// the hash: strings for ECDH, mpints for DH.

import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { X25519Provider } from "../../crypto/x25519.ts";
import { SSH_MSG_KEX_ECDH_INIT } from "../messages.ts";
import { SshProtocolError, type SshReader, SshWriter } from "../wire.ts";

/** One run of a key exchange method from the client's side. */
export interface KexExchange {
  /** The SSH_MSG_KEX_ECDH_INIT / KEXDH_INIT payload to send. */
  readonly initPayload: Uint8Array;
  /** Reads the server's public value (Q_S or f) from the REPLY, after K_S. */
  readServerPublic(reader: SshReader): Uint8Array;
  /** Writes the two public values as the exchange hash wants them. */
  writeHashPublics(writer: SshWriter, serverPublic: Uint8Array): void;
  /** The shared secret K (unsigned magnitude); throws SshProtocolError for a bad value. */
  sharedSecret(serverPublic: Uint8Array): Promise<Uint8Array>;
}

/** A key exchange method. */
export interface KexMethod {
  readonly name: string;
  /** The exchange hash function. */
  hash(data: Uint8Array): Uint8Array;
  /** Starts one exchange with a fresh ephemeral key. */
  start(random: (n: number) => Uint8Array): Promise<KexExchange>;
}

function fail(message: string): never {
  throw new SshProtocolError(`key exchange: ${message}`, "kex");
}

function ecdhInit(clientPublic: Uint8Array): Uint8Array {
  return new SshWriter(80).writeByte(SSH_MSG_KEX_ECDH_INIT).writeString(clientPublic).toBytes();
}

function ecdhHashPublics(clientPublic: Uint8Array) {
  return (writer: SshWriter, serverPublic: Uint8Array): void => {
    writer.writeString(clientPublic).writeString(serverPublic);
  };
}

/** curve25519-sha256 on an X25519 provider (native where the platform has it). */
export function curve25519Sha256(name: string, provider: X25519Provider): KexMethod {
  return {
    name,
    hash: sha256,
    async start(random) {
      const privateKey = random(32);
      const clientPublic = await provider.publicKey(privateKey);
      return {
        initPayload: ecdhInit(clientPublic),
        readServerPublic: (r) => r.readString("server ephemeral key Q_S"),
        writeHashPublics: ecdhHashPublics(clientPublic),
        async sharedSecret(serverPublic) {
          if (serverPublic.length !== 32) {
            fail(`curve25519 server key is ${serverPublic.length} bytes, not 32`);
          }
          try {
            // RFC 8731 §3: an all-zero result (low-order point) must abort.
            return await provider.sharedSecret(privateKey, serverPublic);
          } catch (error) {
            fail(`curve25519 shared secret rejected: ${(error as Error).message}`);
          } finally {
            privateKey.fill(0);
          }
        },
      };
    },
  };
}

/** ecdh-sha2-nistp256: uncompressed points, the shared secret is the x coordinate. */
export const ecdhSha2Nistp256: KexMethod = {
  name: "ecdh-sha2-nistp256",
  hash: sha256,
  async start() {
    const privateKey = p256.utils.randomSecretKey();
    const clientPublic = p256.getPublicKey(privateKey, false);
    return {
      initPayload: ecdhInit(clientPublic),
      readServerPublic: (r) => r.readString("server ephemeral key Q_S"),
      writeHashPublics: ecdhHashPublics(clientPublic),
      async sharedSecret(serverPublic) {
        // RFC 5656 §4: the point must be on the curve and not the identity; noble checks
        // both when decoding. Only uncompressed points are allowed on the wire.
        if (serverPublic.length !== 65 || serverPublic[0] !== 0x04) {
          fail(`nistp256 server key is not an uncompressed point (${serverPublic.length} bytes)`);
        }
        try {
          return p256.getSharedSecret(privateKey, serverPublic, true).subarray(1);
        } catch (error) {
          fail(`nistp256 server key is not a valid point: ${(error as Error).message}`);
        } finally {
          privateKey.fill(0);
        }
      },
    };
  },
};

/** RFC 3526 §3: the 2048-bit MODP group, generator 2. */
export const MODP_GROUP14_PRIME = BigInt(
  "0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);
const GROUP14_GENERATOR = 2n;
/** Private exponent bits: twice the 112-bit strength of the group, as OpenSSH rounds up. */
const GROUP14_EXPONENT_BYTES = 64;

/** base^exponent mod modulus by left-to-right square-and-multiply. */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let bit = BigInt(exponent.toString(2).length - 1); bit >= 0n; bit--) {
    result = (result * result) % modulus;
    if ((exponent >> bit) & 1n) result = (result * b) % modulus;
  }
  b = 0n;
  return result;
}

function bigIntFromBytes(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const byte of bytes) v = (v << 8n) | BigInt(byte);
  return v;
}

function magnitude(value: bigint): Uint8Array {
  const hex = value.toString(16);
  const padded = hex.length % 2 === 0 ? hex : `0${hex}`;
  const out = new Uint8Array(padded.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(padded.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** diffie-hellman-group14-sha256 (RFC 8268). */
export const diffieHellmanGroup14Sha256: KexMethod = {
  name: "diffie-hellman-group14-sha256",
  hash: sha256,
  async start(random) {
    const p = MODP_GROUP14_PRIME;
    let x = 0n;
    while (x < 2n) x = bigIntFromBytes(random(GROUP14_EXPONENT_BYTES));
    const e = modPow(GROUP14_GENERATOR, x, p);
    const eBytes = magnitude(e);
    return {
      initPayload: new SshWriter(300)
        .writeByte(SSH_MSG_KEX_ECDH_INIT)
        .writeMpintUnsigned(eBytes)
        .toBytes(),
      readServerPublic(r) {
        const f = r.readMpintBigInt("server DH value f");
        // RFC 4253 §8: 1 < f < p-1, else the secret is trivially predictable.
        if (f <= 1n || f >= p - 1n) fail("server DH value f is out of range (1, p-1)");
        return magnitude(f);
      },
      writeHashPublics(w, serverPublic) {
        w.writeMpintUnsigned(eBytes).writeMpintUnsigned(serverPublic);
      },
      async sharedSecret(serverPublic) {
        const k = modPow(bigIntFromBytes(serverPublic), x, p);
        x = 0n;
        return magnitude(k);
      },
    };
  },
};

/** Kex method names in our order of preference. */
export const DEFAULT_KEX = [
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "ecdh-sha2-nistp256",
  "diffie-hellman-group14-sha256",
] as const;

/** The method for a negotiated name, or undefined when we do not implement it. */
export function kexMethod(name: string, x25519: X25519Provider): KexMethod | undefined {
  switch (name) {
    case "curve25519-sha256":
    case "curve25519-sha256@libssh.org":
      return curve25519Sha256(name, x25519);
    case "ecdh-sha2-nistp256":
      return ecdhSha2Nistp256;
    case "diffie-hellman-group14-sha256":
      return diffieHellmanGroup14Sha256;
    default:
      return undefined;
  }
}
