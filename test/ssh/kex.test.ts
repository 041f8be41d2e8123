// Key exchange pieces on their own: the RFC 3526 group against node:crypto's, each method's
// shared secret against an independent server side (node:crypto), hostile server values,
// key derivation past one hash length, KEXINIT encoding/negotiation, and a KEXINIT fuzz.
// (The whole exchange is proven against sshd and Dropbear in the interop tests.)

import { createDiffieHellman, createECDH, createHash, getDiffieHellman } from "node:crypto";
import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { deriveKey } from "../../worker/ssh/kex/exchange.ts";
import {
  type AlgorithmLists,
  encodeKexInit,
  KEX_STRICT_CLIENT,
  KEX_STRICT_SERVER,
  negotiate,
  parseKexInit,
  serverGuessWrong,
} from "../../worker/ssh/kex/kexinit.ts";
import {
  curve25519Sha256,
  diffieHellmanGroup14Sha256,
  ecdhSha2Nistp256,
  MODP_GROUP14_PRIME,
  modPow,
} from "../../worker/ssh/kex/methods.ts";
import { SshProtocolError, SshReader, SshWriter } from "../../worker/ssh/wire.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const big = (b: Uint8Array) => BigInt(`0x${hex(b) || "0"}`);

/** The client's public value from an INIT payload (string or mpint after the type byte). */
function initValue(payload: Uint8Array): Uint8Array {
  return new SshReader(payload.subarray(1)).readString();
}

describe("key exchange methods", () => {
  it("uses RFC 3526's 2048-bit group, as node:crypto's modp14", () => {
    expect(MODP_GROUP14_PRIME).toBe(big(getDiffieHellman("modp14").getPrime()));
    const dh = createDiffieHellman(getDiffieHellman("modp14").getPrime(), Buffer.from([2]));
    dh.generateKeys();
    expect(modPow(2n, big(dh.getPrivateKey()), MODP_GROUP14_PRIME)).toBe(big(dh.getPublicKey()));
  });

  it("agrees with an independent server side for each method", async () => {
    // curve25519-sha256: server is node:crypto X25519.
    const c = await curve25519Sha256("curve25519-sha256", nodeX25519).start(random);
    const serverPriv = random(32);
    const serverPub = await nodeX25519.publicKey(serverPriv);
    const expected = await nodeX25519.sharedSecret(serverPriv, initValue(c.initPayload));
    expect(hex(await c.sharedSecret(serverPub))).toBe(hex(expected));

    // ecdh-sha2-nistp256: server is node:crypto ECDH on prime256v1.
    const e = await ecdhSha2Nistp256.start(random);
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const k = await e.sharedSecret(new Uint8Array(ecdh.getPublicKey()));
    expect(hex(k)).toBe(hex(ecdh.computeSecret(Buffer.from(initValue(e.initPayload)))));

    // diffie-hellman-group14-sha256: server is node:crypto's modp14.
    const d = await diffieHellmanGroup14Sha256.start(random);
    const server = getDiffieHellman("modp14");
    server.generateKeys();
    const clientE = initValue(d.initPayload);
    const f = d.readServerPublic(
      new SshReader(new SshWriter().writeMpintUnsigned(server.getPublicKey()).toBytes()),
    );
    expect(big(await d.sharedSecret(f))).toBe(big(server.computeSecret(Buffer.from(clientE))));
  });

  it("refuses hostile server values with clear errors", async () => {
    const x = await curve25519Sha256("curve25519-sha256", nodeX25519).start(random);
    await expect(x.sharedSecret(new Uint8Array(32))).rejects.toThrow(SshProtocolError);
    const x2 = await curve25519Sha256("curve25519-sha256", nodeX25519).start(random);
    await expect(x2.sharedSecret(new Uint8Array(31))).rejects.toThrow(/31 bytes, not 32/);

    const p = await ecdhSha2Nistp256.start(random);
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    offCurve[64] = 1;
    await expect(p.sharedSecret(offCurve)).rejects.toThrow(/not a valid point/);
    const p2 = await ecdhSha2Nistp256.start(random);
    await expect(p2.sharedSecret(new Uint8Array(33).fill(2))).rejects.toThrow(
      /not an uncompressed point/,
    );

    const d = await diffieHellmanGroup14Sha256.start(random);
    for (const f of [0n, 1n, MODP_GROUP14_PRIME - 1n, MODP_GROUP14_PRIME]) {
      const encoded = new SshWriter().writeMpintBigInt(f).toBytes();
      expect(() => d.readServerPublic(new SshReader(encoded))).toThrow(/out of range/);
    }
  });

  it("derives keys longer than one hash as K1 || K2 (RFC 4253 §7.2)", () => {
    const sha = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
    const k = random(32);
    const h = random(32);
    const session = random(32);
    const kMpint = new SshWriter().writeMpintUnsigned(k).toBytes();
    const k1 = sha(Buffer.concat([kMpint, h, Buffer.from("C"), session]));
    const k2 = sha(Buffer.concat([kMpint, h, k1]));
    const k3 = sha(Buffer.concat([kMpint, h, k1, k2]));
    expect(hex(deriveKey(sha, k, h, "C", session, 64))).toBe(hex(Buffer.concat([k1, k2])));
    expect(hex(deriveKey(sha, k, h, "C", session, 80))).toBe(
      hex(Buffer.concat([k1, k2, k3]).subarray(0, 80)),
    );
    expect(deriveKey(sha, k, h, "A", session, 0)).toHaveLength(0);
  });
});

const CLIENT: AlgorithmLists = {
  kex: ["curve25519-sha256", "ecdh-sha2-nistp256", "ext-info-c", KEX_STRICT_CLIENT],
  hostKey: ["ssh-ed25519", "rsa-sha2-512"],
  cipherClientToServer: ["chacha20-poly1305@openssh.com", "aes128-ctr"],
  cipherServerToClient: ["chacha20-poly1305@openssh.com", "aes128-ctr"],
  macClientToServer: ["hmac-sha2-256-etm@openssh.com"],
  macServerToClient: ["hmac-sha2-256-etm@openssh.com"],
  compressionClientToServer: ["none"],
  compressionServerToClient: ["none"],
  languagesClientToServer: [],
  languagesServerToClient: [],
};

describe("KEXINIT", () => {
  const serverLists = (patch: Partial<AlgorithmLists>): AlgorithmLists => ({ ...CLIENT, ...patch });

  it("round-trips and negotiates the client's first choice the server has", () => {
    const server = parseKexInit(
      encodeKexInit(
        serverLists({
          kex: ["ecdh-sha2-nistp256", "curve25519-sha256", KEX_STRICT_SERVER],
          cipherServerToClient: ["aes128-ctr"],
          compressionClientToServer: ["zlib@openssh.com", "none"],
        }),
        random(16),
      ),
    );
    const n = negotiate(CLIENT, server, new Set(["chacha20-poly1305@openssh.com"]));
    expect(n).toEqual({
      kex: "curve25519-sha256",
      hostKey: "ssh-ed25519",
      cipherClientToServer: "chacha20-poly1305@openssh.com",
      cipherServerToClient: "aes128-ctr",
      macClientToServer: null,
      macServerToClient: "hmac-sha2-256-etm@openssh.com",
      strict: true,
    });
    expect(serverGuessWrong(server, n)).toBe(false);
  });

  it("names the list with no common algorithm and what each side offers", () => {
    const server = parseKexInit(encodeKexInit(serverLists({ hostKey: ["ssh-dss"] }), random(16)));
    expect(() => negotiate(CLIENT, server, new Set())).toThrow(
      "no matching host key algorithm: we offer ssh-ed25519,rsa-sha2-512; the server offers ssh-dss",
    );
    // Markers are never chosen, even when both sides list them.
    const onlyMarkers = parseKexInit(
      encodeKexInit(serverLists({ kex: ["ext-info-c", KEX_STRICT_CLIENT] }), random(16)),
    );
    expect(() => negotiate(CLIENT, onlyMarkers, new Set())).toThrow(
      /no matching key exchange method/,
    );
  });

  it("fuzz: 20,000 mutated KEXINITs parse or fail with SshProtocolError only", () => {
    const base = encodeKexInit(CLIENT, random(16));
    const int = seededInts(0x6b657869);
    const bytes = seededBytes(0x6e6f6973);
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 20_000; i++) {
      // Mostly whole messages with a few bytes replaced; some truncated; some pure noise.
      const kind = int(10);
      const mutated =
        kind === 0
          ? bytes(int(300))
          : base.slice(0, kind === 1 ? int(base.length) + 1 : base.length);
      if (mutated.length > 0) mutated[0] = 20;
      const flips = int(4);
      for (let f = 0; f < flips && mutated.length > 1; f++)
        mutated[1 + int(mutated.length - 1)] = int(256);
      try {
        const k = parseKexInit(mutated);
        negotiate(CLIENT, k, new Set());
        parsed++;
      } catch (error) {
        expect(error).toBeInstanceOf(SshProtocolError);
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(20_000);
    expect(rejected).toBeGreaterThan(1000);
    expect(parsed).toBeGreaterThan(1000);
  });
});
