// SSH_MSG_KEXINIT (RFC 4253 §7.1): its encoding, a bounds-checked parser, and the algorithm
// negotiation (for each list, the first of the client's names the server also lists).
//
// Two pseudo-algorithms ride in the kex list of the first KEXINIT only: "ext-info-c"
// (RFC 8308: we want the server's EXT_INFO with server-sig-algs) and
// "kex-strict-c-v00@openssh.com" (OpenSSH PROTOCOL §1.10, the Terrapin countermeasure).
// They are never chosen as the kex method.

import { SSH_MSG_KEXINIT } from "../messages.ts";
import { SshProtocolError, SshReader, SshWriter } from "../wire.ts";

/** Client marker for strict key exchange. */
export const KEX_STRICT_CLIENT = "kex-strict-c-v00@openssh.com";
/** Server marker for strict key exchange. */
export const KEX_STRICT_SERVER = "kex-strict-s-v00@openssh.com";
/** Client marker asking for SSH_MSG_EXT_INFO (RFC 8308 §2.1). */
export const EXT_INFO_CLIENT = "ext-info-c";

const COOKIE_BYTES = 16;
const PSEUDO_KEX = new Set([
  KEX_STRICT_CLIENT,
  KEX_STRICT_SERVER,
  EXT_INFO_CLIENT,
  "ext-info-s",
  "kex-strict-c",
  "kex-strict-s",
]);

/** The ten algorithm lists of a KEXINIT. */
export interface AlgorithmLists {
  kex: readonly string[];
  hostKey: readonly string[];
  cipherClientToServer: readonly string[];
  cipherServerToClient: readonly string[];
  macClientToServer: readonly string[];
  macServerToClient: readonly string[];
  compressionClientToServer: readonly string[];
  compressionServerToClient: readonly string[];
  languagesClientToServer: readonly string[];
  languagesServerToClient: readonly string[];
}

/** A parsed KEXINIT. */
export interface KexInit extends AlgorithmLists {
  cookie: Uint8Array;
  firstKexPacketFollows: boolean;
}

/** What both sides agreed on. */
export interface Negotiated {
  kex: string;
  hostKey: string;
  cipherClientToServer: string;
  cipherServerToClient: string;
  /** null for AEAD ciphers, whose MAC is built in. */
  macClientToServer: string | null;
  macServerToClient: string | null;
  /** The server offered strict key exchange and we asked for it. */
  strict: boolean;
}

const ORDER: readonly (keyof AlgorithmLists)[] = [
  "kex",
  "hostKey",
  "cipherClientToServer",
  "cipherServerToClient",
  "macClientToServer",
  "macServerToClient",
  "compressionClientToServer",
  "compressionServerToClient",
  "languagesClientToServer",
  "languagesServerToClient",
];

/** Encodes a KEXINIT payload (message number included). */
export function encodeKexInit(lists: AlgorithmLists, cookie: Uint8Array): Uint8Array {
  if (cookie.length !== COOKIE_BYTES) throw new RangeError("kexinit: cookie must be 16 bytes");
  const w = new SshWriter(512).writeByte(SSH_MSG_KEXINIT).writeRaw(cookie);
  for (const key of ORDER) w.writeNameList(lists[key]);
  return w.writeBoolean(false).writeUint32(0).toBytes();
}

/** Parses a KEXINIT payload (message number included); throws SshProtocolError. */
export function parseKexInit(payload: Uint8Array): KexInit {
  const r = new SshReader(payload);
  if (r.readByte("message type") !== SSH_MSG_KEXINIT) {
    throw new SshProtocolError("kexinit: not a KEXINIT message", "kexinit");
  }
  const cookie = r.readRaw(COOKIE_BYTES, "kexinit cookie");
  const lists: Partial<Record<keyof AlgorithmLists, string[]>> = {};
  for (const key of ORDER) lists[key] = r.readNameList(`kexinit ${key} list`);
  const firstKexPacketFollows = r.readBoolean("kexinit first_kex_packet_follows");
  r.readUint32("kexinit reserved");
  r.expectEnd("KEXINIT");
  return { ...(lists as AlgorithmLists), cookie, firstKexPacketFollows };
}

function choose(what: string, client: readonly string[], server: readonly string[]): string {
  for (const name of client) {
    if (!PSEUDO_KEX.has(name) && server.includes(name)) return name;
  }
  const offered = server.filter((n) => !PSEUDO_KEX.has(n)).join(",") || "(none)";
  throw new SshProtocolError(
    `no matching ${what}: we offer ${client.filter((n) => !PSEUDO_KEX.has(n)).join(",")}; the server offers ${offered}`,
    "kexinit",
  );
}

/**
 * Negotiates per RFC 4253 §7.1. `aeadCiphers` names the ciphers whose MAC is implicit (the
 * MAC list is then not consulted for that direction). Throws SshProtocolError naming the
 * list that has no common algorithm.
 */
export function negotiate(
  client: AlgorithmLists,
  server: KexInit,
  aeadCiphers: ReadonlySet<string>,
): Negotiated {
  const kex = choose("key exchange method", client.kex, server.kex);
  const hostKey = choose("host key algorithm", client.hostKey, server.hostKey);
  const cipherClientToServer = choose(
    "cipher (client to server)",
    client.cipherClientToServer,
    server.cipherClientToServer,
  );
  const cipherServerToClient = choose(
    "cipher (server to client)",
    client.cipherServerToClient,
    server.cipherServerToClient,
  );
  const macClientToServer = aeadCiphers.has(cipherClientToServer)
    ? null
    : choose("MAC (client to server)", client.macClientToServer, server.macClientToServer);
  const macServerToClient = aeadCiphers.has(cipherServerToClient)
    ? null
    : choose("MAC (server to client)", client.macServerToClient, server.macServerToClient);
  // Only "none" is offered: checked so a server that insists on zlib fails clearly here.
  choose(
    "compression (client to server)",
    client.compressionClientToServer,
    server.compressionClientToServer,
  );
  choose(
    "compression (server to client)",
    client.compressionServerToClient,
    server.compressionServerToClient,
  );
  return {
    kex,
    hostKey,
    cipherClientToServer,
    cipherServerToClient,
    macClientToServer,
    macServerToClient,
    strict: client.kex.includes(KEX_STRICT_CLIENT) && server.kex.includes(KEX_STRICT_SERVER),
  };
}

/**
 * Whether the server's guessed first kex packet (first_kex_packet_follows) is wrong and must
 * be ignored: its guess is its first kex and host key algorithm (RFC 4253 §7).
 */
export function serverGuessWrong(server: KexInit, negotiated: Negotiated): boolean {
  if (!server.firstKexPacketFollows) return false;
  const firstKex = server.kex.find((n) => !PSEUDO_KEX.has(n));
  return firstKex !== negotiated.kex || server.hostKey[0] !== negotiated.hostKey;
}
