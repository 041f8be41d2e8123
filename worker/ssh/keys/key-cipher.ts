// The KDF and ciphers that protect the private section of an OpenSSH private key file
// (OpenSSH PROTOCOL.key, "openssh-key-v1"): kdf "bcrypt" (bcrypt_pbkdf from OpenBSD, with the
// file's salt and rounds) derives key ‖ IV; the section is encrypted with AES-CTR (RFC 4344
// §4, NIST SP 800-38A), AES-CBC without padding (RFC 4253 §6.3), or AES-GCM (RFC 5647, NIST
// SP 800-38D) as aes*-gcm@openssh.com, whose 16-byte tag follows the encrypted section (no AAD).
// Cipher "none" leaves it in the clear. No Node built-ins: this runs in the Worker.
// Note: the rounds come from the file and are not capped (as in OpenSSH); a hostile file with
// huge rounds makes decryption take very long rather than fail.

import { cbc, ctr, gcm } from "@noble/ciphers/aes.js";
import bcryptPbkdf from "bcrypt-pbkdf";
import { SshKeyError } from "./errors.ts";

/** One cipher of the private section. */
export interface KeyCipher {
  /** Name as written in the file, e.g. "aes256-ctr". */
  readonly name: string;
  readonly keyLength: number;
  readonly ivLength: number;
  /** The section (and its padding) is a multiple of this. */
  readonly blockSize: number;
  /** Bytes of authentication tag after the section (16 for GCM, else 0). */
  readonly tagLength: number;
}

const CIPHERS: readonly KeyCipher[] = [
  { name: "none", keyLength: 0, ivLength: 0, blockSize: 8, tagLength: 0 },
  { name: "aes128-ctr", keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes192-ctr", keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes256-ctr", keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes128-cbc", keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes192-cbc", keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes256-cbc", keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0 },
  { name: "aes128-gcm@openssh.com", keyLength: 16, ivLength: 12, blockSize: 16, tagLength: 16 },
  { name: "aes256-gcm@openssh.com", keyLength: 32, ivLength: 12, blockSize: 16, tagLength: 16 },
];

/** The cipher named `name`; SshKeyError "unsupported" for anything else (e.g. chacha20). */
export function keyCipher(name: string): KeyCipher {
  const cipher = CIPHERS.find((c) => c.name === name);
  if (!cipher) {
    throw new SshKeyError(
      "unsupported",
      `private key cipher "${name}" is not supported (re-encrypt with ssh-keygen -p -Z aes256-ctr)`,
    );
  }
  return cipher;
}

/** Most bcrypt-pbkdf rounds we run (about 15 s in JavaScript; ssh-keygen's default is 16). */
export const MAX_BCRYPT_ROUNDS = 1024;

/**
 * bcrypt_pbkdf(passphrase, salt, rounds) → `length` bytes (the cipher's key then IV).
 * Throws SshKeyError "malformed" for an empty salt or zero rounds.
 */
export function bcryptKdf(
  passphrase: Uint8Array,
  salt: Uint8Array,
  rounds: number,
  length: number,
): Uint8Array {
  if (passphrase.length === 0) {
    throw new SshKeyError("passphrase-required", "an empty passphrase cannot decrypt this key");
  }
  if (salt.length === 0 || rounds < 1 || length < 1) {
    throw new SshKeyError(
      "malformed",
      `bad bcrypt parameters (salt ${salt.length} bytes, rounds ${rounds})`,
    );
  }
  if (rounds > MAX_BCRYPT_ROUNDS) {
    // ~14 ms per round in JavaScript: a hostile key file must not freeze the worker.
    throw new SshKeyError(
      "unsupported",
      `bcrypt with ${rounds} rounds would take minutes here (at most ${MAX_BCRYPT_ROUNDS}); re-encrypt the key with ssh-keygen -p -a 64`,
    );
  }
  const out = new Uint8Array(length);
  if (
    bcryptPbkdf.pbkdf(passphrase, passphrase.length, salt, salt.length, out, length, rounds) !== 0
  ) {
    throw new SshKeyError("malformed", "bcrypt_pbkdf refused its parameters");
  }
  return out;
}

/**
 * Decrypts the section `data` (for GCM followed by `tag`). A failing GCM tag is reported as
 * SshKeyError "bad-passphrase", as the check bytes would be for the other ciphers.
 */
export function decryptSection(
  cipher: KeyCipher,
  keyIv: Uint8Array,
  data: Uint8Array,
  tag: Uint8Array,
): Uint8Array {
  const key = keyIv.subarray(0, cipher.keyLength);
  const iv = keyIv.subarray(cipher.keyLength, cipher.keyLength + cipher.ivLength);
  if (cipher.name === "none") return data.slice();
  if (cipher.name.endsWith("-ctr")) return ctr(key, iv).decrypt(data);
  if (cipher.name.endsWith("-cbc")) return cbc(key, iv, { disablePadding: true }).decrypt(data);
  const sealed = new Uint8Array(data.length + tag.length);
  sealed.set(data);
  sealed.set(tag, data.length);
  try {
    return gcm(key, iv).decrypt(sealed);
  } catch (e) {
    throw new SshKeyError("bad-passphrase", "wrong passphrase (or corrupt key)", { cause: e });
  }
}

/** Encrypts the section `data` (a multiple of the block size); returns it and the tag. */
export function encryptSection(
  cipher: KeyCipher,
  keyIv: Uint8Array,
  data: Uint8Array,
): { data: Uint8Array; tag: Uint8Array } {
  const key = keyIv.subarray(0, cipher.keyLength);
  const iv = keyIv.subarray(cipher.keyLength, cipher.keyLength + cipher.ivLength);
  const none = new Uint8Array(0);
  if (cipher.name === "none") return { data: data.slice(), tag: none };
  if (cipher.name.endsWith("-ctr")) return { data: ctr(key, iv).encrypt(data), tag: none };
  if (cipher.name.endsWith("-cbc")) {
    return { data: cbc(key, iv, { disablePadding: true }).encrypt(data), tag: none };
  }
  const sealed = gcm(key, iv).encrypt(data);
  return { data: sealed.subarray(0, data.length), tag: sealed.subarray(data.length) };
}
