// User keys for SSH public key authentication (RFC 4252 §7): an Ed25519 (RFC 8709, RFC 8032)
// or ECDSA P-256 (RFC 5656, deterministic RFC 6979 nonces) key pair that signs and knows its
// public blob and authorized_keys line. The private half stays inside this module (a WeakMap
// keyed by the UserKey object) so it is reachable only by serialising the key again
// (openssh-private-key.ts). No Node built-ins: this runs in the Worker.

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { SshWriter } from "../wire.ts";
import { ed25519PublicBlob, p256PublicBlob, publicKeyLine } from "./public-key.ts";

/** The key types a UserKey can be. */
export type UserKeyType = "ssh-ed25519" | "ecdsa-sha2-nistp256";

/** A private key able to sign for SSH user authentication. */
export interface UserKey {
  /** Key type, also the signature algorithm name. */
  readonly type: UserKeyType;
  /** Public key in wire format (RFC 4253 §6.6). */
  readonly publicBlob: Uint8Array;
  /** The comment from the key file or given at creation ("" when none). */
  readonly comment: string;
  /** Signs `data`; returns the SSH signature blob: string algorithm ‖ string signature. */
  sign(data: Uint8Array): Uint8Array;
}

/** The private half of a UserKey, for serialisation only. */
export interface UserKeySecret {
  readonly type: UserKeyType;
  /** Ed25519: the 32-byte seed; ECDSA: the 32-byte big-endian scalar d. */
  readonly secret: Uint8Array;
  /** Ed25519: the 32-byte key; ECDSA: the 65-byte uncompressed point Q. */
  readonly publicKey: Uint8Array;
}

const SECRETS = new WeakMap<UserKey, UserKeySecret>();

/** The secret of a key made by this module, or undefined (internal: for key file export). */
export function userKeySecret(key: UserKey): UserKeySecret | undefined {
  return SECRETS.get(key);
}

function makeKey(
  secret: UserKeySecret,
  publicBlob: Uint8Array,
  comment: string,
  signRaw: (data: Uint8Array) => Uint8Array,
): UserKey {
  const key: UserKey = Object.freeze({
    type: secret.type,
    get publicBlob() {
      return publicBlob.slice();
    },
    comment,
    sign(data: Uint8Array): Uint8Array {
      return new SshWriter(128).writeString(secret.type).writeString(signRaw(data)).toBytes();
    },
  });
  SECRETS.set(key, secret);
  return key;
}

/** A UserKey from a 32-byte Ed25519 seed (RFC 8032 §5.1.5 private key). */
export function userKeyFromEd25519Seed(seed: Uint8Array, comment = ""): UserKey {
  if (seed.length !== 32) throw new RangeError("ed25519 seed must be 32 bytes");
  const secret = seed.slice();
  const publicKey = ed25519.getPublicKey(secret);
  return makeKey(
    { type: "ssh-ed25519", secret, publicKey },
    ed25519PublicBlob(publicKey),
    comment,
    (data) => ed25519.sign(data, secret),
  );
}

/**
 * A UserKey from a 32-byte big-endian P-256 scalar d, 0 < d < n. Signatures are RFC 5656 §3.1.2:
 * SHA-256 prehash, deterministic nonce (RFC 6979), r and s as mpints.
 */
export function userKeyFromP256Scalar(d: Uint8Array, comment = ""): UserKey {
  if (d.length !== 32 || !p256.utils.isValidSecretKey(d)) {
    throw new RangeError("P-256 private scalar must be 32 bytes in 1..n-1");
  }
  const secret = d.slice();
  const publicKey = p256.getPublicKey(secret, false);
  return makeKey(
    { type: "ecdsa-sha2-nistp256", secret, publicKey },
    p256PublicBlob(publicKey),
    comment,
    (data) => {
      const rs = p256.sign(data, secret, { prehash: true, format: "compact" });
      return new SshWriter(80)
        .writeMpintUnsigned(rs.subarray(0, 32))
        .writeMpintUnsigned(rs.subarray(32, 64))
        .toBytes();
    },
  );
}

/** A new random key (crypto.getRandomValues) of `type`, with `comment`. */
export function generateUserKey(type: UserKeyType, comment = ""): UserKey {
  const random = (): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(32));
  if (type === "ssh-ed25519") return userKeyFromEd25519Seed(random(), comment);
  if (type !== "ecdsa-sha2-nistp256") throw new RangeError(`cannot generate a ${type} key`);
  for (;;) {
    // Rejection sampling: a 32-byte value is out of 1..n-1 with probability about 2^-32.
    const d = random();
    if (p256.utils.isValidSecretKey(d)) return userKeyFromP256Scalar(d, comment);
  }
}

/** The key's authorized_keys (and .pub) line: "ssh-ed25519 AAAA... comment". */
export function authorizedKeysLine(key: UserKey): string {
  return publicKeyLine(key.publicBlob, key.comment);
}
