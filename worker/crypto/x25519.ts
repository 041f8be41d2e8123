// X25519 (RFC 7748) behind one interface: @noble/curves everywhere, WebCrypto's native X25519
// where the platform has it. server/ adds node:crypto. Every provider gives identical results
// and rejects an all-zero shared secret (a low-order public key), as WireGuard requires.

import { x25519 } from "@noble/curves/ed25519.js";
import { checkLength } from "./bytes.ts";

/** An X25519 implementation. Keys are raw 32-byte strings as in RFC 7748 and `wg`. */
export interface X25519Provider {
  /** A short name for logs and benchmarks. */
  readonly name: string;
  /** Whether this provider works here (checked once against RFC 7748 §6.1). */
  available(): Promise<boolean>;
  /** The public key of a private key. */
  publicKey(privateKey: Uint8Array): Promise<Uint8Array>;
  /** The shared secret; rejects when it is all zeros. */
  sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>;
}

/** Throws unless the shared secret has a non-zero byte (constant time over the bytes). */
export function rejectZeroSecret(secret: Uint8Array, provider: string): Uint8Array {
  let acc = 0;
  for (const byte of secret) acc |= byte;
  if (acc === 0)
    throw new Error(`X25519 (${provider}): shared secret is all zeros (low-order public key)`);
  return secret;
}

/** Checks the key arguments of a provider call. */
export function checkKeys(provider: string, privateKey: Uint8Array, publicKey?: Uint8Array): void {
  checkLength(`X25519 (${provider})`, "privateKey", privateKey, 32);
  if (publicKey !== undefined) checkLength(`X25519 (${provider})`, "publicKey", publicKey, 32);
}

// RFC 7748 §6.1: Alice's private key, Bob's public key and their shared secret.
const KAT_PRIVATE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const KAT_PUBLIC = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const KAT_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True when the provider reproduces RFC 7748 §6.1; false when it throws or disagrees. */
export async function passesKnownAnswer(provider: X25519Provider): Promise<boolean> {
  try {
    const shared = await provider.sharedSecret(fromHex(KAT_PRIVATE), fromHex(KAT_PUBLIC));
    return shared.length === 32 && shared.every((b, i) => b === fromHex(KAT_SHARED)[i]);
  } catch {
    return false;
  }
}

/** @noble/curves: portable JavaScript, audited; always available. */
export const nobleX25519: X25519Provider = {
  name: "noble",
  available: async () => true,
  async publicKey(privateKey) {
    checkKeys("noble", privateKey);
    return x25519.getPublicKey(privateKey);
  },
  async sharedSecret(privateKey, publicKey) {
    checkKeys("noble", privateKey, publicKey);
    let secret: Uint8Array;
    try {
      secret = x25519.getSharedSecret(privateKey, publicKey);
    } catch {
      // noble refuses the all-zero result itself; report it the same way as the others.
      secret = new Uint8Array(32);
    }
    return rejectZeroSecret(secret, "noble");
  },
};

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410): WebCrypto imports no raw private keys.
const PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");

function pkcs8(privateKey: Uint8Array): Uint8Array<ArrayBuffer> {
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX);
  der.set(privateKey, PKCS8_PREFIX.length);
  return der;
}

function subtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

let webCryptoWorks: Promise<boolean> | undefined;

/** WebCrypto's X25519 (browsers that ship it, Node's webcrypto): native speed. */
export const webCryptoX25519: X25519Provider = {
  name: "webcrypto",
  available() {
    webCryptoWorks ??= subtle() ? passesKnownAnswer(webCryptoX25519) : Promise.resolve(false);
    return webCryptoWorks;
  },
  async publicKey(privateKey) {
    checkKeys("webcrypto", privateKey);
    const key = await subtle()!.importKey("pkcs8", pkcs8(privateKey), { name: "X25519" }, true, [
      "deriveBits",
    ]);
    const jwk = await subtle()!.exportKey("jwk", key);
    return base64UrlDecode(jwk.x ?? "");
  },
  async sharedSecret(privateKey, publicKey) {
    checkKeys("webcrypto", privateKey, publicKey);
    const s = subtle()!;
    const priv = await s.importKey("pkcs8", pkcs8(privateKey), { name: "X25519" }, false, [
      "deriveBits",
    ]);
    const pub = await s.importKey("raw", new Uint8Array(publicKey), { name: "X25519" }, false, []);
    let bits: ArrayBuffer;
    try {
      bits = await s.deriveBits({ name: "X25519", public: pub }, priv, 256);
    } catch {
      // WebCrypto refuses the all-zero result with an OperationError.
      bits = new ArrayBuffer(32);
    }
    return rejectZeroSecret(new Uint8Array(bits), "webcrypto");
  },
};

function base64UrlDecode(text: string): Uint8Array {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(standard + "=".repeat((4 - (standard.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** The providers this module offers, fastest first. */
export function x25519Providers(): X25519Provider[] {
  return [webCryptoX25519, nobleX25519];
}

/** The first available provider of `preferred` (e.g. node:crypto from server/), then of ours. */
export async function selectX25519Provider(
  preferred: X25519Provider[] = [],
): Promise<X25519Provider> {
  for (const provider of [...preferred, ...x25519Providers()]) {
    if (await provider.available()) return provider;
  }
  return nobleX25519;
}
