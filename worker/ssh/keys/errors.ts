// The one error type of worker/ssh/keys: key files that do not parse or decrypt, public key
// blobs and signature blobs (RFC 4253 §6.6) that are malformed, unsupported or do not verify.
// A `code` lets callers (the UI, the SSH transport) react without matching on message text;
// the message is written for a person and says what to do where there is something to do.

/** What went wrong, for callers that branch on it. */
export type SshKeyErrorCode =
  /** A signature that is well-formed but does not verify. */
  | "bad-signature"
  /** A key type, algorithm, cipher, KDF or key size this client refuses. */
  | "unsupported"
  /** Bytes or text that do not follow the format. */
  | "malformed"
  /** A signature algorithm that does not fit the key or the negotiated algorithm. */
  | "mismatch"
  /** An encrypted private key whose check bytes do not match after decryption. */
  | "bad-passphrase"
  /** An encrypted private key and no passphrase. */
  | "passphrase-required";

/** A key or signature problem; `code` says which kind. */
export class SshKeyError extends Error {
  override readonly name = "SshKeyError";

  /** `cause`, when given, is the lower-level error (e.g. an SshProtocolError). */
  constructor(
    readonly code: SshKeyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
