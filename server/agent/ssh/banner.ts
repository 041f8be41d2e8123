// SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4) sent in the middle of authentication: how a refused
// caller learns why ("may not log in as root: the policy's ssh rules allow ubuntu", "sign in
// again at URL"). OpenSSH prints a banner at its default log level and our client hands it to
// onBanner, while a DISCONNECT description or FAILURE carries no text a client shows.
//
// ssh2 (1.x) sends a banner only from its server-wide `banner` option, right after
// SERVICE_ACCEPT, before the user name is known. The reason depends on the user asked for,
// so this writes the packet through the connection's own packet writer and sender, as
// Protocol.serviceAccept() does for the configured banner (same writer, same queueing during
// a key re-exchange). test/agent/ssh-*.test.ts shows it reaching OpenSSH and our client; an
// ssh2 upgrade that changes these internals fails there, not in production silently.

import { createRequire } from "node:module";
import type { Connection } from "ssh2";

/** Longest banner sent; longer text is cut (a reason is one or two sentences). */
export const MAX_BANNER_BYTES = 2048;
const USERAUTH_BANNER = 53;

/** The parts of ssh2's Protocol object this file uses. */
interface PacketWriter {
  allocStart: number;
  alloc(
    length: number,
  ): Buffer & { utf8Write(text: string, offset: number, length: number): number };
  finalize(packet: Buffer): Buffer;
}
interface ProtocolInternals {
  _packetRW: { write: PacketWriter };
}
type SendPacket = (protocol: ProtocolInternals, packet: Buffer) => boolean;

const require = createRequire(import.meta.url);
const { sendPacket } = require("ssh2/lib/protocol/utils.js") as { sendPacket: SendPacket };

function protocolOf(connection: Connection): ProtocolInternals | undefined {
  const protocol: unknown = Reflect.get(connection, "_protocol");
  if (typeof protocol !== "object" || protocol === null) return undefined;
  const rw: unknown = Reflect.get(protocol, "_packetRW");
  if (typeof rw !== "object" || rw === null || typeof Reflect.get(rw, "write") !== "object")
    return undefined;
  return protocol as ProtocolInternals;
}

/** Cuts `text` to at most `max` UTF-8 bytes without splitting a character. */
function cut(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text.slice(0, max);
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}

/**
 * Sends `text` (one line or a few; CRLF-terminated as RFC 4252 asks) as a USERAUTH_BANNER on
 * `connection`. Only valid during authentication. Returns false when the connection's
 * internals are not the ones this was written for (then nothing is sent).
 */
export function sendUserauthBanner(connection: Connection, text: string): boolean {
  const protocol = protocolOf(connection);
  if (protocol === undefined) return false;
  const lines = cut(text, MAX_BANNER_BYTES - 2).replace(/\r?\n/g, "\r\n");
  const banner = lines.endsWith("\r\n") ? lines : `${lines}\r\n`;
  const length = Buffer.byteLength(banner);
  const writer = protocol._packetRW.write;
  const start = writer.allocStart;
  const packet = writer.alloc(1 + 4 + length + 4);
  packet[start] = USERAUTH_BANNER;
  packet.writeUInt32BE(length, start + 1);
  packet.utf8Write(banner, start + 5, length);
  // Empty language tag.
  packet.writeUInt32BE(0, start + 5 + length);
  sendPacket(protocol, writer.finalize(packet));
  return true;
}
