// worker/ssh/host-key-policy.ts, decision by decision: pinned keys (a match passes whatever the
// store says, a mismatch is refused with both fingerprints), @revoked lines, a changed key and a
// key of another type (both hard stops under every StrictHostKeyChecking mode, no question
// asked, nothing learned), and what each mode does with a host that has no key at all; then the
// KEXINIT order that puts the known types first.

import { describe, expect, it } from "vitest";
import { HostKeyError } from "../../worker/ssh/errors.ts";
import { encodeBase64, fingerprintSha256, keyTypeOf } from "../../worker/ssh/fingerprint.ts";
import {
  hostKeyVerifier,
  preferKnownAlgorithms,
  type UnknownKeyPolicy,
} from "../../worker/ssh/host-key-policy.ts";
import { DEFAULT_HOST_KEY_ALGORITHMS, type HostKeyInfo } from "../../worker/ssh/kex/driver.ts";
import { generateUserKey } from "../../worker/ssh/keys/user-key.ts";
import { KnownHosts } from "../../worker/ssh/known-hosts.ts";

const POLICIES: readonly UnknownKeyPolicy[] = ["yes", "accept-new", "no", "ask"];
const ED_KNOWN = generateUserKey("ssh-ed25519").publicBlob;
const ED_OTHER = generateUserKey("ssh-ed25519").publicBlob;
const EC_SERVER = generateUserKey("ecdsa-sha2-nistp256").publicBlob;

function info(blob: Uint8Array): HostKeyInfo {
  const keyType = keyTypeOf(blob);
  return { algorithm: keyType, keyType, keyBlob: blob, fingerprint: fingerprintSha256(blob) };
}

interface Outcome {
  error: HostKeyError | null;
  asked: number;
  learned: number;
  store: string;
}

/** Runs one verification with a fresh copy of `knownHostsText`; records what happened. */
async function verify(
  knownHostsText: string,
  presented: Uint8Array,
  policy: UnknownKeyPolicy,
  options: { pinned?: Uint8Array[]; answer?: boolean; port?: number } = {},
): Promise<Outcome> {
  const knownHosts = KnownHosts.parse(knownHostsText);
  const outcome: Outcome = { error: null, asked: 0, learned: 0, store: "" };
  const verifier = hostKeyVerifier({
    host: "alpha.test",
    port: options.port ?? 22,
    knownHosts,
    policy,
    ...(options.pinned ? { pinned: options.pinned } : {}),
    confirm: async () => {
      outcome.asked++;
      return options.answer ?? true;
    },
    onLearned: () => {
      outcome.learned++;
    },
  });
  try {
    await verifier(info(presented));
  } catch (error) {
    if (!(error instanceof HostKeyError)) throw error;
    outcome.error = error;
  }
  outcome.store = knownHosts.toString();
  return outcome;
}

const line = (host: string, blob: Uint8Array, marker = "") =>
  `${marker ? `${marker} ` : ""}${host} ${info(blob).keyType} ${encodeBase64(blob)}\n`;

describe("hostKeyVerifier", () => {
  it("a pinned key passes even when the store holds another key for the host", async () => {
    for (const policy of POLICIES) {
      const r = await verify(line("alpha.test", ED_OTHER), ED_KNOWN, policy, {
        pinned: [EC_SERVER, ED_KNOWN],
      });
      expect([r.error, r.asked, r.learned]).toEqual([null, 0, 0]);
      expect(r.store).toBe(line("alpha.test", ED_OTHER));
    }
  });

  it("a key that is not pinned is refused naming both, even when the store knows it", async () => {
    for (const policy of POLICIES) {
      const r = await verify(line("alpha.test", ED_OTHER), ED_OTHER, policy, {
        pinned: [ED_KNOWN, EC_SERVER],
      });
      expect(r.error?.message).toBe(
        `host key for alpha.test does not match its pinned key: the server sent ssh-ed25519 ${fingerprintSha256(ED_OTHER)}, expected ${fingerprintSha256(ED_KNOWN)} or ${fingerprintSha256(EC_SERVER)}`,
      );
      expect(r.error?.code).toBe(9);
      expect(r.error?.by).toBe("client");
      expect([r.asked, r.learned]).toEqual([0, 0]);
    }
  });

  it("@revoked refuses the key under every mode, even next to a plain line for it", async () => {
    const text = `${line("*.test", ED_KNOWN, "@revoked")}${line("alpha.test", ED_KNOWN)}`;
    for (const policy of POLICIES) {
      const r = await verify(text, ED_KNOWN, policy);
      expect(r.error?.message).toBe(
        `host key ssh-ed25519 ${fingerprintSha256(ED_KNOWN)} for alpha.test is marked @revoked (line 1)`,
      );
      expect([r.asked, r.learned, r.store]).toEqual([0, 0, text]);
    }
    // The @revoked line is for its hosts only.
    const elsewhere = await verify(line("*.example", ED_KNOWN, "@revoked"), ED_KNOWN, "accept-new");
    expect(elsewhere.error).toBeNull();
  });

  it("a changed key of the same type is a hard stop under every mode", async () => {
    for (const policy of POLICIES) {
      const r = await verify(line("[alpha.test]:2222", ED_KNOWN), ED_OTHER, policy, { port: 2222 });
      expect(r.error?.message).toBe(
        `HOST KEY FOR [alpha.test]:2222 HAS CHANGED: the server sent ssh-ed25519 ${fingerprintSha256(ED_OTHER)}, but the known key is ssh-ed25519 ${fingerprintSha256(ED_KNOWN)} (line 1). Someone could be intercepting the connection (or the host key was replaced). Refusing to connect.`,
      );
      expect([r.asked, r.learned]).toEqual([0, 0]);
    }
  });

  it("a key of another type than the known one is a changed key: hard stop, both fingerprints", async () => {
    const text = `# pinned with ed25519\n${line("alpha.test", ED_KNOWN)}`;
    for (const policy of POLICIES) {
      const r = await verify(text, EC_SERVER, policy);
      expect(r.error).toBeInstanceOf(HostKeyError);
      expect(r.error?.message).toBe(
        `HOST KEY FOR alpha.test HAS CHANGED: the server sent ecdsa-sha2-nistp256 ${fingerprintSha256(EC_SERVER)}, but the known key is ssh-ed25519 ${fingerprintSha256(ED_KNOWN)} (line 2), and the server offered no key of the known type. Someone could be intercepting the connection (or the host key was replaced). Refusing to connect.`,
      );
      expect(r.error?.code).toBe(9);
      // Nobody was asked, and the impostor's key was not added next to the real one.
      expect([r.asked, r.learned, r.store]).toEqual([0, 0, text]);
    }
  });

  it("a host with no key at all: yes refuses, accept-new learns, no accepts once, ask asks", async () => {
    const other = line("beta.test", ED_KNOWN);
    const fp = fingerprintSha256(EC_SERVER);
    const yes = await verify(other, EC_SERVER, "yes");
    expect(yes.error?.message).toBe(
      `host key ecdsa-sha2-nistp256 ${fp} for alpha.test is not known and was not accepted`,
    );
    expect([yes.asked, yes.learned, yes.store]).toEqual([0, 0, other]);

    const acceptNew = await verify(other, EC_SERVER, "accept-new");
    expect([acceptNew.error, acceptNew.asked, acceptNew.learned]).toEqual([null, 0, 1]);
    expect(acceptNew.store).toBe(`${other}${line("alpha.test", EC_SERVER)}`);

    const no = await verify(other, EC_SERVER, "no");
    expect([no.error, no.asked, no.learned, no.store]).toEqual([null, 0, 0, other]);

    const trusted = await verify(other, EC_SERVER, "ask", { answer: true });
    expect([trusted.error, trusted.asked, trusted.learned]).toEqual([null, 1, 1]);
    expect(trusted.store).toBe(`${other}${line("alpha.test", EC_SERVER)}`);

    const declined = await verify(other, EC_SERVER, "ask", { answer: false });
    expect(declined.error?.message).toBe(
      `host key ecdsa-sha2-nistp256 ${fp} for alpha.test is not known and was not accepted`,
    );
    expect([declined.asked, declined.learned, declined.store]).toEqual([1, 0, other]);
  });

  it("policy no still refuses a changed key and a key of another type", async () => {
    const text = line("alpha.test", ED_KNOWN);
    expect((await verify(text, ED_OTHER, "no")).error?.message).toMatch(/HAS CHANGED/);
    expect((await verify(text, EC_SERVER, "no")).error?.message).toMatch(/HAS CHANGED/);
    expect((await verify(text, ED_KNOWN, "no")).error).toBeNull();
  });
});

describe("preferKnownAlgorithms", () => {
  it("puts the types known for the host first, the rest in our default order", () => {
    const kh = KnownHosts.parse(
      `${line("alpha.test", EC_SERVER)}${line("[alpha.test]:2222", ED_KNOWN)}`,
    );
    expect(preferKnownAlgorithms(kh, "alpha.test", 22)).toEqual([
      "ecdsa-sha2-nistp256",
      "ssh-ed25519",
      "rsa-sha2-512",
      "rsa-sha2-256",
    ]);
    expect(preferKnownAlgorithms(kh, "alpha.test", 2222)).toEqual([...DEFAULT_HOST_KEY_ALGORITHMS]);
    expect(preferKnownAlgorithms(kh, "beta.test", 22)).toEqual([...DEFAULT_HOST_KEY_ALGORITHMS]);
  });

  it("an ssh-rsa line brings both RSA signature algorithms forward", () => {
    const rsaBlob = new Uint8Array([
      ...[0, 0, 0, 7],
      ...new TextEncoder().encode("ssh-rsa"),
      ...[0, 0, 0, 1, 3],
      ...[0, 0, 0, 2, 0xc1, 0x01],
    ]);
    const kh = KnownHosts.parse(`alpha.test ssh-rsa ${encodeBase64(rsaBlob)}\n`);
    expect(kh.warnings).toEqual([]);
    expect(preferKnownAlgorithms(kh, "alpha.test", 22)).toEqual([
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
    ]);
  });
});
