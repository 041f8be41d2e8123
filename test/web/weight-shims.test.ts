// The page build's stand-in for tweetnacl (worker/crypto/tweetnacl-sha512.ts, aliased in
// vite.config.ts so bcrypt-pbkdf gets SHA-512 without all of tweetnacl) must hash exactly as
// tweetnacl does, and bcrypt-pbkdf over it must derive the same keys. 3,000 seeded inputs.

import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import shim, { lowlevel } from "../../worker/crypto/tweetnacl-sha512.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const require = createRequire(import.meta.url);
const nacl = require("tweetnacl") as {
  lowlevel: { crypto_hash(out: Uint8Array, m: Uint8Array, n: number): number };
};

describe("the tweetnacl SHA-512 stand-in", () => {
  it("matches tweetnacl's crypto_hash, including a prefix of a longer buffer (3,000 inputs)", () => {
    const bytes = seededBytes(0x5a512);
    const int = seededInts(0x5a513);
    expect(shim.lowlevel).toBe(lowlevel);
    for (let i = 0; i < 3_000; i++) {
      const m = bytes(int(i % 10 === 0 ? 5_000 : 300));
      const n = m.length === 0 ? 0 : int(m.length + 1);
      const ours = new Uint8Array(64);
      const theirs = new Uint8Array(64);
      expect(lowlevel.crypto_hash(ours, m, n)).toBe(0);
      expect(nacl.lowlevel.crypto_hash(theirs, m, n)).toBe(0);
      expect(ours).toEqual(theirs);
    }
  });

  it("bcrypt-pbkdf derives the same key over it", () => {
    // bcrypt-pbkdf reads tweetnacl once, at load: load it again with the stand-in in its place.
    const naclPath = require.resolve("tweetnacl");
    const bcryptPath = require.resolve("bcrypt-pbkdf");
    type Bcrypt = {
      pbkdf(
        p: Uint8Array,
        pl: number,
        s: Uint8Array,
        sl: number,
        o: Uint8Array,
        ol: number,
        r: number,
      ): number;
    };
    const real = require("bcrypt-pbkdf") as Bcrypt;
    const saved = require.cache[naclPath];
    delete require.cache[bcryptPath];
    require.cache[naclPath] = { ...saved!, exports: shim } as NodeJS.Module;
    try {
      const shimmed = require("bcrypt-pbkdf") as Bcrypt;
      expect(shimmed).not.toBe(real);
      const pass = new TextEncoder().encode("correct horse");
      const salt = seededBytes(7)(16);
      const a = new Uint8Array(48);
      const b = new Uint8Array(48);
      expect(real.pbkdf(pass, pass.length, salt, salt.length, a, a.length, 4)).toBe(0);
      expect(shimmed.pbkdf(pass, pass.length, salt, salt.length, b, b.length, 4)).toBe(0);
      expect(b).toEqual(a);
    } finally {
      require.cache[naclPath] = saved;
      delete require.cache[bcryptPath];
    }
  });
});
