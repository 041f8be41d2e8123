// Incremental framing of SFTP packets (uint32 length ‖ payload) out of a byte stream that
// arrives in arbitrary chunks. Lengths are checked before anything is buffered: a packet longer
// than MAX_PACKET_LENGTH (256 KiB, OpenSSH's SFTP_MAX_MSG_LENGTH, plus room for headers) or
// empty is refused with SftpProtocolError, so at most one packet is ever held. Each payload is
// returned in its own buffer, never a view of the caller's chunk, so chunks can be reused.

import { SftpProtocolError } from "./errors.ts";

/** OpenSSH's sftp-server packet limit (SFTP_MAX_MSG_LENGTH). */
export const SFTP_MAX_MESSAGE = 256 * 1024;
/** Largest payload accepted: SFTP_MAX_MESSAGE plus 1 KiB for packet headers. */
export const MAX_PACKET_LENGTH = SFTP_MAX_MESSAGE + 1024;

/** Splits a byte stream into SFTP packet payloads (type byte first, length removed). */
export class SftpFramer {
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;

  /** Refuses payloads longer than `maxPacketLength` bytes. */
  constructor(private readonly maxPacketLength = MAX_PACKET_LENGTH) {}

  /** Bytes held of an incomplete packet (length field included). */
  get buffered(): number {
    return this.body === null ? this.headerFill : 4 + this.bodyFill;
  }

  /**
   * Consumes `chunk` and returns the payloads it completed, in order. Throws SftpProtocolError
   * at a length of 0 or above the limit; the framer is unusable afterwards.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === null) {
        const take = Math.min(4 - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < 4) break;
        const h = this.header;
        const length = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
        if (length === 0) throw new SftpProtocolError("packet length 0 (no type byte)");
        if (length > this.maxPacketLength) {
          throw new SftpProtocolError(
            `packet length ${length} exceeds the limit of ${this.maxPacketLength} bytes`,
          );
        }
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
      const body = this.body;
      const take = Math.min(body.length - this.bodyFill, chunk.length - pos);
      body.set(chunk.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === body.length) {
        out.push(body);
        this.body = null;
        this.headerFill = 0;
      }
    }
    return out;
  }

  /** The stream ended: throws SftpProtocolError if it stopped inside a packet. */
  end(): void {
    if (this.body !== null) {
      throw new SftpProtocolError(
        `stream ended inside a packet: ${this.bodyFill} of ${this.body.length} bytes received`,
      );
    }
    if (this.headerFill !== 0) {
      throw new SftpProtocolError(
        `stream ended inside a packet length: ${this.headerFill} of 4 bytes received`,
      );
    }
  }
}
