// The SSH transport's cipher and MAC tables, for the key exchange: how many key and IV
// bytes to derive for each name (RFC 4253 §7.2), which ciphers are AEAD and so take no
// separate MAC (OpenSSH's PROTOCOL §1.6, PROTOCOL.chacha20poly1305), our preference order,
// and a factory that turns a negotiated name pair and its keys into a PacketCipher.

import type { CryptoCore } from "../crypto/index.ts";
import { AesCtrHmac } from "./aes-ctr-hmac.ts";
import { AesGcmOpenssh } from "./aes-gcm.ts";
import { ChachaPolyOpenssh } from "./chacha-poly.ts";
import type { PacketCipher } from "./cipher.ts";

/** What the key exchange needs to know about a cipher. */
export interface CipherSpec {
  /** Bytes of key to derive (letter C/D of RFC 4253 §7.2). */
  readonly keyBytes: number;
  /** Bytes of IV to derive (letter A/B); 0 when the cipher takes none. */
  readonly ivBytes: number;
  /** Block size for padding. */
  readonly blockSize: number;
  /** True when the cipher authenticates itself, so no MAC is negotiated for it. */
  readonly aead: boolean;
}

/** What the key exchange needs to know about a MAC. */
export interface MacSpec {
  /** Bytes of MAC key to derive (letter E/F of RFC 4253 §7.2). */
  readonly keyBytes: number;
  /** Bytes of MAC after each packet. */
  readonly macBytes: number;
  /** True for encrypt-then-MAC (*-etm@openssh.com). */
  readonly etm: boolean;
}

/** Supported ciphers by SSH name. */
export const CIPHERS: Readonly<Record<string, CipherSpec>> = {
  "chacha20-poly1305@openssh.com": { keyBytes: 64, ivBytes: 0, blockSize: 8, aead: true },
  "aes256-gcm@openssh.com": { keyBytes: 32, ivBytes: 12, blockSize: 16, aead: true },
  "aes128-gcm@openssh.com": { keyBytes: 16, ivBytes: 12, blockSize: 16, aead: true },
  "aes128-ctr": { keyBytes: 16, ivBytes: 16, blockSize: 16, aead: false },
  "aes256-ctr": { keyBytes: 32, ivBytes: 16, blockSize: 16, aead: false },
};

/** Supported MACs by SSH name (only used with non-AEAD ciphers). */
export const MACS: Readonly<Record<string, MacSpec>> = {
  "hmac-sha2-256-etm@openssh.com": { keyBytes: 32, macBytes: 32, etm: true },
  "hmac-sha2-512-etm@openssh.com": { keyBytes: 64, macBytes: 64, etm: true },
  "hmac-sha2-256": { keyBytes: 32, macBytes: 32, etm: false },
  "hmac-sha2-512": { keyBytes: 64, macBytes: 64, etm: false },
};

/**
 * Our cipher preference, best first: AEADs before CTR (fewer ways to misuse), chacha20 first
 * because it is fastest here: synchronous JavaScript cannot reach AES hardware.
 */
export const DEFAULT_CIPHERS: readonly string[] = [
  "chacha20-poly1305@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-gcm@openssh.com",
  "aes256-ctr",
  "aes128-ctr",
];

/** Our MAC preference, best first: EtM, which authenticates before decrypting, first. */
export const DEFAULT_MACS: readonly string[] = [
  "hmac-sha2-256-etm@openssh.com",
  "hmac-sha2-512-etm@openssh.com",
  "hmac-sha2-256",
  "hmac-sha2-512",
];

/**
 * One direction's PacketCipher for the negotiated `cipherName` and `macName` (null for an
 * AEAD cipher), keyed with the material the key exchange derived. Throws RangeError on an
 * unknown name, a MAC given for an AEAD cipher or missing for a CTR one, or a wrong length.
 */
export function createPacketCipher(
  core: CryptoCore,
  cipherName: string,
  key: Uint8Array,
  iv: Uint8Array,
  macName: string | null,
  macKey: Uint8Array | null,
): PacketCipher {
  const spec = CIPHERS[cipherName];
  if (spec === undefined) throw new RangeError(`unknown cipher "${cipherName}"`);
  if (iv.length !== spec.ivBytes) {
    throw new RangeError(`${cipherName}: IV must be ${spec.ivBytes} bytes, got ${iv.length}`);
  }
  if (spec.aead) {
    if (macName !== null || macKey !== null) {
      throw new RangeError(`${cipherName} is an AEAD cipher and takes no MAC`);
    }
    if (cipherName === "chacha20-poly1305@openssh.com") return new ChachaPolyOpenssh(core, key);
    return new AesGcmOpenssh(cipherName, key, iv);
  }
  if (macName === null || macKey === null) {
    throw new RangeError(`${cipherName} needs a MAC and a MAC key`);
  }
  if (MACS[macName] === undefined) throw new RangeError(`unknown MAC "${macName}"`);
  return new AesCtrHmac(cipherName, key, iv, macName, macKey);
}
