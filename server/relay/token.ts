// Relay tokens (DESIGN §4): `base64url(JSON payload) + "." + base64url(Ed25519 signature)`.
// The signature covers the JSON payload bytes (the decoded first part, UTF-8), signed by the
// control server; the relay holds only the control server's Ed25519 public key. Payload:
// `{"v":1, "key": node public key (standard base64), "relay": relay id or "*",
//   "udp": ["ip:port" | "cidr:port-range", ...], "exp": unix seconds}`.
// `"relay": "*"` (ANY_RELAY) is good on every relay that trusts the signing key: the relays of
// one mesh all hold its control server's public key, and a node presents the one token of its
// map to its home relay and to its peers' home relays alike.
//
// Verification is RFC 8032 strict (`zip215: false`): non-canonical point encodings and
// small-order keys are refused, so one token has one valid signature under one key. A token
// may live at most `maxLifetimeSeconds` (24 h unless the relay says otherwise): a leaked
// token stays useful only that long, and the control server refreshes them on the map stream.

import { createPrivateKey, type KeyObject, sign as nodeSign } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";

/** The payload of a relay token. */
export interface RelayTokenPayload {
  v: 1;
  /** The node's X25519 public key, standard base64 (`wg` form). */
  key: string;
  /** The relay id the token is for, or ANY_RELAY ("*") for every relay of the mesh. */
  relay: string;
  /** UDP endpoints the node may reach through the relay's UDP bridge. */
  udp: string[];
  /** Expiry, unix seconds. */
  exp: number;
}

/** The outcome of checking a token. */
export type TokenCheck = { ok: true; payload: RelayTokenPayload } | { ok: false; reason: string };

/** What a token must match. */
export interface TokenExpectation {
  /** The control server's Ed25519 public key (32 bytes). */
  controlPublicKey: Uint8Array;
  /** This relay's id. */
  relayId: string;
  /** The node key the client proved it holds. */
  nodeKey: Uint8Array;
  /** Now, in milliseconds since the epoch. */
  nowMs: number;
  /** The longest a token may still live (`exp` - now), seconds. Default 24 h. */
  maxLifetimeSeconds?: number;
}

/**
 * The `relay` of a token good on any relay that verifies with the signing key: what the control
 * server signs when its map lists several relays.
 */
export const ANY_RELAY = "*";

/** The default cap on a token's remaining lifetime: 24 hours, in seconds. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 24 * 60 * 60;

/** Tokens longer than this are refused before parsing. */
export const MAX_TOKEN_LENGTH = 16384;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Limits signRelayToken applies. */
export interface SignTokenOptions {
  /** Now, in milliseconds since the epoch. Default Date.now(). */
  nowMs?: number;
  /** The longest lifetime (`exp` - now) it will sign, seconds. Default 24 h. */
  maxLifetimeSeconds?: number;
}

/** Checks a lifetime cap option: a positive, finite number of seconds. */
function lifetimeCap(value: number | undefined): number {
  const cap = value ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  if (!(cap > 0) || !Number.isFinite(cap)) {
    throw new RangeError(`token lifetime cap must be a positive number of seconds, got ${cap}`);
  }
  return cap;
}

/** PKCS#8 DER before the 32 bytes of an Ed25519 secret key (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * The secret key as a node:crypto KeyObject, for a signer that signs many tokens (the control
 * server signs one per map stream and refresh): node:crypto's Ed25519 signs in ~0.05 ms where
 * @noble's ~0.9 ms (it derives the public key again on every call). The signatures are the same
 * bytes (Ed25519 is deterministic).
 */
export function tokenSigningKey(controlSecretKey: Uint8Array): KeyObject {
  if (controlSecretKey.length !== 32) throw new RangeError("an Ed25519 secret key is 32 bytes");
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, controlSecretKey]);
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } finally {
    der.fill(0);
  }
}

/**
 * Signs a token with the control server's Ed25519 secret key (32 bytes, or the KeyObject of
 * tokenSigningKey). For the control server and for tests; the relay only verifies. Throws a
 * RangeError for an `exp` that is not a finite number or lies further ahead than the lifetime
 * cap (a relay would refuse it).
 */
export function signRelayToken(
  payload: RelayTokenPayload,
  controlSecretKey: Uint8Array | KeyObject,
  options: SignTokenOptions = {},
): string {
  if (typeof payload.exp !== "number" || !Number.isFinite(payload.exp)) {
    throw new RangeError(`token exp must be unix seconds, got ${String(payload.exp)}`);
  }
  const cap = lifetimeCap(options.maxLifetimeSeconds);
  const lifetime = payload.exp - (options.nowMs ?? Date.now()) / 1000;
  if (lifetime > cap) {
    throw new RangeError(
      `token lifetime ${Math.ceil(lifetime)} s is over the maximum of ${cap} s: sign shorter tokens and refresh them`,
    );
  }
  const json = encoder.encode(JSON.stringify(payload));
  const signature =
    controlSecretKey instanceof Uint8Array
      ? ed25519.sign(json, controlSecretKey)
      : new Uint8Array(nodeSign(null, json, controlSecretKey));
  return `${toBase64url(json)}.${toBase64url(signature)}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function parsePayload(json: Uint8Array): RelayTokenPayload | string {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(json));
  } catch {
    return "token payload is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "token payload is not an object";
  }
  const p = value as Record<string, unknown>;
  if (p.v !== 1) return "token version is not 1";
  if (typeof p.key !== "string") return "token has no key";
  if (typeof p.relay !== "string") return "token has no relay";
  if (typeof p.exp !== "number" || !Number.isFinite(p.exp)) return "token has no exp";
  const udp = p.udp ?? [];
  if (!Array.isArray(udp) || !udp.every((u): u is string => typeof u === "string")) {
    return "token udp is not a list of strings";
  }
  return { v: 1, key: p.key, relay: p.relay, udp, exp: p.exp };
}

/**
 * Verifies a token's signature and checks it names this node, this relay (its id or ANY_RELAY),
 * and is current.
 */
export function verifyRelayToken(token: string, expect: TokenExpectation): TokenCheck {
  const fail = (reason: string): TokenCheck => ({ ok: false, reason });
  if (token.length === 0) return fail("token required");
  if (token.length > MAX_TOKEN_LENGTH) return fail("token too long");
  const dot = token.indexOf(".");
  if (dot < 0 || token.indexOf(".", dot + 1) >= 0) return fail("token is not payload.signature");
  const head = token.slice(0, dot);
  const tail = token.slice(dot + 1);
  if (!BASE64URL.test(head) || !BASE64URL.test(tail)) return fail("token is not base64url");
  const json = new Uint8Array(Buffer.from(head, "base64url"));
  const signature = new Uint8Array(Buffer.from(tail, "base64url"));
  if (signature.length !== 64) return fail("token signature is not 64 bytes");
  let valid = false;
  try {
    // RFC 8032 strict: ZIP-215 would accept non-canonical encodings and small-order keys.
    valid = ed25519.verify(signature, json, expect.controlPublicKey, { zip215: false });
  } catch {
    valid = false;
  }
  if (!valid) return fail("token signature invalid");
  const payload = parsePayload(json);
  if (typeof payload === "string") return fail(payload);
  let key: Uint8Array;
  try {
    key = keyFromBase64(payload.key, "token key");
  } catch {
    return fail("token key is not a WireGuard key");
  }
  if (!equalBytes(key, expect.nodeKey)) return fail("token is for another key");
  if (payload.relay !== ANY_RELAY && payload.relay !== expect.relayId) {
    return fail("token is for another relay");
  }
  if (payload.exp * 1000 <= expect.nowMs) return fail("token expired");
  const cap = expect.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  if (payload.exp * 1000 - expect.nowMs > cap * 1000) {
    return fail(`token lifetime over the relay's maximum of ${cap} s`);
  }
  return { ok: true, payload };
}

/**
 * Checks that `key` can serve as the control server's Ed25519 public key: 32 bytes, a
 * canonical encoding of a curve point in the prime-order subgroup. A small-order key (the
 * identity or one of the other 7 low-order points) would let anyone forge tokens under lax
 * verifiers, and no honest key is one. Throws an Error saying what is wrong.
 */
export function checkControlKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError("control key: an Ed25519 public key is 32 bytes");
  }
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    point = ed25519.Point.fromBytes(key, false);
  } catch {
    throw new Error("control key: not a canonical Ed25519 point");
  }
  if (point.isSmallOrder()) {
    throw new Error(
      "control key: a small-order Ed25519 point (any signature could pass for it); use the control server's real public key",
    );
  }
  if (!point.isTorsionFree()) {
    throw new Error("control key: not in Ed25519's prime-order subgroup");
  }
}

/**
 * Reads the control server's Ed25519 public key from base64 (`--control-key`) and checks it
 * with checkControlKey. Throws an Error that starts with `what`.
 */
export function parseControlKey(text: string, what = "--control-key"): Uint8Array {
  const key = keyFromBase64(text, what);
  try {
    checkControlKey(key);
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
  return key;
}
