// OpenSSH private key files, "openssh-key-v1" (OpenSSH PROTOCOL.key), the format ssh-keygen has
// written by default since OpenSSH 7.8:
//
//   -----BEGIN OPENSSH PRIVATE KEY-----   base64 (70 columns) of:
//   "openssh-key-v1\0" ‖ string ciphername ‖ string kdfname ‖ string kdfoptions
//   ‖ uint32 number of keys (1) ‖ string public key blob ‖ string private section [‖ GCM tag]
//
// The private section, encrypted with key ‖ IV = bcrypt_pbkdf(passphrase, salt, rounds) when
// kdfname is "bcrypt" (kdfoptions: string salt ‖ uint32 rounds), holds
//   uint32 checkint ‖ uint32 checkint ‖ string keytype ‖ key fields ‖ string comment ‖ 1,2,3,...
// padded to the cipher block size. Reads and writes ssh-ed25519 (fields: string public ‖
// string seed‖public, PROTOCOL.key / RFC 8709) and ecdsa-sha2-nistp256 (string curve ‖ string Q
// ‖ mpint d, RFC 5656). RSA/DSA keys and the older PEM formats are refused with a message.

import { decodeBase64, encodeBase64 } from "../fingerprint.ts";
import { SshReader, SshWriter } from "../wire.ts";
import { SshKeyError } from "./errors.ts";
import { bcryptKdf, decryptSection, encryptSection, keyCipher } from "./key-cipher.ts";
import { asMalformed, parsePublicKeyBlob, readAsciiName } from "./public-key.ts";
import {
  type UserKey,
  userKeyFromEd25519Seed,
  userKeyFromP256Scalar,
  userKeySecret,
} from "./user-key.ts";

const MAGIC = new TextEncoder().encode("openssh-key-v1\0");
const BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END = "-----END OPENSSH PRIVATE KEY-----";
const UTF8 = new TextEncoder();
const COMMENT_DECODER = new TextDecoder("utf-8");
const SUPPORTED = new Set(["ssh-ed25519", "ecdsa-sha2-nistp256"]);

function malformed(message: string): SshKeyError {
  return new SshKeyError("malformed", message);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The binary content between the armor lines, or an SshKeyError explaining what `text` is. */
function dearmor(text: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const begin = lines.findIndex((l) => l.startsWith("-----BEGIN "));
  if (begin < 0) {
    if (/^\s*(ssh-|ecdsa-|sk-)\S+\s+AAAA/.test(text)) {
      throw malformed("this is a public key; the private key is the file without .pub");
    }
    if (text.startsWith("PuTTY-User-Key-File")) {
      throw new SshKeyError(
        "unsupported",
        "PuTTY .ppk keys are not supported: export it from PuTTYgen as an OpenSSH key",
      );
    }
    throw malformed(`no "${BEGIN}" line: not an OpenSSH private key`);
  }
  const label = lines[begin]!;
  if (label !== BEGIN) {
    const kind = /^-----BEGIN (.*?)-----$/.exec(label)?.[1] ?? label;
    throw new SshKeyError(
      "unsupported",
      `"${kind}" is an old PEM key format, not supported: convert it with ` +
        `"ssh-keygen -p -f FILE" (rewrites it as an OpenSSH key) or, better, make an ed25519 key`,
    );
  }
  const end = lines.indexOf(END, begin + 1);
  if (end < 0) throw malformed(`no "${END}" line: the key is truncated`);
  const body = decodeBase64(lines.slice(begin + 1, end).join(""));
  if (!body) throw malformed("the key's base64 is corrupt");
  return body;
}

/** Reads the private section after the check integers; returns the key. */
function readPrivateKey(reader: SshReader, publicBlob: Uint8Array): UserKey {
  const pub = parsePublicKeyBlob(publicBlob);
  const type = readAsciiName(reader, "private key type");
  if (type !== pub.type)
    throw malformed(`private key is ${type} but its public key is ${pub.type}`);
  let make: (comment: string) => UserKey;
  if (pub.type === "ssh-ed25519") {
    const publicKey = reader.readString("ed25519 public key");
    const pair = reader.readString("ed25519 private key");
    if (pair.length !== 64 || !bytesEqual(pair.subarray(32), publicKey)) {
      throw malformed("ssh-ed25519 private key is not seed ‖ public key");
    }
    if (!bytesEqual(publicKey, pub.key)) throw malformed("private and public keys do not match");
    const seed = pair.subarray(0, 32);
    make = (comment) => userKeyFromEd25519Seed(seed, comment);
  } else if (pub.type === "ecdsa-sha2-nistp256") {
    const curve = readAsciiName(reader, "ecdsa curve name");
    const q = reader.readString("ecdsa public point");
    const d = reader.readMpint("ecdsa private scalar");
    if (curve !== "nistp256") throw malformed(`ecdsa-sha2-nistp256 key names curve "${curve}"`);
    if (!bytesEqual(q, pub.q)) throw malformed("private and public keys do not match");
    const magnitude = d[0] === 0 ? d.subarray(1) : d;
    if (d.length === 0 || d[0]! >= 0x80 || magnitude.length > 32) {
      throw malformed("ecdsa private scalar out of range");
    }
    const scalar = new Uint8Array(32);
    scalar.set(magnitude, 32 - magnitude.length);
    make = (comment) => {
      try {
        return userKeyFromP256Scalar(scalar, comment);
      } catch (e) {
        throw new SshKeyError("malformed", "ecdsa private scalar out of range", { cause: e });
      }
    };
  } else {
    throw new SshKeyError("unsupported", `${pub.type} keys are not supported: use ed25519`);
  }
  const comment = COMMENT_DECODER.decode(reader.readString("comment"));
  // Padding 1, 2, 3, ... (mod 256); like OpenSSH, its length is not checked against blockSize.
  for (let i = 1; reader.remaining > 0; i++) {
    if (reader.readByte("padding") !== (i & 0xff))
      throw malformed("private section padding is corrupt");
  }
  const key = make(comment);
  // The public key derived from the private one must be the file's (a tampered-with file
  // could pair someone else's public key with our private key).
  if (!bytesEqual(key.publicBlob, publicBlob)) {
    throw malformed("the private key does not match the public key in the file");
  }
  return key;
}

/**
 * Parses an OpenSSH private key file ("-----BEGIN OPENSSH PRIVATE KEY-----", PROTOCOL.key) of
 * type ssh-ed25519 or ecdsa-sha2-nistp256, unencrypted or encrypted with bcrypt and aes*-ctr,
 * aes*-cbc or aes*-gcm@openssh.com. Throws SshKeyError: "passphrase-required" (encrypted, no
 * passphrase), "bad-passphrase" (check bytes differ after decryption), "unsupported" (RSA, DSA,
 * old PEM formats, other ciphers/KDFs), "malformed" (anything else wrong with the file).
 */
export function parseOpensshPrivateKey(text: string, passphrase?: string): UserKey {
  const bytes = dearmor(text);
  return asMalformed("OpenSSH private key", () => {
    const reader = new SshReader(bytes);
    if (!bytesEqual(reader.readRaw(Math.min(MAGIC.length, bytes.length), "magic"), MAGIC)) {
      throw malformed('not an "openssh-key-v1" key');
    }
    const cipher = keyCipher(readAsciiName(reader, "cipher name"));
    const kdf = readAsciiName(reader, "kdf name");
    const kdfOptions = reader.readString("kdf options");
    const count = reader.readUint32("number of keys");
    if (count !== 1) {
      throw new SshKeyError("unsupported", `files holding ${count} keys are not supported`);
    }
    const publicBlob = reader.readString("public key");
    const type = readAsciiName(new SshReader(publicBlob), "public key type");
    if (!SUPPORTED.has(type)) {
      throw new SshKeyError(
        "unsupported",
        `${type} keys are not supported: make an ed25519 key (ssh-keygen -t ed25519)`,
      );
    }
    parsePublicKeyBlob(publicBlob);
    const section = reader.readString("private section");
    const tag = reader.readRaw(cipher.tagLength, "authentication tag");
    reader.expectEnd("OpenSSH private key");
    if (section.length % cipher.blockSize !== 0) {
      throw malformed(`private section is not a multiple of ${cipher.blockSize} bytes`);
    }

    let plain: Uint8Array;
    if (kdf === "none") {
      if (cipher.name !== "none") throw malformed(`cipher ${cipher.name} without a kdf`);
      if (kdfOptions.length !== 0) throw malformed("kdf none with kdf options");
      plain = section;
    } else if (kdf === "bcrypt") {
      if (cipher.name === "none") throw malformed("kdf bcrypt without a cipher");
      const options = new SshReader(kdfOptions);
      const salt = options.readString("bcrypt salt");
      const rounds = options.readUint32("bcrypt rounds");
      options.expectEnd("bcrypt options");
      if (passphrase === undefined || passphrase === "") {
        throw new SshKeyError(
          "passphrase-required",
          "this key is encrypted: a passphrase is needed",
        );
      }
      const keyIv = bcryptKdf(
        UTF8.encode(passphrase),
        salt,
        rounds,
        cipher.keyLength + cipher.ivLength,
      );
      plain = decryptSection(cipher, keyIv, section, tag);
    } else {
      throw new SshKeyError("unsupported", `private key kdf "${kdf}" is not supported`);
    }

    const inner = new SshReader(plain);
    const check1 = inner.readUint32("checkint");
    const check2 = inner.readUint32("checkint");
    if (check1 !== check2) {
      if (cipher.name === "none") throw malformed("check bytes differ: the key is corrupt");
      throw new SshKeyError("bad-passphrase", "wrong passphrase (or corrupt key)");
    }
    return readPrivateKey(inner, publicBlob);
  });
}

/**
 * Writes `key` (made by generateUserKey, userKeyFrom* or parseOpensshPrivateKey) as an OpenSSH
 * private key file like ssh-keygen's: unencrypted when `passphrase` is absent or "", else bcrypt
 * with `rounds` rounds and a random 16-byte salt, and aes256-ctr. Base64 in 70-column lines.
 */
export function exportOpensshPrivateKey(key: UserKey, passphrase?: string, rounds = 16): string {
  const secret = userKeySecret(key);
  if (!secret) throw new TypeError("exportOpensshPrivateKey: not a key made by worker/ssh/keys");
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 0xffffffff) {
    throw new RangeError(`exportOpensshPrivateKey: bad bcrypt rounds ${rounds}`);
  }
  const encrypted = passphrase !== undefined && passphrase !== "";
  const cipher = keyCipher(encrypted ? "aes256-ctr" : "none");
  const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));

  const checkint = new DataView(random(4).buffer).getUint32(0);
  const plain = new SshWriter(256).writeUint32(checkint).writeUint32(checkint);
  plain.writeString(secret.type);
  if (secret.type === "ssh-ed25519") {
    const pair = new Uint8Array(64);
    pair.set(secret.secret);
    pair.set(secret.publicKey, 32);
    plain.writeString(secret.publicKey).writeString(pair);
  } else {
    plain.writeString("nistp256").writeString(secret.publicKey).writeMpintUnsigned(secret.secret);
  }
  plain.writeString(key.comment);
  for (let i = 1; plain.length % cipher.blockSize !== 0; i++) plain.writeByte(i);

  const kdfOptions = new SshWriter(32);
  let section: { data: Uint8Array; tag: Uint8Array } = {
    data: plain.toBytes(),
    tag: new Uint8Array(0),
  };
  if (encrypted) {
    const salt = random(16);
    kdfOptions.writeString(salt).writeUint32(rounds);
    const keyIv = bcryptKdf(
      UTF8.encode(passphrase),
      salt,
      rounds,
      cipher.keyLength + cipher.ivLength,
    );
    section = encryptSection(cipher, keyIv, section.data);
  }
  const file = new SshWriter(512)
    .writeRaw(MAGIC)
    .writeString(cipher.name)
    .writeString(encrypted ? "bcrypt" : "none")
    .writeString(kdfOptions.toBytes())
    .writeUint32(1)
    .writeString(key.publicBlob)
    .writeString(section.data)
    .writeRaw(section.tag)
    .toBytes();
  const base64 = encodeBase64(file);
  const lines = [BEGIN];
  for (let i = 0; i < base64.length; i += 70) lines.push(base64.slice(i, i + 70));
  lines.push(END, "");
  return lines.join("\n");
}
