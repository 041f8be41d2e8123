// worker/wireguard/keys.ts: the `wg` base64 form of keys (against Buffer and a strict reference
// pattern), key generation as `wg genkey`/`genpsk` make keys, and public keys against the wg(8)
// man page and every X25519 implementation we have.

import { x25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { nobleX25519, webCryptoX25519 } from "../../worker/crypto/x25519.ts";
import {
  generatePresharedKey,
  generatePrivateKey,
  KEY_BASE64_LENGTH,
  KEY_LENGTH,
  keyFromBase64,
  keyToBase64,
  publicKey,
} from "../../worker/wireguard/keys.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

// wg(8), EXAMPLES: `echo yAnz5TF+... | wg pubkey` prints this public key.
const MAN_PRIVATE = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const MAN_PUBLIC = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

// What wg's key_from_base64 accepts: 42 alphabet characters, one whose low two bits are zero
// (the bits past the 32nd byte), then '='.
const STRICT = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

describe("keyToBase64 / keyFromBase64", () => {
  it("round-trip 5,000 seeded keys and agree with Buffer's base64", () => {
    const rand = seededBytes(0x6b657973);
    for (let i = 0; i < 5000; i++) {
      const key = rand(32);
      const text = keyToBase64(key);
      expect(text).toBe(b64(key));
      expect(text).toHaveLength(KEY_BASE64_LENGTH);
      expect(keyFromBase64(text)).toEqual(key);
    }
  });

  it("encode and decode the extremes (all zeros, all ones)", () => {
    for (const fill of [0, 0xff]) {
      const key = new Uint8Array(KEY_LENGTH).fill(fill);
      expect(keyToBase64(key)).toBe(b64(key));
      expect(keyFromBase64(b64(key))).toEqual(key);
    }
  });

  it("accept surrounding whitespace (a line from a file or stdin)", () => {
    expect(keyToBase64(keyFromBase64(` \t${MAN_PRIVATE}\r\n`))).toBe(MAN_PRIVATE);
  });

  // The rule of wg's key_from_base64, as the STRICT pattern above states it; keys-wg.test.ts
  // checks the same against `wg pubkey` itself.
  it("accept exactly what the STRICT pattern (wg's key_from_base64 rule) does on 20,000 seeded near-keys", () => {
    const int = seededInts(0x77672121);
    const rand = seededBytes(0x77672122);
    const noise = "AZaz09+/=-_ .\u00e9\u0100\u2603";
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const chars = [...b64(rand(32))];
      // One to three edits: swap in a character from the alphabet's edges or outside it.
      for (let e = int(3); e >= 0; e--) chars[int(44)] = noise[int(noise.length)] ?? "A";
      const text = chars.join("");
      if (STRICT.test(text)) {
        accepted++;
        expect(keyFromBase64(text)).toEqual(new Uint8Array(Buffer.from(text, "base64")));
      } else {
        expect(() => keyFromBase64(text)).toThrow(TypeError);
      }
    }
    console.log(`keyFromBase64 against STRICT: 20000 near-keys, ${accepted} accepted`);
    expect(accepted).toBeGreaterThan(1000);
  });

  it("accept in the 43rd character only values whose trailing two bits are zero", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const ok = [...alphabet].filter((c) => {
      try {
        keyFromBase64(`${MAN_PRIVATE.slice(0, 42)}${c}=`);
        return true;
      } catch {
        return false;
      }
    });
    expect(ok.join("")).toBe("AEIMQUYcgkosw048");
  });

  it("say what is wrong, prefixed with what the key was, never quoting it", () => {
    const cases: [string, string][] = [
      [MAN_PRIVATE.slice(1), "43 characters, expected 44 (base64 of 32 bytes)"],
      [`${MAN_PRIVATE}A`, "45 characters, expected 44 (base64 of 32 bytes)"],
      ["  \n", "empty, expected 44 (base64 of 32 bytes)"],
      [`${MAN_PRIVATE.slice(0, 43)}A`, "character 44 must be '='"],
      [`${MAN_PRIVATE.slice(0, 7)}-${MAN_PRIVATE.slice(8)}`, "character 8 is not base64"],
      [`${MAN_PRIVATE.slice(0, 7)}_${MAN_PRIVATE.slice(8)}`, "base64url ('-', '_') is not"],
      [`${MAN_PRIVATE.slice(0, 40)}==A=`, "character 41 is not base64"],
      [`${MAN_PRIVATE.slice(0, 40)}==A=`, "'=' may only be the last character"],
      [`${MAN_PRIVATE.slice(0, 20)} ${MAN_PRIVATE.slice(21)}`, "character 21 is not base64"],
      [`${MAN_PRIVATE.slice(0, 42)}\u0141=`, "character 43 is not base64"],
      [`${MAN_PRIVATE.slice(0, 42)}l=`, "character 43 has trailing bits set"],
    ];
    for (const [text, problem] of cases) {
      let message = "";
      try {
        keyFromBase64(text, "PrivateKey");
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        message = (error as Error).message;
      }
      expect(message).toMatch(/^PrivateKey: not a WireGuard key: /);
      expect(message).toContain(problem);
      expect(message).not.toContain(MAN_PRIVATE.slice(10, 30));
    }
    expect(() => keyFromBase64("abc")).toThrow(/^key: not a WireGuard key: 3 characters/);
    expect(() => keyFromBase64(42 as unknown as string)).toThrow(/expected a string, got number/);
  });

  it("keyToBase64 rejects anything but 32 bytes", () => {
    expect(() => keyToBase64(new Uint8Array(31))).toThrow("a key is 32 bytes, got 31 bytes");
    expect(() => keyToBase64(new Uint8Array(33))).toThrow(TypeError);
    expect(() => keyToBase64("key" as unknown as Uint8Array)).toThrow("got string");
  });
});

describe("generatePrivateKey / generatePresharedKey", () => {
  it("private keys are 32 bytes clamped as `wg genkey` does, and differ", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const key = generatePrivateKey();
      expect(key).toHaveLength(32);
      expect(key[0]! & 7).toBe(0);
      expect(key[31]! & 0xc0).toBe(0x40);
      seen.add(keyToBase64(key));
    }
    expect(seen.size).toBe(500);
  });

  it("preshared keys are 32 random bytes, not clamped", () => {
    const keys = Array.from({ length: 500 }, () => generatePresharedKey());
    expect(keys.every((k) => k.length === 32)).toBe(true);
    expect(new Set(keys.map(keyToBase64)).size).toBe(500);
    // Unclamped: the bits clamping fixes take both values (each misses with chance 2^-500).
    expect(keys.some((k) => (k[0]! & 7) !== 0)).toBe(true);
    expect(keys.some((k) => (k[31]! & 0x80) !== 0)).toBe(true);
    expect(keys.some((k) => (k[31]! & 0x40) === 0)).toBe(true);
  });
});

describe("publicKey", () => {
  const manPrivate = keyFromBase64(MAN_PRIVATE);

  it("reproduces the wg(8) man page example with every provider and @noble/curves", async () => {
    expect(keyToBase64(await publicKey(manPrivate))).toBe(MAN_PUBLIC);
    expect(keyToBase64(await publicKey(manPrivate, nobleX25519))).toBe(MAN_PUBLIC);
    expect(keyToBase64(await publicKey(manPrivate, nodeX25519))).toBe(MAN_PUBLIC);
    if (await webCryptoX25519.available()) {
      expect(keyToBase64(await publicKey(manPrivate, webCryptoX25519))).toBe(MAN_PUBLIC);
    }
    expect(keyToBase64(x25519.getPublicKey(manPrivate))).toBe(MAN_PUBLIC);
  });

  it("agrees with node:crypto on generated and on unclamped keys (clamping is internal)", async () => {
    for (let i = 0; i < 50; i++) {
      const key = i % 2 === 0 ? generatePrivateKey() : generatePresharedKey();
      expect(await publicKey(key)).toEqual(await nodeX25519.publicKey(key));
    }
  });

  it("rejects a private key that is not 32 bytes", async () => {
    await expect(publicKey(new Uint8Array(31))).rejects.toThrow(/privateKey must be 32 bytes/);
  });
});
