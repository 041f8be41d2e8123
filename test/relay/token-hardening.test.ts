// Relay tokens under hostile keys and signatures (issue 12, item 7): RFC 8032 strict Ed25519
// (signatures ZIP-215 would accept are refused), no small-order or non-canonical control key
// (at startup and on the command line), and a cap on how long a token may still live.

import { ed25519 } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { afterEach, describe, expect, it } from "vitest";
import { applyRelayFlag, defaultRelayFlags } from "../../cli/relay-flags.ts";
import { RelayAuthorizer } from "../../server/relay/auth.ts";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import {
  checkControlKey,
  DEFAULT_MAX_TOKEN_LIFETIME_S,
  type RelayTokenPayload,
  signRelayToken,
  verifyRelayToken,
} from "../../server/relay/token.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { connectRaw, type NodeKeys, nodeKeys, sendHello, startTestRelay } from "./raw-client.ts";

const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const NOW_MS = 1_800_000_000_000;
const RELAY_ID = "relay-t";

/** The 8 points of small order on edwards25519, in their canonical encodings (RFC 8032 form). */
const SMALL_ORDER_POINTS = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2 (y = -1)
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4 (y = 0)
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4, x negative
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
];

/** Non-canonical encodings that RFC 8032 refuses: y >= p, and x = 0 with the sign bit set. */
const NON_CANONICAL = [
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1 (identity)
  "0100000000000000000000000000000000000000000000000000000000000080", // x = 0 with the sign bit
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
];

function littleEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

function fromLittleEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/**
 * A signature over `message` by `secret` whose R is the identity point written non-canonically
 * (y = p + 1) and S = k·a: SB = R + kA holds, so ZIP-215 (which takes y >= p) accepts it; RFC
 * 8032 refuses the encoding. A second valid signature for the same message: malleability.
 */
function nonCanonicalSignature(message: Uint8Array, secret: Uint8Array): Uint8Array {
  const order = ed25519.Point.CURVE().n;
  const { scalar, pointBytes } = ed25519.utils.getExtendedPublicKey(secret);
  const r = hex(NON_CANONICAL[0]!);
  const k = fromLittleEndian(sha512(new Uint8Array([...r, ...pointBytes, ...message]))) % order;
  const signature = new Uint8Array(64);
  signature.set(r);
  signature.set(littleEndian((k * scalar) % order, 32), 32);
  return signature;
}

function payloadFor(keys: NodeKeys, exp: number): RelayTokenPayload {
  return { v: 1, key: keyToBase64(keys.publicKey), relay: RELAY_ID, udp: [], exp };
}

function tokenFrom(payload: RelayTokenPayload, signature: Uint8Array): string {
  return `${b64url(new TextEncoder().encode(JSON.stringify(payload)))}.${b64url(signature)}`;
}

describe("Ed25519 is verified RFC 8032 strict (zip215: false)", () => {
  it("refuses a non-canonical signature that ZIP-215 verification accepts", async () => {
    const secret = ed25519.utils.randomSecretKey();
    const control = ed25519.getPublicKey(secret);
    const keys = await nodeKeys();
    const payload = payloadFor(keys, NOW_MS / 1000 + 60);
    const json = new TextEncoder().encode(JSON.stringify(payload));
    const signature = nonCanonicalSignature(json, secret);
    // The vector is meaningful: the lax (ZIP-215) rule takes it.
    expect(ed25519.verify(signature, json, control, { zip215: true })).toBe(true);
    const expectation = { controlPublicKey: control, relayId: RELAY_ID, nodeKey: keys.publicKey };
    expect(
      verifyRelayToken(tokenFrom(payload, signature), { ...expectation, nowMs: NOW_MS }),
    ).toEqual({ ok: false, reason: "token signature invalid" });
    // The canonical signature of the same payload still passes.
    const good = signRelayToken(payload, secret, { nowMs: NOW_MS });
    expect(verifyRelayToken(good, { ...expectation, nowMs: NOW_MS }).ok).toBe(true);
  });

  it("refuses a token 'signed' for the identity key by R = identity, S = 0", async () => {
    const keys = await nodeKeys();
    const payload = payloadFor(keys, NOW_MS / 1000 + 60);
    const json = new TextEncoder().encode(JSON.stringify(payload));
    const identity = hex(SMALL_ORDER_POINTS[0]!);
    const signature = new Uint8Array(64);
    signature.set(identity);
    expect(ed25519.verify(signature, json, identity, { zip215: true })).toBe(true);
    expect(
      verifyRelayToken(tokenFrom(payload, signature), {
        controlPublicKey: identity,
        relayId: RELAY_ID,
        nodeKey: keys.publicKey,
        nowMs: NOW_MS,
      }),
    ).toEqual({ ok: false, reason: "token signature invalid" });
  });
});

describe("the control key is checked at startup", () => {
  it.each(SMALL_ORDER_POINTS)("refuses the small-order point %s", (point) => {
    expect(() => checkControlKey(hex(point))).toThrow(
      "control key: a small-order Ed25519 point (any signature could pass for it); use the control server's real public key",
    );
  });

  it.each(NON_CANONICAL)("refuses the non-canonical encoding %s", (encoding) => {
    expect(() => checkControlKey(hex(encoding))).toThrow(
      "control key: not a canonical Ed25519 point",
    );
  });

  it("refuses a key with a small-order component (outside the prime-order subgroup)", () => {
    const honest = ed25519.Point.fromBytes(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    const mixed = honest.add(ed25519.Point.fromBytes(hex(SMALL_ORDER_POINTS[4]!))).toBytes();
    expect(() => checkControlKey(mixed)).toThrow(
      "control key: not in Ed25519's prime-order subgroup",
    );
  });

  it("refuses a key of the wrong length, accepts an honest key", () => {
    expect(() => checkControlKey(new Uint8Array(31))).toThrow(
      "control key: an Ed25519 public key is 32 bytes",
    );
    expect(() =>
      checkControlKey(ed25519.getPublicKey(ed25519.utils.randomSecretKey())),
    ).not.toThrow();
  });

  it("the authorizer and startRelay refuse a small-order control key with a clear error", async () => {
    const auth = { mode: "token" as const, controlPublicKey: hex(SMALL_ORDER_POINTS[5]!) };
    expect(() => new RelayAuthorizer(auth, RELAY_ID)).toThrow(
      "relay auth: control key: a small-order Ed25519 point",
    );
    await expect(startRelay({ auth, relayId: RELAY_ID, log: () => {} })).rejects.toThrow(
      "relay auth: control key: a small-order Ed25519 point",
    );
  });

  it("--control-key refuses a small-order key by name", () => {
    const flags = defaultRelayFlags();
    const identity = Buffer.from(hex(SMALL_ORDER_POINTS[0]!)).toString("base64");
    expect(() => applyRelayFlag(flags, "--control-key", identity)).toThrow(
      "--control-key: control key: a small-order Ed25519 point",
    );
    expect(flags.auth).toBeUndefined();
    const honest = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    expect(applyRelayFlag(flags, "--control-key", honest.toString("base64"))).toBeUndefined();
    expect(flags.auth?.mode).toBe("token");
  });
});

describe("a token's lifetime is capped", () => {
  const secret = ed25519.utils.randomSecretKey();
  const control = ed25519.getPublicKey(secret);
  let relay: RelayServer | undefined;

  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it("signRelayToken refuses a token that would live longer than the cap", async () => {
    const keys = await nodeKeys();
    const tooLong = payloadFor(keys, NOW_MS / 1000 + DEFAULT_MAX_TOKEN_LIFETIME_S + 1);
    expect(() => signRelayToken(tooLong, secret, { nowMs: NOW_MS })).toThrow(
      "token lifetime 86401 s is over the maximum of 86400 s: sign shorter tokens and refresh them",
    );
    const atCap = payloadFor(keys, NOW_MS / 1000 + DEFAULT_MAX_TOKEN_LIFETIME_S);
    expect(() => signRelayToken(atCap, secret, { nowMs: NOW_MS })).not.toThrow();
    expect(() =>
      signRelayToken(tooLong, secret, { nowMs: NOW_MS, maxLifetimeSeconds: 2 * 86400 }),
    ).not.toThrow();
    expect(() => signRelayToken(payloadFor(keys, Number.NaN), secret)).toThrow(
      "token exp must be unix seconds, got NaN",
    );
  });

  it("verifyRelayToken refuses a token whose exp is beyond the relay's cap", async () => {
    const keys = await nodeKeys();
    const exp = NOW_MS / 1000 + 25 * 3600;
    const token = signRelayToken(payloadFor(keys, exp), secret, {
      nowMs: NOW_MS,
      maxLifetimeSeconds: 30 * 3600,
    });
    const expect24h = { controlPublicKey: control, relayId: RELAY_ID, nodeKey: keys.publicKey };
    expect(verifyRelayToken(token, { ...expect24h, nowMs: NOW_MS })).toEqual({
      ok: false,
      reason: "token lifetime over the relay's maximum of 86400 s",
    });
    // An hour and a second later, the same token is within 24 h and passes.
    expect(verifyRelayToken(token, { ...expect24h, nowMs: NOW_MS + 3601_000 }).ok).toBe(true);
    expect(
      verifyRelayToken(token, { ...expect24h, nowMs: NOW_MS, maxLifetimeSeconds: 26 * 3600 }).ok,
    ).toBe(true);
  });

  it("a relay configured with a 10-minute cap closes a 1-hour token's hello with 4401", async () => {
    ({ relay } = await startTestRelay({
      relayId: RELAY_ID,
      auth: { mode: "token", controlPublicKey: control, maxTokenLifetimeSeconds: 600 },
    }));
    const keys = await nodeKeys();
    const hourToken = signRelayToken(
      payloadFor(keys, Math.floor(Date.now() / 1000) + 3600),
      secret,
    );
    const client = await connectRaw(relay.url);
    await sendHello(client, keys, { token: hourToken });
    expect(await client.closed).toEqual({
      code: 4401,
      reason: "token lifetime over the relay's maximum of 600 s",
    });
    const shortToken = signRelayToken(
      payloadFor(keys, Math.floor(Date.now() / 1000) + 300),
      secret,
    );
    const second = await connectRaw(relay.url);
    await sendHello(second, keys, { token: shortToken });
    expect((await second.next("welcome")).type).toBe("welcome");
    second.close();
  });

  it("refuses a nonsensical cap at startup", () => {
    expect(
      () =>
        new RelayAuthorizer(
          { mode: "token", controlPublicKey: control, maxTokenLifetimeSeconds: 0 },
          RELAY_ID,
        ),
    ).toThrow("relay auth: maxTokenLifetimeSeconds must be a positive number of seconds, got 0");
  });
});
