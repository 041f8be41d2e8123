// SSH signature verification (worker/ssh/keys/host-signature.ts) against real signers: SSHSIG
// signatures made by `ssh-keygen -Y sign` (OpenSSH PROTOCOL.sshsig) for ed25519, ecdsa P-256 and
// RSA 3072 (rsa-sha2-512), RSA signatures made by node:crypto, every one-bit change rejected,
// algorithm mismatches, refused weak RSA, strict Ed25519 rules, and a seeded fuzz of mutated
// key blobs, signature blobs and data.

import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, type KeyObject, sign as nodeSign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64 } from "../../worker/ssh/fingerprint.ts";
import {
  ed25519PublicBlob,
  parsePublicKeyLine,
  parseSignatureBlob,
  SshKeyError,
  userKeyFromEd25519Seed,
  userKeyFromP256Scalar,
  verifySignature,
} from "../../worker/ssh/keys/index.ts";
import { SshProtocolError, SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const KEYGEN = "/usr/bin/ssh-keygen";
const UTF8 = new TextEncoder();
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;

/** The SshKeyError that verifySignature rejects with (fails when it resolves). */
async function rejection(
  key: Uint8Array,
  sig: Uint8Array,
  data: Uint8Array,
  allowed?: string,
): Promise<SshKeyError> {
  try {
    await verifySignature(key, sig, data, allowed);
  } catch (e) {
    expect(e).toBeInstanceOf(SshKeyError);
    return e as SshKeyError;
  }
  throw new Error("expected verifySignature to reject");
}

function sigBlob(algorithm: string, signature: Uint8Array): Uint8Array {
  return new SshWriter().writeString(algorithm).writeString(signature).toBytes();
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >>> 3]! ^= 1 << (bit & 7);
  return out;
}

/** An RSA key from node:crypto as an ssh-rsa blob, and a signer for it. */
function nodeRsa(bits: number) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  const jwk = publicKey.export({ format: "jwk" });
  const blob = new SshWriter()
    .writeString("ssh-rsa")
    .writeMpintUnsigned(Buffer.from(jwk.e!, "base64url"))
    .writeMpintUnsigned(Buffer.from(jwk.n!, "base64url"))
    .toBytes();
  const sign = (
    hash: "sha1" | "sha256" | "sha512",
    data: Uint8Array,
    key: KeyObject = privateKey,
  ) =>
    sigBlob(
      { sha1: "ssh-rsa", sha256: "rsa-sha2-256", sha512: "rsa-sha2-512" }[hash],
      nodeSign(hash, data, key),
    );
  return { blob, sign };
}

describe("verifySignature", () => {
  const seeded = seededBytes(0x5eed_0901);
  const data = UTF8.encode("exchange hash H");
  const ed = userKeyFromEd25519Seed(seeded(32));
  const ec = userKeyFromP256Scalar(seeded(32));
  const rsa = nodeRsa(2048);

  it("accepts ed25519, ecdsa-sha2-nistp256, rsa-sha2-256 and rsa-sha2-512", async () => {
    await verifySignature(ed.publicBlob, ed.sign(data), data, "ssh-ed25519");
    await verifySignature(ec.publicBlob, ec.sign(data), data, "ecdsa-sha2-nistp256");
    await verifySignature(rsa.blob, rsa.sign("sha256", data), data, "rsa-sha2-256");
    await verifySignature(rsa.blob, rsa.sign("sha512", data), data, "rsa-sha2-512");
    await verifySignature(rsa.blob, rsa.sign("sha512", data), data);
  });

  it("rejects wrong data and altered signatures with bad-signature", async () => {
    const other = UTF8.encode("exchange hash H'");
    for (const [key, sig] of [
      [ed.publicBlob, ed.sign(data)],
      [ec.publicBlob, ec.sign(data)],
      [rsa.blob, rsa.sign("sha256", data)],
    ] as const) {
      expect((await rejection(key, sig, other)).code).toBe("bad-signature");
      const last = sig.length * 8 - 1;
      expect((await rejection(key, flipBit(sig, last), data)).code).toBe("bad-signature");
    }
  });

  it("refuses algorithms that do not fit the key or the negotiation: mismatch", async () => {
    const m = async (key: Uint8Array, sig: Uint8Array, allowed?: string) => {
      const e = await rejection(key, sig, data, allowed);
      expect(e.code).toBe("mismatch");
      return e.message;
    };
    expect(await m(ed.publicBlob, ec.sign(data))).toContain("ssh-ed25519 key");
    expect(await m(ec.publicBlob, ed.sign(data))).toContain("ecdsa-sha2-nistp256 key");
    expect(await m(rsa.blob, ed.sign(data))).toContain("rsa-sha2-256 or rsa-sha2-512");
    expect(await m(rsa.blob, rsa.sign("sha512", data), "rsa-sha2-256")).toContain("negotiated");
    expect(await m(ed.publicBlob, ed.sign(data), "ecdsa-sha2-nistp256")).toContain("negotiated");
  });

  it("refuses SHA-1 ssh-rsa signatures and RSA keys under 2048 bits: unsupported", async () => {
    const sha1 = await rejection(rsa.blob, rsa.sign("sha1", data), data);
    expect(sha1.code).toBe("unsupported");
    expect(sha1.message).toContain("SHA-1");
    const small = nodeRsa(1024);
    const weak = await rejection(small.blob, small.sign("sha256", data), data);
    expect(weak.code).toBe("unsupported");
    expect(weak.message).toMatch(/1024 bits.*2048/);
    const dss = new SshWriter().writeString("ssh-dss").writeString("x").toBytes();
    expect((await rejection(dss, ed.sign(data), data)).code).toBe("unsupported");
  });

  it("treats trailing bytes and truncation as malformed", async () => {
    const withByte = (b: Uint8Array) => Uint8Array.from([...b, 0]);
    const sig = ec.sign(data);
    expect((await rejection(withByte(ec.publicBlob), sig, data)).code).toBe("malformed");
    expect((await rejection(ec.publicBlob, withByte(sig), data)).code).toBe("malformed");
    const { signature } = parseSignatureBlob(sig);
    const inner = sigBlob("ecdsa-sha2-nistp256", withByte(signature));
    expect((await rejection(ec.publicBlob, inner, data)).code).toBe("malformed");
    expect((await rejection(ed.publicBlob.subarray(0, 40), ed.sign(data), data)).code).toBe(
      "malformed",
    );
    const shortEd = sigBlob("ssh-ed25519", parseSignatureBlob(ed.sign(data)).signature.subarray(1));
    expect((await rejection(ed.publicBlob, shortEd, data)).code).toBe("malformed");
  });

  it("accepts high-s ECDSA signatures, as OpenSSH does (s and n - s both verify)", async () => {
    const r = new SshReader(parseSignatureBlob(ec.sign(data)).signature);
    const rr = r.readMpintBigInt();
    const s = r.readMpintBigInt();
    for (const ss of [s, P256_N - s]) {
      const inner = new SshWriter().writeMpintBigInt(rr).writeMpintBigInt(ss).toBytes();
      await verifySignature(ec.publicBlob, sigBlob("ecdsa-sha2-nistp256", inner), data);
    }
    const zero = new SshWriter().writeMpintBigInt(rr).writeMpintBigInt(0n).toBytes();
    const e = await rejection(ec.publicBlob, sigBlob("ecdsa-sha2-nistp256", zero), data);
    expect(e.code).toBe("bad-signature");
  });

  it("applies strict Ed25519 rules: no small-order keys, no non-canonical S", async () => {
    // The identity as public key, R = identity, S = 0 satisfies the cofactored equation for
    // any message; strict verification (zip215: false) refuses the small-order key.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged.set(identity);
    const e = await rejection(ed25519PublicBlob(identity), sigBlob("ssh-ed25519", forged), data);
    expect(e.code).toBe("bad-signature");
    // S + L is the same scalar mod L, but not a canonical encoding.
    const sig = parseSignatureBlob(ed.sign(data)).signature;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
    s += ED25519_L;
    const bumped = sig.slice();
    for (let i = 32; i < 64; i++) {
      bumped[i] = Number(s & 0xffn);
      s >>= 8n;
    }
    const nc = await rejection(ed.publicBlob, sigBlob("ssh-ed25519", bumped), data);
    expect(nc.code).toBe("bad-signature");
  });
});

/** The fields of an armored SSHSIG file (OpenSSH PROTOCOL.sshsig). */
function parseSshsig(text: string) {
  const lines = text.trim().split("\n");
  expect(lines[0]).toBe("-----BEGIN SSH SIGNATURE-----");
  expect(lines.at(-1)).toBe("-----END SSH SIGNATURE-----");
  const r = new SshReader(decodeBase64(lines.slice(1, -1).join(""))!);
  expect(new TextDecoder().decode(r.readRaw(6))).toBe("SSHSIG");
  expect(r.readUint32()).toBe(1);
  const publicKey = r.readString();
  const namespace = r.readString();
  const reserved = r.readString();
  const hashAlgorithm = r.readString();
  const signature = r.readString();
  r.expectEnd();
  return { publicKey, namespace, reserved, hashAlgorithm, signature };
}

/** The bytes an SSHSIG signature is made over, for `message`. */
function sshsigSignedData(sig: ReturnType<typeof parseSshsig>, message: Uint8Array): Uint8Array {
  const hash = new TextDecoder().decode(sig.hashAlgorithm);
  return new SshWriter()
    .writeRaw(UTF8.encode("SSHSIG"))
    .writeString(sig.namespace)
    .writeString(sig.reserved)
    .writeString(sig.hashAlgorithm)
    .writeString(createHash(hash).update(message).digest())
    .toBytes();
}

const keygen = prereq(executable(KEYGEN));

describeWithPrereq(keygen, "verifySignature against ssh-keygen -Y sign", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-sshsig-"));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const message = UTF8.encode("a message for ssh-keygen -Y sign\n");

  /** Makes a key, signs `message` with it; returns the .pub blob and the parsed SSHSIG. */
  const signWith = (name: string, keyArgs: string[]) => {
    const key = join(dir, name);
    execFileSync(KEYGEN, ["-q", ...keyArgs, "-N", "", "-f", key]);
    const file = join(dir, `${name}.msg`);
    writeFileSync(file, message);
    execFileSync(KEYGEN, ["-Y", "sign", "-f", key, "-n", "corridor@test", file], { stdio: "pipe" });
    const sig = parseSshsig(readFileSync(`${file}.sig`, "utf8"));
    const { blob } = parsePublicKeyLine(readFileSync(`${key}.pub`, "utf8"));
    expect(sig.publicKey).toEqual(blob);
    return { blob, sig, data: sshsigSignedData(sig, message) };
  };

  for (const [name, args, algorithm] of [
    ["ed25519", ["-t", "ed25519"], "ssh-ed25519"],
    ["ecdsa", ["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256"],
    ["rsa3072", ["-t", "rsa", "-b", "3072"], "rsa-sha2-512"],
  ] as const) {
    it(`${name}: verifies; every one-bit change of data or signature is rejected`, async () => {
      const { blob, sig, data } = signWith(name, [...args]);
      expect(parseSignatureBlob(sig.signature).algorithm).toBe(algorithm);
      await verifySignature(blob, sig.signature, data);
      await verifySignature(blob, sig.signature, data, algorithm);

      // Data: a one-bit change at 24 spread positions, each exactly "bad-signature".
      for (let i = 0; i < 24; i++) {
        const bit = Math.floor((i * (data.length * 8 - 1)) / 23);
        expect((await rejection(blob, sig.signature, flipBit(data, bit))).code).toBe(
          "bad-signature",
        );
      }
      // Signature: every bit of the algorithm-specific part. Most flips are "bad-signature";
      // ECDSA flips in an mpint header can make it malformed instead.
      const inner = parseSignatureBlob(sig.signature).signature;
      const innerAt = sig.signature.length - inner.length;
      const codes = new Map<string, number>();
      for (let bit = innerAt * 8; bit < sig.signature.length * 8; bit++) {
        const { code } = await rejection(blob, flipBit(sig.signature, bit), data);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      expect([...codes.keys()].every((c) => c === "bad-signature" || c === "malformed")).toBe(true);
      if (name !== "ecdsa") expect([...codes.keys()]).toEqual(["bad-signature"]);
      expect(codes.get("bad-signature")).toBeGreaterThan(inner.length * 4);
    });
  }

  it("reports algorithm mismatches against a real signature", async () => {
    const ed = signWith("ed25519-m", ["-t", "ed25519"]);
    const rsa = signWith("rsa-m", ["-t", "rsa", "-b", "2048"]);
    const ec = signWith("ecdsa-m", ["-t", "ecdsa", "-b", "256"]);
    expect((await rejection(ec.blob, ed.sig.signature, ed.data)).code).toBe("mismatch");
    expect((await rejection(ed.blob, rsa.sig.signature, rsa.data)).code).toBe("mismatch");
    expect((await rejection(rsa.blob, rsa.sig.signature, rsa.data, "rsa-sha2-256")).code).toBe(
      "mismatch",
    );
    expect((await rejection(ed.blob, ed.sig.signature, ed.data, "ssh-rsa")).code).toBe("mismatch");
  });

  it("refuses a 1024-bit RSA key: unsupported", async () => {
    const { blob, sig, data } = signWith("rsa1024", ["-t", "rsa", "-b", "1024"]);
    const e = await rejection(blob, sig.signature, data);
    expect(e.code).toBe("unsupported");
    expect(e.message).toMatch(/1024 bits.*at least 2048/);
  });
});

/** A mutation of `body`: bit flips, byte sets, truncation, insertion, deletion, uint32 overwrite. */
function mutate(body: Uint8Array, int: (n: number) => number, noise: (n: number) => Uint8Array) {
  const out = [...body];
  for (let e = 1 + int(3); e > 0; e--) {
    const at = int(out.length + 1);
    const op = int(6);
    if (op === 0) out[at] = (out[at] ?? 0) ^ (1 << int(8));
    else if (op === 1) out[at] = [0, 0xff, 0x80, 1][int(4)]!;
    else if (op === 2) out.length = at;
    else if (op === 3) out.splice(at, 0, ...noise(1 + int(8)));
    else if (op === 4) out.splice(at, 1 + int(16));
    else {
      const v = [0, 1, 0x7fffffff, 0xffffffff, 32, 33, 64, 65][int(8)]!;
      out.splice(at, 4, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    }
  }
  return new Uint8Array(out);
}

describe("verifySignature fuzz", () => {
  // 10,400 calls: 400 valid (key, signature, data) triples over 4 algorithms as a control, then
  // 10,000 mutants: 4,000 with a mutated key blob, 4,000 with a mutated signature blob, 1,000
  // with mutated data, 1,000 with key and signature from different triples; a fifth of them
  // also pass a random negotiated algorithm. Only SshKeyError or SshProtocolError may be thrown.
  it("10,000 mutated key blobs, signature blobs and data reject only with SshKeyError", async () => {
    const int = seededInts(0x5eed_0902);
    const noise = seededBytes(0x5eed_0903);
    const data = noise(64);
    const ed = userKeyFromEd25519Seed(noise(32));
    const ec = userKeyFromP256Scalar(noise(32));
    const rsa = nodeRsa(2048);
    const triples = [
      [ed.publicBlob, ed.sign(data)],
      [ec.publicBlob, ec.sign(data)],
      [rsa.blob, rsa.sign("sha256", data)],
      [rsa.blob, rsa.sign("sha512", data)],
    ] as const;
    const algorithms = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256", "rsa-sha2-512"];
    const codes = new Map<string, number>();
    let accepted = 0;
    const attempt = async (key: Uint8Array, sig: Uint8Array, d: Uint8Array, allowed?: string) => {
      try {
        await verifySignature(key, sig, d, allowed);
        accepted++;
      } catch (e) {
        if (e instanceof SshKeyError) codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        else if (e instanceof SshProtocolError)
          codes.set("protocol", (codes.get("protocol") ?? 0) + 1);
        else throw new Error(`unexpected ${String(e)} for key ${key} sig ${sig}`);
      }
    };
    for (let i = 0; i < 400; i++) {
      const [key, sig] = triples[i % 4]!;
      await attempt(key, sig, data);
    }
    expect(accepted).toBe(400);
    for (let i = 0; i < 10_000; i++) {
      const [key, sig] = triples[int(4)]!;
      const allowed = int(5) === 0 ? algorithms[int(4)] : undefined;
      if (i < 4_000) await attempt(mutate(key, int, noise), sig, data, allowed);
      else if (i < 8_000) await attempt(key, mutate(sig, int, noise), data, allowed);
      else if (i < 9_000) await attempt(key, sig, mutate(data, int, noise), allowed);
      else await attempt(key, triples[int(4)]![1], data, allowed);
    }
    const total = accepted + [...codes.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(10_400);
    // The fuzz reaches every kind of outcome, not only early parse failures.
    for (const code of ["malformed", "bad-signature", "mismatch", "unsupported"]) {
      expect(codes.get(code) ?? 0).toBeGreaterThan(0);
    }
  });
});
