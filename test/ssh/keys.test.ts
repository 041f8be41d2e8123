// User keys and OpenSSH private key files (worker/ssh/keys): interop with the real ssh-keygen
// both ways (its keys — plain, bcrypt + aes256-ctr/aes128-ctr/aes256-cbc/aes256-gcm — parse to
// the .pub's blob; ours are read by `ssh-keygen -y`, fingerprinted by `ssh-keygen -l`, and our
// signatures pass `ssh-keygen -Y check-novalidate`), passphrase and refusal cases, signatures
// checked by node:crypto as an independent verifier, and a seeded fuzz of mutated key files.

import { execFileSync } from "node:child_process";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64, fingerprintSha256 } from "../../worker/ssh/fingerprint.ts";
import {
  authorizedKeysLine,
  exportOpensshPrivateKey,
  generateUserKey,
  parseOpensshPrivateKey,
  parsePublicKeyLine,
  parseSignatureBlob,
  SshKeyError,
  type UserKey,
  userKeyFromEd25519Seed,
  userKeyFromP256Scalar,
  verifySignature,
} from "../../worker/ssh/keys/index.ts";
import { SshProtocolError, SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const KEYGEN = "/usr/bin/ssh-keygen";
const ARMOR_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const ARMOR_END = "-----END OPENSSH PRIVATE KEY-----";

/** The SshKeyError `fn` throws (fails the test when it throws nothing or something else). */
function keyErrorOf(fn: () => unknown): SshKeyError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SshKeyError);
    return e as SshKeyError;
  }
  throw new Error("expected an SshKeyError, nothing was thrown");
}

/** The binary body of an armored OpenSSH private key. */
function dearmor(text: string): Uint8Array {
  const lines = text.trim().split("\n");
  const body = decodeBase64(lines.slice(1, -1).join(""));
  if (!body) throw new Error("bad base64 in test key");
  return body;
}

/** Armors a binary key body the way exportOpensshPrivateKey does. */
function armor(body: Uint8Array): string {
  const b64 = encodeBase64(body);
  const lines = [ARMOR_BEGIN];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return [...lines, ARMOR_END, ""].join("\n");
}

/** The header fields of a key file: cipher, kdf, and the bcrypt rounds when there are any. */
function header(text: string): { cipher: string; kdf: string; rounds?: number } {
  const r = new SshReader(dearmor(text));
  r.readRaw(15);
  const cipher = new TextDecoder().decode(r.readString());
  const kdf = new TextDecoder().decode(r.readString());
  const options = new SshReader(r.readString());
  if (kdf !== "bcrypt") return { cipher, kdf };
  options.readString();
  return { cipher, kdf, rounds: options.readUint32() };
}

/** A JWK node:crypto can import for a UserKey's public blob (an independent verifier). */
function nodePublicKey(key: UserKey) {
  const r = new SshReader(key.publicBlob);
  const type = new TextDecoder().decode(r.readString());
  const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  if (type === "ssh-ed25519") {
    return createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: b64url(r.readString()) },
      format: "jwk",
    });
  }
  r.readString();
  const q = r.readString();
  return createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33)) },
    format: "jwk",
  });
}

/** node:crypto's verdict on a UserKey signature blob over `data`. */
function nodeVerifies(key: UserKey, data: Uint8Array, blob: Uint8Array): boolean {
  const { algorithm, signature } = parseSignatureBlob(blob);
  const pub = nodePublicKey(key);
  if (algorithm === "ssh-ed25519") return nodeVerify(null, data, pub, signature);
  const r = new SshReader(signature);
  const rs = new Uint8Array(64);
  for (const half of [0, 1]) {
    let m = r.readMpint();
    if (m[0] === 0) m = m.subarray(1);
    rs.set(m, half * 32 + 32 - m.length);
  }
  return nodeVerify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, rs);
}

describe("UserKey", () => {
  const seeded = seededBytes(0x5eed_0801);
  const data = new TextEncoder().encode("session id ‖ SSH_MSG_USERAUTH_REQUEST ...");

  for (const type of ["ssh-ed25519", "ecdsa-sha2-nistp256"] as const) {
    it(`${type}: sign verifies with verifySignature and with node:crypto`, async () => {
      const key = generateUserKey(type, "me@corridor");
      expect(key.type).toBe(type);
      const blob = key.sign(data);
      expect(parseSignatureBlob(blob).algorithm).toBe(type);
      await verifySignature(key.publicBlob, blob, data, type);
      expect(nodeVerifies(key, data, blob)).toBe(true);
      expect(nodeVerifies(key, new TextEncoder().encode("other"), blob)).toBe(false);
      // 20 more messages of assorted lengths, each verified by both.
      for (let i = 0; i < 20; i++) {
        const msg = seeded(i * 7);
        const sig = key.sign(msg);
        await verifySignature(key.publicBlob, sig, msg);
        expect(nodeVerifies(key, msg, sig)).toBe(true);
      }
    });
  }

  it("authorizedKeysLine is type, base64 blob, comment; comments stay on one line", () => {
    const key = userKeyFromEd25519Seed(seeded(32), "a\nb");
    const line = authorizedKeysLine(key);
    expect(line).toBe(`ssh-ed25519 ${encodeBase64(key.publicBlob)} a b`);
    expect(parsePublicKeyLine(line).blob).toEqual(key.publicBlob);
    expect(authorizedKeysLine(userKeyFromEd25519Seed(seeded(32)))).not.toMatch(/ $/);
  });

  it("does not expose the private key on the object", () => {
    const key = generateUserKey("ssh-ed25519");
    expect(Object.keys(key).sort()).toEqual(["comment", "publicBlob", "sign", "type"]);
    expect(Object.isFrozen(key)).toBe(true);
  });

  it("rejects bad private scalars", () => {
    expect(() => userKeyFromP256Scalar(new Uint8Array(32))).toThrow(RangeError);
    expect(() => userKeyFromP256Scalar(new Uint8Array(32).fill(0xff))).toThrow(RangeError);
    expect(() => userKeyFromEd25519Seed(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe("OpenSSH private key files (no ssh-keygen needed)", () => {
  const seeded = seededBytes(0x5eed_0802);

  for (const make of [
    () => userKeyFromEd25519Seed(seeded(32), "ed comment"),
    () => userKeyFromP256Scalar(seeded(32), "ec comment"),
  ]) {
    it(`round-trips plain and encrypted: ${make().type}`, () => {
      const key = make();
      const plain = exportOpensshPrivateKey(key);
      expect(header(plain)).toEqual({ cipher: "none", kdf: "none" });
      expect(plain.split("\n").every((l) => l.length <= 70)).toBe(true);
      const back = parseOpensshPrivateKey(plain);
      expect(back.publicBlob).toEqual(key.publicBlob);
      expect(back.comment).toBe(key.comment);
      const msg = seeded(100);
      // Both schemes are deterministic (RFC 8032, RFC 6979): same key, same signature.
      expect(back.sign(msg)).toEqual(key.sign(msg));

      const locked = exportOpensshPrivateKey(back, "correct horse", 2);
      expect(header(locked)).toEqual({ cipher: "aes256-ctr", kdf: "bcrypt", rounds: 2 });
      expect(parseOpensshPrivateKey(locked, "correct horse").publicBlob).toEqual(key.publicBlob);
      expect(keyErrorOf(() => parseOpensshPrivateKey(locked)).code).toBe("passphrase-required");
      expect(keyErrorOf(() => parseOpensshPrivateKey(locked, "")).code).toBe("passphrase-required");
      const wrong = keyErrorOf(() => parseOpensshPrivateKey(locked, "wrong horse"));
      expect(wrong.code).toBe("bad-passphrase");
      expect(wrong.message).toBe("wrong passphrase (or corrupt key)");

      // A key file asking for 2^32-1 bcrypt rounds is refused at once, not run for days.
      const body = dearmor(locked);
      const r = new SshReader(body);
      r.readRaw(15); // "openssh-key-v1\0"
      r.readString(); // cipher
      r.readString(); // kdf
      r.readUint32(); // kdfoptions length
      r.readString(); // salt
      const roundsAt = r.offset;
      expect(new DataView(body.buffer, body.byteOffset).getUint32(roundsAt)).toBe(2);
      new DataView(body.buffer, body.byteOffset).setUint32(roundsAt, 0xffffffff);
      const slow = keyErrorOf(() => parseOpensshPrivateKey(armor(body), "correct horse"));
      expect(slow.code).toBe("unsupported");
      expect(slow.message).toMatch(/4294967295 rounds.*at most 1024/);
    });
  }

  it("refuses old PEM formats, public keys and garbage with a clear message", () => {
    for (const label of ["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "DSA PRIVATE KEY"]) {
      const e = keyErrorOf(() =>
        parseOpensshPrivateKey(`-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`),
      );
      expect(e.code).toBe("unsupported");
      expect(e.message).toContain(label);
      expect(e.message).toContain("ssh-keygen -p");
    }
    const pub = authorizedKeysLine(generateUserKey("ssh-ed25519"));
    expect(keyErrorOf(() => parseOpensshPrivateKey(pub)).message).toContain("public key");
    expect(keyErrorOf(() => parseOpensshPrivateKey("hello")).code).toBe("malformed");
    const truncated = exportOpensshPrivateKey(generateUserKey("ssh-ed25519")).split("\n");
    expect(keyErrorOf(() => parseOpensshPrivateKey(truncated.slice(0, 3).join("\n"))).code).toBe(
      "malformed",
    );
  });

  it("checks check bytes, padding, and that the public key is the private key's", () => {
    const key = userKeyFromEd25519Seed(seeded(32), "c");
    const body = dearmor(exportOpensshPrivateKey(key));
    // Unencrypted layout: 15 magic, 8 "none", 8 "none", 4 options, 4 count, 4+51 public key,
    // 4 section length, then the section: checkint at 98, checkint at 102, ..., padding at end.
    const sectionAt = 15 + 8 + 8 + 4 + 4 + 4 + 51 + 4;
    const check = body.slice();
    check[sectionAt + 7]! ^= 1;
    expect(keyErrorOf(() => parseOpensshPrivateKey(armor(check))).message).toContain("check");
    const pad = body.slice();
    pad[pad.length - 1]! ^= 0x40;
    expect(keyErrorOf(() => parseOpensshPrivateKey(armor(pad))).message).toContain("padding");

    // Someone else's public key in the clear part, ours in the private section: refused.
    const other = userKeyFromEd25519Seed(seeded(32), "c");
    const swapped = body.slice();
    swapped.set(other.publicBlob, 15 + 8 + 8 + 4 + 4 + 4);
    expect(keyErrorOf(() => parseOpensshPrivateKey(armor(swapped))).message).toContain("match");
    // Both public copies replaced consistently: the derived public key gives it away.
    const both = swapped.slice();
    const pubAt = sectionAt + 8 + 4 + 11 + 4;
    both.set(other.publicBlob.subarray(19), pubAt);
    both.set(other.publicBlob.subarray(19), pubAt + 32 + 4 + 32);
    expect(keyErrorOf(() => parseOpensshPrivateKey(armor(both))).message).toContain("match");
  });

  it("refuses RSA and DSA key files naming the type and suggesting ed25519", () => {
    for (const type of ["ssh-rsa", "ssh-dss"]) {
      const pub = new SshWriter().writeString(type).writeMpintBigInt(65537n).writeMpintBigInt(3n);
      const body = new SshWriter()
        .writeRaw(new TextEncoder().encode("openssh-key-v1\0"))
        .writeString("none")
        .writeString("none")
        .writeString("")
        .writeUint32(1)
        .writeString(pub.toBytes())
        .writeString(new Uint8Array(8))
        .toBytes();
      const e = keyErrorOf(() => parseOpensshPrivateKey(armor(body)));
      expect(e.code).toBe("unsupported");
      expect(e.message).toContain(type);
      expect(e.message).toContain("ed25519");
    }
  });
});

/** A mutation of `body`: bit flips, byte sets, truncation, insertion, deletion, uint32 overwrite. */
function mutate(
  body: Uint8Array,
  int: (n: number) => number,
  noise: (n: number) => Uint8Array,
  from = 0,
) {
  const out = [...body];
  const edits = 1 + int(3);
  const at = () => from + int(Math.max(1, out.length - from));
  for (let e = 0; e < edits; e++) {
    const op = int(6);
    if (op === 0) {
      const i = at();
      out[i] = (out[i] ?? 0) ^ (1 << int(8));
    } else if (op === 1) out[at()] = [0, 0xff, 0x80, 1][int(4)]!;
    else if (op === 2) out.length = at();
    else if (op === 3) out.splice(at(), 0, ...noise(1 + int(8)));
    else if (op === 4) out.splice(at(), 1 + int(16));
    else {
      const v = [0, 1, 0x7fffffff, 0xffffffff, 15, 16, 32, 64][int(8)]!;
      out.splice(at(), 4, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    }
  }
  return new Uint8Array(out);
}

describe("OpenSSH private key fuzz", () => {
  // 11,200 inputs in all: 4,000 + 4,000 mutated unencrypted keys (ed25519, ecdsa), 1,500 text
  // mutations of the armor, 1,500 mutated encrypted keys without a passphrase, and 200 mutated
  // encrypted keys (bcrypt rounds 1) with the passphrase, mutated only after the kdf options so
  // the rounds stay 1. Only SshKeyError or SshProtocolError may be thrown.
  it("11,200 mutated key files throw only SshKeyError / SshProtocolError", () => {
    const int = seededInts(0x5eed_0803);
    const noise = seededBytes(0x5eed_0804);
    const ed = userKeyFromEd25519Seed(noise(32), "fuzz ed25519");
    const ec = userKeyFromP256Scalar(noise(32), "fuzz ecdsa");
    const plainEd = dearmor(exportOpensshPrivateKey(ed));
    const plainEc = dearmor(exportOpensshPrivateKey(ec));
    const lockedText = exportOpensshPrivateKey(ed, "pw", 1);
    const locked = dearmor(lockedText);
    const kdfEnd = 15 + (4 + 10) + (4 + 6) + (4 + 4 + 16 + 4);
    const counts = { parsed: 0, keyError: 0, protocolError: 0, total: 0 };
    const codes = new Map<string, number>();
    const attempt = (text: string, passphrase?: string) => {
      counts.total++;
      try {
        parseOpensshPrivateKey(text, passphrase);
        counts.parsed++;
      } catch (e) {
        if (e instanceof SshKeyError) {
          counts.keyError++;
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        } else if (e instanceof SshProtocolError) counts.protocolError++;
        else throw new Error(`input ${counts.total} threw ${String(e)}\n${text}`);
      }
    };
    for (let i = 0; i < 4_000; i++) attempt(armor(mutate(plainEd, int, noise)));
    for (let i = 0; i < 4_000; i++) attempt(armor(mutate(plainEc, int, noise)));
    const textBase = exportOpensshPrivateKey(ec);
    const alphabet = "-=\n\r \tA/+BEGINOPENSSHEND";
    for (let i = 0; i < 1_500; i++) {
      const chars = [...textBase];
      for (let e = 1 + int(4); e > 0; e--) {
        const at = int(chars.length + 1);
        const op = int(3);
        if (op === 0) chars.splice(at, 1 + int(40));
        else if (op === 1) chars.splice(at, 0, alphabet[int(alphabet.length)]!);
        else chars[at] = alphabet[int(alphabet.length)]!;
      }
      attempt(chars.join(""));
    }
    for (let i = 0; i < 1_500; i++) attempt(armor(mutate(locked, int, noise)));
    for (let i = 0; i < 200; i++) attempt(armor(mutate(locked, int, noise, kdfEnd)), "pw");
    expect(counts.total).toBe(11_200);
    expect(counts.keyError + counts.protocolError + counts.parsed).toBe(counts.total);
    // Sanity: most mutations are refused, each kind of refusal is reached (the fuzz gets past
    // the header), and the unmutated inputs still parse.
    expect(counts.keyError).toBeGreaterThan(counts.total * 0.8);
    for (const code of ["malformed", "unsupported", "passphrase-required", "bad-passphrase"]) {
      expect(codes.get(code) ?? 0).toBeGreaterThan(0);
    }
    expect(parseOpensshPrivateKey(lockedText, "pw").publicBlob).toEqual(ed.publicBlob);
  });
});

const keygen = prereq(executable(KEYGEN));

describeWithPrereq(keygen, "OpenSSH private keys against ssh-keygen", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-keys-"));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]) => execFileSync(KEYGEN, args, { encoding: "utf8" });
  /** Makes a key with ssh-keygen; returns its private text and .pub line. */
  const make = (name: string, args: string[]) => {
    const file = join(dir, name);
    run("-q", ...args, "-f", file);
    return { text: readFileSync(file, "utf8"), pub: readFileSync(`${file}.pub`, "utf8").trim() };
  };

  for (const [type, bits] of [
    ["ed25519", []],
    ["ecdsa", ["-b", "256"]],
  ] as const) {
    it(`${type}: unencrypted and default-encrypted (bcrypt + aes256-ctr) keys parse`, () => {
      const plain = make(`${type}-plain`, ["-t", type, ...bits, "-N", "", "-C", `${type} plain`]);
      const key = parseOpensshPrivateKey(plain.text);
      expect(key.publicBlob).toEqual(parsePublicKeyLine(plain.pub).blob);
      expect(key.comment).toBe(`${type} plain`);
      expect(authorizedKeysLine(key)).toBe(plain.pub);

      const enc = make(`${type}-enc`, ["-t", type, ...bits, "-N", "pass", "-C", "enc"]);
      expect(header(enc.text)).toEqual({ cipher: "aes256-ctr", kdf: "bcrypt", rounds: 16 });
      const dec = parseOpensshPrivateKey(enc.text, "pass");
      expect(dec.publicBlob).toEqual(parsePublicKeyLine(enc.pub).blob);
      expect(keyErrorOf(() => parseOpensshPrivateKey(enc.text)).code).toBe("passphrase-required");
      expect(keyErrorOf(() => parseOpensshPrivateKey(enc.text, "Pass")).code).toBe(
        "bad-passphrase",
      );
    });
  }

  for (const [cipher, type] of [
    ["aes256-gcm@openssh.com", "ed25519"],
    ["aes256-gcm@openssh.com", "ecdsa"],
    ["aes256-cbc", "ed25519"],
    ["aes256-cbc", "ecdsa"],
    ["aes128-ctr", "ed25519"],
  ] as const) {
    it(`${type} encrypted with -Z ${cipher} parses; a wrong passphrase is bad-passphrase`, () => {
      const k = make(`${type}-${cipher}`, ["-t", type, "-N", "pw", "-a", "2", "-Z", cipher]);
      expect(header(k.text).cipher).toBe(cipher);
      expect(parseOpensshPrivateKey(k.text, "pw").publicBlob).toEqual(
        parsePublicKeyLine(k.pub).blob,
      );
      expect(keyErrorOf(() => parseOpensshPrivateKey(k.text, "pW")).code).toBe("bad-passphrase");
    });
  }

  for (const type of ["ssh-ed25519", "ecdsa-sha2-nistp256"] as const) {
    it(`${type}: our exported keys are read by ssh-keygen -y and fingerprinted by -l`, () => {
      const key = generateUserKey(type, "corridor test");
      const line = authorizedKeysLine(key);
      const plainFile = join(dir, `ours-${type}`);
      writeFileSync(plainFile, exportOpensshPrivateKey(key), { mode: 0o600 });
      const encFile = join(dir, `ours-${type}-enc`);
      writeFileSync(encFile, exportOpensshPrivateKey(key, "s3cret"), { mode: 0o600 });
      const keyPart = line.split(" ").slice(0, 2).join(" ");
      expect(run("-y", "-f", plainFile).trim().split(" ").slice(0, 2).join(" ")).toBe(keyPart);
      expect(run("-y", "-f", encFile, "-P", "s3cret").trim().split(" ").slice(0, 2).join(" ")).toBe(
        keyPart,
      );
      writeFileSync(`${plainFile}.pub`, `${line}\n`);
      const [bitsField, fingerprint] = run("-l", "-f", `${plainFile}.pub`).split(" ");
      expect(bitsField).toBe("256");
      expect(fingerprint).toBe(fingerprintSha256(key.publicBlob));
      // And a key parsed from ssh-keygen's own file exports to something ssh-keygen reads.
      const theirs = make(`reexport-${type}`, [
        "-t",
        type === "ssh-ed25519" ? "ed25519" : "ecdsa",
        "-N",
        "x",
        "-a",
        "2",
      ]);
      const reFile = join(dir, `reexport-${type}-ours`);
      writeFileSync(
        reFile,
        exportOpensshPrivateKey(parseOpensshPrivateKey(theirs.text, "x"), "y", 2),
        {
          mode: 0o600,
        },
      );
      expect(run("-y", "-f", reFile, "-P", "y").trim()).toBe(theirs.pub);
    });

    it(`${type}: our signatures pass ssh-keygen -Y check-novalidate (SSHSIG)`, () => {
      const key = generateUserKey(type);
      const message = new TextEncoder().encode("message signed by corridor\n");
      const namespace = "corridor-test";
      const digest = createHash("sha512").update(message).digest();
      const signed = new SshWriter()
        .writeRaw(new TextEncoder().encode("SSHSIG"))
        .writeString(namespace)
        .writeString("")
        .writeString("sha512")
        .writeString(digest)
        .toBytes();
      const sshsig = new SshWriter()
        .writeRaw(new TextEncoder().encode("SSHSIG"))
        .writeUint32(1)
        .writeString(key.publicBlob)
        .writeString(namespace)
        .writeString("")
        .writeString("sha512")
        .writeString(key.sign(signed))
        .toBytes();
      const b64 = encodeBase64(sshsig)
        .match(/.{1,76}/g)!
        .join("\n");
      const sigFile = join(dir, `sig-${type}`);
      writeFileSync(
        sigFile,
        `-----BEGIN SSH SIGNATURE-----\n${b64}\n-----END SSH SIGNATURE-----\n`,
      );
      const out = execFileSync(KEYGEN, ["-Y", "check-novalidate", "-n", namespace, "-s", sigFile], {
        input: message,
        encoding: "utf8",
      });
      expect(out).toContain("Good");
      expect(() =>
        execFileSync(KEYGEN, ["-Y", "check-novalidate", "-n", namespace, "-s", sigFile], {
          input: "tampered",
          stdio: "pipe",
        }),
      ).toThrow();
    });
  }

  it("refuses ssh-keygen's RSA keys and old PEM files with a message", () => {
    const rsa = make("rsa", ["-t", "rsa", "-b", "2048", "-N", ""]);
    const e = keyErrorOf(() => parseOpensshPrivateKey(rsa.text));
    expect(e.code).toBe("unsupported");
    expect(e.message).toContain("ssh-rsa");
    expect(e.message).toContain("ed25519");
    for (const [type, label] of [
      ["rsa", "RSA PRIVATE KEY"],
      ["ecdsa", "EC PRIVATE KEY"],
    ] as const) {
      const pem = make(`${type}-pem`, ["-t", type, "-m", "PEM", "-N", ""]);
      expect(pem.text).toContain(`BEGIN ${label}`);
      const err = keyErrorOf(() => parseOpensshPrivateKey(pem.text));
      expect(err.code).toBe("unsupported");
      expect(err.message).toContain(label);
    }
  });
});
