// SSH public keys in their wire format (RFC 4253 §6.6): the blob that host keys, user keys,
// authorized_keys lines and signatures refer to. Parses the three kinds this client verifies —
// ssh-ed25519 (RFC 8709 §4), ecdsa-sha2-nistp256 (RFC 5656 §3.1) and ssh-rsa (RFC 4253 §6.6,
// with RSA keys of at least 2048 bits) — and writes the two it can hold private keys for.
// Every failure is an SshKeyError ("malformed" or "unsupported"); no Node built-ins (Worker).

import { p256 } from "@noble/curves/nist.js";
import { decodeBase64, encodeBase64 } from "../fingerprint.ts";
import { SshProtocolError, SshReader, SshWriter } from "../wire.ts";
import { SshKeyError } from "./errors.ts";

/** Smallest RSA modulus accepted, in bits (NIST SP 800-131A; OpenSSH's own floor is 1024). */
export const RSA_MIN_BITS = 2048;
/** Largest RSA modulus accepted, in bits (OpenSSH's SSH_RSA_MAXIMUM_MODULUS_SIZE). */
export const RSA_MAX_BITS = 16384;

/** A parsed public key blob. Byte fields are views into the blob they were read from. */
export type PublicKey =
  | { readonly type: "ssh-ed25519"; readonly key: Uint8Array }
  | { readonly type: "ecdsa-sha2-nistp256"; readonly q: Uint8Array }
  | {
      readonly type: "ssh-rsa";
      /** Public exponent, unsigned big-endian without leading zeros. */
      readonly e: Uint8Array;
      /** Modulus, unsigned big-endian without leading zeros. */
      readonly n: Uint8Array;
      /** Size of the modulus in bits. */
      readonly bits: number;
    };

/** The key types parsePublicKeyBlob understands. */
export type PublicKeyType = PublicKey["type"];

/**
 * Runs `body`, turning an SshProtocolError (a short or inconsistent field) into an SshKeyError
 * "malformed" whose message starts with `what`.
 */
export function asMalformed<T>(what: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof SshProtocolError) {
      throw new SshKeyError("malformed", `${what}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Reads a string that must be printable US-ASCII (an algorithm or key type name). */
export function readAsciiName(reader: SshReader, field: string): string {
  const raw = reader.readString(field);
  let name = "";
  for (const byte of raw) {
    if (byte <= 0x20 || byte >= 0x7f) {
      throw new SshProtocolError(`${field}: not a printable ASCII name`, field, reader.offset);
    }
    name += String.fromCharCode(byte);
  }
  if (name.length === 0) throw new SshProtocolError(`${field}: empty name`, field, reader.offset);
  return name;
}

/** The unsigned magnitude of a positive mpint (drops the sign byte), or throws "malformed". */
function positiveMagnitude(what: string, mpint: Uint8Array): Uint8Array {
  if (mpint.length === 0 || mpint[0]! >= 0x80) {
    throw new SshKeyError("malformed", `${what} must be a positive integer`);
  }
  return mpint[0] === 0 ? mpint.subarray(1) : mpint;
}

/** Bit length of an unsigned big-endian magnitude with no leading zero byte. */
function bitLength(magnitude: Uint8Array): number {
  const first = magnitude[0];
  if (first === undefined) return 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(first));
}

/** Parses the fields after the key type; `reader` is positioned just after it. */
function parseBody(type: string, reader: SshReader): PublicKey {
  switch (type) {
    case "ssh-ed25519": {
      const key = reader.readString("ed25519 public key");
      if (key.length !== 32) {
        throw new SshKeyError("malformed", `ssh-ed25519 key is ${key.length} bytes, not 32`);
      }
      return { type, key };
    }
    case "ecdsa-sha2-nistp256": {
      const curve = readAsciiName(reader, "ecdsa curve name");
      if (curve !== "nistp256") {
        throw new SshKeyError("malformed", `ecdsa-sha2-nistp256 key names curve "${curve}"`);
      }
      const q = reader.readString("ecdsa public point");
      if (q.length !== 65 || q[0] !== 0x04 || !p256.utils.isValidPublicKey(q, false)) {
        throw new SshKeyError("malformed", "ecdsa-sha2-nistp256 key is not a valid P-256 point");
      }
      return { type, q };
    }
    case "ssh-rsa": {
      const e = positiveMagnitude("RSA exponent", reader.readMpint("rsa e"));
      const n = positiveMagnitude("RSA modulus", reader.readMpint("rsa n"));
      const bits = bitLength(n);
      if (bits < RSA_MIN_BITS) {
        throw new SshKeyError(
          "unsupported",
          `RSA key of ${bits} bits refused: too weak, at least ${RSA_MIN_BITS} bits are required`,
        );
      }
      if (bits > RSA_MAX_BITS) {
        throw new SshKeyError(
          "unsupported",
          `RSA key of ${bits} bits refused: over ${RSA_MAX_BITS}`,
        );
      }
      if ((e[e.length - 1]! & 1) === 0 || (e.length === 1 && e[0]! < 3) || e.length > n.length) {
        throw new SshKeyError("malformed", "RSA exponent must be odd and in 3..n");
      }
      if ((n[n.length - 1]! & 1) === 0) throw new SshKeyError("malformed", "RSA modulus is even");
      return { type, e, n, bits };
    }
    case "ssh-dss":
      throw new SshKeyError("unsupported", "ssh-dss (DSA) keys are not supported: use ed25519");
    default:
      throw new SshKeyError("unsupported", `unsupported public key type "${type}"`);
  }
}

/**
 * Parses a whole public key blob, rejecting trailing bytes. Throws SshKeyError: "malformed" for
 * bad bytes or points, "unsupported" for other key types and RSA keys under RSA_MIN_BITS.
 */
export function parsePublicKeyBlob(blob: Uint8Array): PublicKey {
  return asMalformed("public key blob", () => {
    const reader = new SshReader(blob);
    const type = readAsciiName(reader, "key type");
    const key = parseBody(type, reader);
    reader.expectEnd("public key blob");
    return key;
  });
}

/**
 * Reads the type-specific public fields of a key of `type` from `reader` (the layout shared by
 * public key blobs and the start of OpenSSH private key records) and returns the public key.
 */
export function readPublicFields(type: string, reader: SshReader): PublicKey {
  return parseBody(type, reader);
}

/** The wire blob of an ssh-ed25519 public key (RFC 8709 §4). */
export function ed25519PublicBlob(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError("ed25519 public key must be 32 bytes");
  return new SshWriter(51).writeString("ssh-ed25519").writeString(key).toBytes();
}

/** The wire blob of an ecdsa-sha2-nistp256 public key, `q` uncompressed (RFC 5656 §3.1). */
export function p256PublicBlob(q: Uint8Array): Uint8Array {
  if (q.length !== 65 || q[0] !== 0x04) throw new RangeError("P-256 point must be uncompressed");
  return new SshWriter(104)
    .writeString("ecdsa-sha2-nistp256")
    .writeString("nistp256")
    .writeString(q)
    .toBytes();
}

/** One line of authorized_keys / a .pub file: "type base64 comment" (comment on one line). */
export function publicKeyLine(blob: Uint8Array, comment = ""): string {
  const type = asMalformed("public key blob", () => readAsciiName(new SshReader(blob), "type"));
  const oneLine = comment.replace(/[\r\n]+/g, " ").trim();
  return `${type} ${encodeBase64(blob)}${oneLine === "" ? "" : ` ${oneLine}`}`;
}

/**
 * Parses "type base64 [comment]" (a .pub file or an authorized_keys line without options):
 * the base64 must decode to a blob whose own type is `type`. Throws SshKeyError "malformed".
 */
export function parsePublicKeyLine(line: string): { blob: Uint8Array; comment: string } {
  const match = /^\s*(\S+)\s+(\S+)(?:\s+(.*?))?\s*$/.exec(line);
  const blob = match ? decodeBase64(match[2]!) : undefined;
  if (!match || !blob || blob.length < 4) {
    throw new SshKeyError("malformed", 'not a public key line ("type base64 [comment]")');
  }
  const type = asMalformed("public key blob", () => readAsciiName(new SshReader(blob), "type"));
  if (type !== match[1]) {
    throw new SshKeyError("malformed", `key line says ${match[1]} but the key is ${type}`);
  }
  return { blob, comment: match[3] ?? "" };
}
