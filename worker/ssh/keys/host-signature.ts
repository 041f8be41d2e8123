// Verifying SSH signatures: the server's exchange-hash signature in KEX (RFC 4253 §8) and any
// other "string algorithm ‖ string signature" blob (RFC 4253 §6.6). Algorithms:
//   ssh-ed25519                  RFC 8709 §6 (strict RFC 8032 decoding: no ZIP-215, no small order)
//   ecdsa-sha2-nistp256          RFC 5656 §3.1.2: string (mpint r ‖ mpint s), SHA-256
//   rsa-sha2-256 / rsa-sha2-512  RFC 8332 §3: RSASSA-PKCS1-v1_5 over an ssh-rsa key, via WebCrypto
// The SHA-1 "ssh-rsa" signature algorithm and RSA keys under 2048 bits are refused. Everything
// fails with an SshKeyError; runs in a Worker and in Node (globalThis.crypto.subtle only).

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { encodeBase64 } from "../fingerprint.ts";
import { SshReader } from "../wire.ts";
import { SshKeyError } from "./errors.ts";
import { asMalformed, type PublicKey, parsePublicKeyBlob, readAsciiName } from "./public-key.ts";

/** The signature algorithms each key type may sign with (RFC 8332 §3 for ssh-rsa keys). */
const ALGORITHMS_FOR_KEY: Readonly<Record<PublicKey["type"], readonly string[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ssh-rsa": ["rsa-sha2-256", "rsa-sha2-512"],
};

/** A parsed signature blob: the algorithm name and the algorithm-specific bytes. */
export interface SignatureBlob {
  readonly algorithm: string;
  readonly signature: Uint8Array;
}

/** Parses "string algorithm ‖ string signature" with no trailing bytes (RFC 4253 §6.6). */
export function parseSignatureBlob(blob: Uint8Array): SignatureBlob {
  return asMalformed("signature blob", () => {
    const reader = new SshReader(blob);
    const algorithm = readAsciiName(reader, "signature algorithm");
    const signature = reader.readString("signature");
    reader.expectEnd("signature blob");
    return { algorithm, signature };
  });
}

/** Standard base64 turned into unpadded base64url (RFC 7515 §2), for JWK fields. */
function base64url(bytes: Uint8Array): string {
  return encodeBase64(bytes, false).replace(/\+/g, "-").replace(/\//g, "_");
}

function badSignature(algorithm: string): SshKeyError {
  return new SshKeyError("bad-signature", `${algorithm} signature does not verify`);
}

/** The 64-byte r ‖ s of an RFC 5656 ECDSA signature, or undefined when r or s exceed 32 bytes. */
function ecdsaCompact(signature: Uint8Array): Uint8Array | undefined {
  const [r, s] = asMalformed("ecdsa signature", () => {
    const reader = new SshReader(signature);
    const pair = [reader.readMpint("ecdsa r"), reader.readMpint("ecdsa s")] as const;
    reader.expectEnd("ecdsa signature");
    return pair;
  });
  const out = new Uint8Array(64);
  for (const [i, mpint] of [r, s].entries()) {
    if (mpint.length > 0 && mpint[0]! >= 0x80) {
      throw new SshKeyError("malformed", "ecdsa signature has a negative r or s");
    }
    const magnitude = mpint[0] === 0 ? mpint.subarray(1) : mpint;
    if (magnitude.length > 32) return undefined;
    out.set(magnitude, i * 32 + 32 - magnitude.length);
  }
  return out;
}

async function verifyRsa(
  key: Extract<PublicKey, { type: "ssh-rsa" }>,
  algorithm: string,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  const modulusBytes = key.n.length;
  // RFC 8332 §3 says the signature is as long as the modulus; OpenSSH also accepts shorter
  // ones (leading zeros dropped) and pads them, so do the same.
  if (signature.length > modulusBytes || signature.length === 0) return false;
  const padded = new Uint8Array(modulusBytes);
  padded.set(signature, modulusBytes - signature.length);
  const hash = algorithm === "rsa-sha2-512" ? "SHA-512" : "SHA-256";
  let cryptoKey: CryptoKey;
  try {
    cryptoKey = await globalThis.crypto.subtle.importKey(
      "jwk",
      { kty: "RSA", n: base64url(key.n), e: base64url(key.e) },
      { name: "RSASSA-PKCS1-v1_5", hash },
      false,
      ["verify"],
    );
  } catch (e) {
    throw new SshKeyError("malformed", "RSA public key was refused by WebCrypto", { cause: e });
  }
  return globalThis.crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    cryptoKey,
    padded,
    new Uint8Array(data),
  );
}

/**
 * Verifies `signatureBlob` (string algorithm ‖ string signature) over `data` with the public key
 * `keyBlob`. The algorithm must suit the key type (rsa-sha2-256/512 for ssh-rsa keys) and, when
 * `allowedAlgorithm` is given (the negotiated host key algorithm), equal it. Resolves when the
 * signature is valid; otherwise rejects with an SshKeyError: "bad-signature" (does not verify),
 * "mismatch" (algorithm vs key or negotiation), "unsupported" (SHA-1 ssh-rsa, RSA under 2048
 * bits, other key types) or "malformed" (bad blobs, trailing bytes).
 */
export async function verifySignature(
  keyBlob: Uint8Array,
  signatureBlob: Uint8Array,
  data: Uint8Array,
  allowedAlgorithm?: string,
): Promise<void> {
  const key = parsePublicKeyBlob(keyBlob);
  const { algorithm, signature } = parseSignatureBlob(signatureBlob);
  const suitable = ALGORITHMS_FOR_KEY[key.type];
  if (key.type === "ssh-rsa" && algorithm === "ssh-rsa") {
    throw new SshKeyError(
      "unsupported",
      "ssh-rsa signatures (RSA with SHA-1) are refused as insecure: the server must offer rsa-sha2-256 or rsa-sha2-512",
    );
  }
  if (!suitable.includes(algorithm)) {
    throw new SshKeyError(
      "mismatch",
      `a ${algorithm} signature cannot come from a ${key.type} key (expected ${suitable.join(" or ")})`,
    );
  }
  if (allowedAlgorithm !== undefined && algorithm !== allowedAlgorithm) {
    throw new SshKeyError(
      "mismatch",
      `signature algorithm ${algorithm} is not the negotiated ${allowedAlgorithm}`,
    );
  }
  let ok: boolean;
  switch (key.type) {
    case "ssh-ed25519":
      if (signature.length !== 64) {
        throw new SshKeyError("malformed", `ssh-ed25519 signature is ${signature.length} bytes`);
      }
      ok = ed25519.verify(signature, data, key.key, { zip215: false });
      break;
    case "ecdsa-sha2-nistp256": {
      const compact = ecdsaCompact(signature);
      // OpenSSH (via OpenSSL) does not normalise s, so high-s signatures are valid here.
      ok =
        compact !== undefined &&
        p256.verify(compact, data, key.q, { prehash: true, lowS: false, format: "compact" });
      break;
    }
    case "ssh-rsa":
      ok = await verifyRsa(key, algorithm, signature, data);
      break;
  }
  if (!ok) throw badSignature(algorithm);
}
