// Proof of key possession in the relay hello (DESIGN §4): keyed BLAKE2s-256 of the relay's
// challenge, keyed with X25519(node private, relay public). The relay computes the same with
// its own private key; it learns nothing it could decrypt traffic with.

import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";

/** The proof from a node's private key and the relay's public key and challenge. */
export async function nodeProof(
  core: CryptoCore,
  x25519: X25519Provider,
  nodePrivateKey: Uint8Array,
  relayPublicKey: Uint8Array,
  challenge: Uint8Array,
): Promise<Uint8Array> {
  const shared = await x25519.sharedSecret(nodePrivateKey, relayPublicKey);
  try {
    return core.blake2s(challenge, 32, shared);
  } finally {
    shared.fill(0);
  }
}

/** The proof the relay expects from the holder of `nodePublicKey`. */
export async function expectedProof(
  core: CryptoCore,
  x25519: X25519Provider,
  relayPrivateKey: Uint8Array,
  nodePublicKey: Uint8Array,
  challenge: Uint8Array,
): Promise<Uint8Array> {
  return nodeProof(core, x25519, relayPrivateKey, nodePublicKey, challenge);
}
