// X25519 through node:crypto (OpenSSL): the fastest provider on the Node side (agent, relay).

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import {
  checkKeys,
  passesKnownAnswer,
  rejectZeroSecret,
  type X25519Provider,
} from "../../worker/crypto/x25519.ts";

// Keys enter OpenSSL as JWK: Node builds those straight from the raw bytes, about 15 times
// faster than decoding PKCS#8/SPKI DER through OpenSSL 3's decoders (measured here: ~48k vs
// ~3.4k private keys per second), which would otherwise cost more than the DH itself.
function buildPrivateKeyObject(raw: Uint8Array): KeyObject {
  const d = Buffer.from(raw).toString("base64url");
  return createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: "" }, format: "jwk" });
}

// A long-lived key (the control server's hello key, an agent's node key) is passed as the same
// array on every call: building its KeyObject again each time was ~2% of the control server's
// time per join. Kept per array in a WeakMap (it goes when the caller drops the array, and key
// bytes never become a map key), with a copy of the bytes so an array rewritten in place gets
// a fresh KeyObject instead of a stale one.
const privateKeys = new WeakMap<Uint8Array, { bytes: Buffer; key: KeyObject }>();

function privateKeyObject(raw: Uint8Array): KeyObject {
  const cached = privateKeys.get(raw);
  if (cached?.bytes.equals(raw)) return cached.key;
  const key = buildPrivateKeyObject(raw);
  privateKeys.set(raw, { bytes: Buffer.from(raw), key });
  return key;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  const x = Buffer.from(raw).toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x }, format: "jwk" });
}

let works: Promise<boolean> | undefined;

/** node:crypto's X25519. */
export const nodeX25519: X25519Provider = {
  name: "node:crypto",
  available() {
    works ??= passesKnownAnswer(nodeX25519);
    return works;
  },
  async publicKey(privateKey) {
    checkKeys("node:crypto", privateKey);
    const jwk = createPublicKey(privateKeyObject(privateKey)).export({ format: "jwk" });
    return new Uint8Array(Buffer.from(jwk.x ?? "", "base64url"));
  },
  async sharedSecret(privateKey, publicKey) {
    checkKeys("node:crypto", privateKey, publicKey);
    let secret: Uint8Array;
    try {
      secret = new Uint8Array(
        diffieHellman({
          privateKey: privateKeyObject(privateKey),
          publicKey: publicKeyObject(publicKey),
        }),
      );
    } catch {
      // OpenSSL refuses the all-zero result; report it the same way as the other providers.
      secret = new Uint8Array(32);
    }
    return rejectZeroSecret(secret, "node:crypto");
  },
};
