// Passphrase protection of SSH private keys at rest (docs/security.md): the openssh-key-v1
// text is sealed with AES-256-GCM under a key derived from the user's passphrase with
// PBKDF2-SHA256 (WebCrypto, which Workers and Node both have). The record's id and public key
// are the AEAD's associated data, so a sealed blob cannot be moved onto another key's record.

/** A sealed private key as stored. Binary fields are base64. */
export interface SealedKey {
  kdf: "PBKDF2-SHA256";
  iterations: number;
  salt: string;
  cipher: "AES-256-GCM";
  iv: string;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: string;
}

/**
 * PBKDF2 iterations for new seals: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. About a
 * third of a second per unlock on a laptop; every guess of an attacker costs the same.
 */
export const SEAL_ITERATIONS = 600_000;
/** Bounds on a stored iteration count: a damaged record must not hang the Worker or be weak. */
const MIN_ITERATIONS = 100_000;
const MAX_ITERATIONS = 10_000_000;
/** Shorter passphrases are refused: PBKDF2 slows guessing, it cannot save a 4-letter word. */
export const MIN_PASSPHRASE_LENGTH = 8;
const MAX_SEALED_CHARS = 64 * 1024;

/** The passphrase did not open the key (or the record was altered). */
export class WrongPassphraseError extends Error {
  override readonly name = "WrongPassphraseError";
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

function fromBase64(text: string, field: string): Uint8Array<ArrayBuffer> {
  let raw: string;
  try {
    raw = atob(text);
  } catch {
    throw new Error(`sealed key: ${field} is not base64`);
  }
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Refuses an empty or short passphrase with the reason. */
export function checkNewPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new Error(`a passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
}

async function deriveKey(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(passphrase),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/**
 * Seals `plaintext` under `passphrase`, bound to `associated` (the record's identity). The
 * caller checks a passphrase the user makes up (checkNewPassphrase); an imported key file's
 * own passphrase is kept as it is.
 */
export async function sealText(
  plaintext: string,
  passphrase: string,
  associated: string,
  iterations = SEAL_ITERATIONS,
): Promise<SealedKey> {
  if (passphrase === "") throw new Error("the passphrase is empty");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await deriveKey(passphrase, salt, iterations);
  const data = new TextEncoder().encode(plaintext);
  try {
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(associated) },
      key,
      data,
    );
    return {
      kdf: "PBKDF2-SHA256",
      iterations,
      salt: toBase64(salt),
      cipher: "AES-256-GCM",
      iv: toBase64(iv),
      ciphertext: toBase64(new Uint8Array(sealed)),
    };
  } finally {
    data.fill(0);
  }
}

/**
 * Opens a sealed text. Throws WrongPassphraseError when the passphrase (or the associated
 * data) does not match, and a plain Error naming the field when the record is malformed.
 */
export async function openSealedText(
  sealed: SealedKey,
  passphrase: string,
  associated: string,
): Promise<string> {
  if (sealed.kdf !== "PBKDF2-SHA256" || sealed.cipher !== "AES-256-GCM") {
    throw new Error(`sealed key: unknown scheme ${String(sealed.kdf)}/${String(sealed.cipher)}`);
  }
  if (
    !Number.isInteger(sealed.iterations) ||
    sealed.iterations < MIN_ITERATIONS ||
    sealed.iterations > MAX_ITERATIONS
  ) {
    throw new Error(`sealed key: iteration count ${String(sealed.iterations)} out of bounds`);
  }
  if (typeof sealed.ciphertext !== "string" || sealed.ciphertext.length > MAX_SEALED_CHARS) {
    throw new Error("sealed key: ciphertext missing or too long");
  }
  const salt = fromBase64(sealed.salt, "salt");
  const iv = fromBase64(sealed.iv, "iv");
  const ciphertext = fromBase64(sealed.ciphertext, "ciphertext");
  if (salt.length !== 16 || iv.length !== 12 || ciphertext.length < 16) {
    throw new Error("sealed key: salt, iv or ciphertext has the wrong length");
  }
  const key = await deriveKey(passphrase, salt, sealed.iterations);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(associated) },
      key,
      ciphertext,
    );
  } catch {
    throw new WrongPassphraseError("wrong passphrase");
  }
  const bytes = new Uint8Array(plain);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } finally {
    bytes.fill(0);
  }
}
