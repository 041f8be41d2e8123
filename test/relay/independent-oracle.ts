// An implementation of relay protocol v1's primitives that shares nothing with ours (DESIGN
// §4): X25519 and Ed25519 from node:crypto, keyed BLAKE2s-256 from Python's hashlib (the
// reference implementation), endpoints laid out by hand. For the independent protocol tests.

import { execFile } from "node:child_process";
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  sign,
} from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");

/** An X25519 private key object from 32 raw bytes. */
export function x25519Private(raw: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([X25519_PKCS8, raw]),
    format: "der",
    type: "pkcs8",
  });
}

/** The raw 32-byte public key (the last 32 bytes of the SPKI form). */
export function rawPublic(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
}

/** X25519(private, raw peer public key). */
export function x25519Shared(privateKey: KeyObject, peerRaw: Uint8Array): Buffer {
  const publicKey = createPublicKey({
    key: Buffer.concat([X25519_SPKI, peerRaw]),
    format: "der",
    type: "spki",
  });
  return diffieHellman({ privateKey, publicKey });
}

/** Keyed BLAKE2s-256 by Python's hashlib. */
export async function pythonBlake2s(key: Uint8Array, message: Uint8Array): Promise<Buffer> {
  const { stdout } = await run("python3", [
    "-c",
    "import hashlib,sys; print(hashlib.blake2s(bytes.fromhex(sys.argv[2]), key=bytes.fromhex(sys.argv[1]), digest_size=32).hexdigest())",
    Buffer.from(key).toString("hex"),
    Buffer.from(message).toString("hex"),
  ]);
  return Buffer.from(stdout.trim(), "hex");
}

/** A node's X25519 key pair. */
export interface Node {
  privateKey: KeyObject;
  publicKey: Buffer;
}

/** A node whose private key is 32 bytes of `seed`. */
export function node(seed: number): Node {
  const raw = Buffer.alloc(32, seed);
  const privateKey = x25519Private(raw);
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** proof = keyed BLAKE2s-256(challenge), key = X25519(node private, relay public). */
export async function proofFor(
  n: Node,
  relayKey: Uint8Array,
  challenge: Uint8Array,
): Promise<Buffer> {
  return pythonBlake2s(x25519Shared(n.privateKey, relayKey), challenge);
}

/** A token as §4 defines it, signed with node:crypto's Ed25519. */
export function tokenFor(control: KeyObject, payload: Record<string, unknown>): string {
  const json = Buffer.from(JSON.stringify(payload), "utf8");
  const signature = sign(null, json, control);
  return `${json.toString("base64url")}.${signature.toString("base64url")}`;
}

/** 16 bytes of IPv6 (IPv4 as ::ffff:a.b.c.d) then a big-endian u16 port. */
export function endpoint(ipv4: [number, number, number, number], port: number): Buffer {
  return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ipv4, port >> 8, port & 0xff]);
}

/** An Ed25519 private key object from a 32-byte seed (the control server's key). */
export function ed25519Private(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, seed]),
    format: "der",
    type: "pkcs8",
  });
}
