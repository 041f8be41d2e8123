// Why an SSH connection ended or a step of it failed, as one error type the caller can show:
// a disconnect reason code (RFC 4250 §4.2.2), who ended it, and a message for people.

import { disconnectReasonName } from "./messages.ts";

/** Who ended the connection. */
export type DisconnectBy =
  /** The server sent SSH_MSG_DISCONNECT. */
  | "server"
  /** We ended it: the caller asked, or we found a protocol violation and told the server. */
  | "client"
  /** The byte stream ended or failed without a DISCONNECT. */
  | "network";

/** An SSH connection failure or end, with the reason. */
export class SshError extends Error {
  override readonly name: string = "SshError";

  constructor(
    message: string,
    /** The RFC 4250 disconnect reason code that fits (or the server sent). */
    readonly code: number,
    readonly by: DisconnectBy,
  ) {
    super(message);
  }

  /** The code's RFC name, e.g. "SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE". */
  get reasonName(): string {
    return disconnectReasonName(this.code);
  }
}

/** A host key the caller refused, or one that does not match what is known for the host. */
export class HostKeyError extends SshError {
  override readonly name = "HostKeyError";
}

/**
 * Text from the server made safe to show: control characters (terminal escapes included)
 * become spaces, and it is cut at `max` characters.
 */
export function printableRemoteText(text: string, max = 512): string {
  let out = "";
  for (const ch of text.slice(0, max)) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0) ? " " : ch;
  }
  return out;
}
