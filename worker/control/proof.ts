// The map stream's hello proof (docs/control.md, "Identity"): keyed BLAKE2s-256 of the
// server's challenge under X25519(node private, server public). It is the relay hello's
// construction (DESIGN §4), so this file only adapts worker/relay/proof.ts to the base64 fields
// of `hello` and `login`; the server checks it with expectedControlProof and a constant-time
// comparison.

import type { CryptoCore } from "../crypto/core.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { expectedProof, nodeProof } from "../relay/proof.ts";
import { keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import type { HelloMessage } from "./messages.ts";

/** What a node computes for `login` from its key and the server's `hello`. */
export interface LoginProof {
  /** The node's public key (base64). */
  nodeKey: string;
  /** The proof (base64). */
  proof: string;
}

/**
 * The node's public key and proof for `hello`, from its X25519 private key. Throws when the
 * hello's key makes an all-zero shared secret (a low-order point: no proof can be made).
 */
export async function loginProof(
  core: CryptoCore,
  x25519: X25519Provider,
  nodePrivateKey: Uint8Array,
  hello: Pick<HelloMessage, "serverKey" | "challenge">,
): Promise<LoginProof> {
  const serverKey = keyFromBase64(hello.serverKey, "hello.serverKey");
  const challenge = keyFromBase64(hello.challenge, "hello.challenge");
  const proof = await nodeProof(core, x25519, nodePrivateKey, serverKey, challenge);
  const nodeKey = await x25519.publicKey(nodePrivateKey);
  return { nodeKey: keyToBase64(nodeKey), proof: keyToBase64(proof) };
}

/** The proof the server expects from the holder of `nodeKey` (base64) for `challenge`. */
export async function expectedControlProof(
  core: CryptoCore,
  x25519: X25519Provider,
  serverPrivateKey: Uint8Array,
  nodeKey: string,
  challenge: Uint8Array,
): Promise<Uint8Array> {
  const node = keyFromBase64(nodeKey, "login.nodeKey");
  return expectedProof(core, x25519, serverPrivateKey, node, challenge);
}
