// X25519 through node:crypto (OpenSSL): the fastest provider on the Node side (agent, relay).

import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import {
  checkKeys,
  passesKnownAnswer,
  rejectZeroSecret,
  type X25519Provider,
} from "../../worker/crypto/x25519.ts";

// DER prefixes for raw X25519 keys (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

function privateKeyObject(raw: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
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
    const spki = createPublicKey(privateKeyObject(privateKey)).export({
      format: "der",
      type: "spki",
    });
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
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
