// What bcrypt-pbkdf takes from tweetnacl (its one dependency): `lowlevel.crypto_hash`, SHA-512.
// The page's build (vite.config.ts) aliases "tweetnacl" to this file, so the Worker carries
// @noble/hashes' SHA-512 (already there for SSH's MACs) instead of all of tweetnacl, which is
// CommonJS and cannot be tree-shaken: 19.5 KB gzip for bcrypt-pbkdf and tweetnacl, 12 KB of it
// tweetnacl. Node (the CLI, the agent, the tests) keeps the real tweetnacl; test/web/weight-
// shims.test.ts checks this one against it.

import { sha512 } from "@noble/hashes/sha2.js";

/** tweetnacl's crypto_hash: SHA-512 of the first `n` bytes of `m` into `out`; 0 on success. */
function cryptoHash(out: Uint8Array, m: Uint8Array, n: number): number {
  out.set(sha512(m.subarray(0, n)));
  return 0;
}

export const lowlevel = { crypto_hash: cryptoHash };

export default { lowlevel };
