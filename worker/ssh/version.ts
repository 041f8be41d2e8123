// The SSH identification exchange (RFC 4253 §4.2): our identification line, and an
// incremental parser of the server's, which may be preceded by banner lines. Every violation
// throws SshProtocolError; after one, the parser keeps throwing it.

import { SshProtocolError } from "./wire.ts";

/** Longest line, CR LF included (RFC 4253 §4.2). */
export const MAX_IDENTIFICATION_LINE = 255;
/** Most banner lines accepted before the identification (OpenSSH's limit). */
export const MAX_BANNER_LINES = 1024;
/** Most bytes accepted before the end of the identification line. */
export const MAX_IDENTIFICATION_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SSH_PREFIX = "SSH-";
const BANNER_DECODER = new TextDecoder("utf-8");

/** Our identification string without CR LF: `SSH-2.0-Corridor_<version>`. */
export function clientIdentification(version: string): string {
  if (!/^[\x21-\x7e]+$/.test(version) || version.includes("-")) {
    throw new RangeError(`identification: bad software version ${JSON.stringify(version)}`);
  }
  return `SSH-2.0-Corridor_${version}`;
}

/** The bytes to send for an identification string: the line followed by CR LF. */
export function encodeIdentification(identification: string): Uint8Array {
  const out = new Uint8Array(identification.length + 2);
  for (let i = 0; i < identification.length; i++) out[i] = identification.charCodeAt(i);
  out[identification.length] = CR;
  out[identification.length + 1] = LF;
  return out;
}

/** The server's identification, parsed. */
export interface ServerIdentification {
  /** The protocol version: "2.0" or "1.99". */
  readonly protoVersion: string;
  /** The software version, e.g. "OpenSSH_9.2p1". */
  readonly softwareVersion: string;
  /** The comments after the software version, or null when there are none. */
  readonly comments: string | null;
  /** The identification line without its line end, as hashed in the key exchange. */
  readonly identification: string;
  /** The lines the server sent before its identification, without line ends. */
  readonly bannerLines: readonly string[];
  /** The bytes received after the identification line (the start of the first packet). */
  readonly rest: Uint8Array;
}

/**
 * Parses the server's identification from a byte stream, fed as it arrives. `push` returns
 * the identification once its line is complete, or null when it needs more bytes; it throws
 * SshProtocolError for an over-long line, too many banner lines or bytes, a NUL byte, a
 * malformed identification or an unsupported protocol version.
 */
export class IdentificationParser {
  private readonly line = new Uint8Array(MAX_IDENTIFICATION_LINE);
  private lineLength = 0;
  private total = 0;
  private readonly banner: string[] = [];
  private failure: SshProtocolError | null = null;
  private result: ServerIdentification | null = null;

  /** Feeds received bytes; see the class description. */
  push(bytes: Uint8Array): ServerIdentification | null {
    if (this.failure !== null) throw this.failure;
    if (this.result !== null) {
      throw this.fail("identification: bytes pushed after the identification was complete");
    }
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      this.total++;
      if (byte === 0) {
        throw this.fail(`identification: NUL byte at stream offset ${this.total - 1}`);
      }
      if (this.total > MAX_IDENTIFICATION_BYTES) {
        throw this.fail(
          `identification: no identification line within the first ${MAX_IDENTIFICATION_BYTES} bytes`,
        );
      }
      if (byte !== LF) {
        if (this.lineLength >= MAX_IDENTIFICATION_LINE - 1) {
          throw this.fail(
            `identification: line ${this.banner.length + 1} longer than ${MAX_IDENTIFICATION_LINE} bytes`,
          );
        }
        this.line[this.lineLength++] = byte;
        continue;
      }
      let end = this.lineLength;
      if (end > 0 && this.line[end - 1] === CR) end--;
      const content = this.line.subarray(0, end);
      this.lineLength = 0;
      if (!startsWithSsh(content)) {
        if (this.banner.length >= MAX_BANNER_LINES) {
          throw this.fail(
            `identification: more than ${MAX_BANNER_LINES} banner lines before the identification`,
          );
        }
        this.banner.push(BANNER_DECODER.decode(content));
        continue;
      }
      this.result = this.parse(content, bytes.slice(i + 1));
      return this.result;
    }
    return null;
  }

  private parse(content: Uint8Array, rest: Uint8Array): ServerIdentification {
    let identification = "";
    for (let i = 0; i < content.length; i++) {
      const c = content[i]!;
      if (c < 0x20 || c > 0x7e) {
        throw this.fail(
          `identification: non-printable byte 0x${c.toString(16).padStart(2, "0")} at column ${i}`,
        );
      }
      identification += String.fromCharCode(c);
    }
    const dash = identification.indexOf("-", SSH_PREFIX.length);
    if (dash < 0) {
      throw this.fail(`identification: no software version in ${JSON.stringify(identification)}`);
    }
    const protoVersion = identification.slice(SSH_PREFIX.length, dash);
    if (protoVersion !== "2.0" && protoVersion !== "1.99") {
      throw this.fail(
        `identification: unsupported protocol version ${JSON.stringify(protoVersion)} (need 2.0)`,
      );
    }
    const afterDash = identification.slice(dash + 1);
    const space = afterDash.indexOf(" ");
    const softwareVersion = space < 0 ? afterDash : afterDash.slice(0, space);
    if (softwareVersion.length === 0) {
      throw this.fail(
        `identification: empty software version in ${JSON.stringify(identification)}`,
      );
    }
    return {
      protoVersion,
      softwareVersion,
      comments: space < 0 ? null : afterDash.slice(space + 1),
      identification,
      bannerLines: this.banner,
      rest,
    };
  }

  private fail(message: string): SshProtocolError {
    this.failure = new SshProtocolError(message, "identification");
    return this.failure;
  }
}

function startsWithSsh(line: Uint8Array): boolean {
  if (line.length < SSH_PREFIX.length) return false;
  for (let i = 0; i < SSH_PREFIX.length; i++) {
    if (line[i] !== SSH_PREFIX.charCodeAt(i)) return false;
  }
  return true;
}
