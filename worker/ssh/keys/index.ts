// Public API of worker/ssh/keys: SSH public keys and signatures (RFC 4253 §6.6, RFC 5656,
// RFC 8332, RFC 8709), user keys that sign for public key authentication (RFC 4252 §7), and
// OpenSSH private key files (OpenSSH PROTOCOL.key). Runs in the Worker and in Node.

export { SshKeyError, type SshKeyErrorCode } from "./errors.ts";
export { parseSignatureBlob, type SignatureBlob, verifySignature } from "./host-signature.ts";
export { exportOpensshPrivateKey, parseOpensshPrivateKey } from "./openssh-private-key.ts";
export {
  ed25519PublicBlob,
  type PublicKey,
  type PublicKeyType,
  p256PublicBlob,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  publicKeyLine,
  RSA_MAX_BITS,
  RSA_MIN_BITS,
} from "./public-key.ts";
export {
  authorizedKeysLine,
  generateUserKey,
  type UserKey,
  type UserKeyType,
  userKeyFromEd25519Seed,
  userKeyFromP256Scalar,
} from "./user-key.ts";
