// Types for the CommonJS bcrypt-pbkdf package (a port of OpenBSD bcrypt_pbkdf.c), which ships
// none: the bcrypt-based KDF of OpenSSH private key files (PROTOCOL.key, kdfname "bcrypt").

declare module "bcrypt-pbkdf" {
  /** The module object (CommonJS `module.exports`). */
  const bcryptPbkdf: {
    /**
     * Derives `keylen` bytes into `key` from the passphrase and salt with `rounds` rounds.
     * Returns 0 on success, -1 on bad arguments (empty passphrase or salt, rounds < 1, ...).
     */
    pbkdf(
      pass: Uint8Array,
      passlen: number,
      salt: Uint8Array,
      saltlen: number,
      key: Uint8Array,
      keylen: number,
      rounds: number,
    ): number;
  };
  export default bcryptPbkdf;
}
