// The two errors an SFTP session reports. SftpError is a request the server (or the client, for
// the two client-side pseudo-codes) answered with a failure status: it carries the numeric code,
// its name, the server's message, and which operation on which path failed. SftpProtocolError
// is a server that broke the protocol (a malformed or unexpected packet): the session is over.

/** SSH_FX_* status codes by number, for names in messages (draft-ietf-secsh-filexfer-02 §7). */
const STATUS_NAMES: readonly string[] = [
  "SSH_FX_OK",
  "SSH_FX_EOF",
  "SSH_FX_NO_SUCH_FILE",
  "SSH_FX_PERMISSION_DENIED",
  "SSH_FX_FAILURE",
  "SSH_FX_BAD_MESSAGE",
  "SSH_FX_NO_CONNECTION",
  "SSH_FX_CONNECTION_LOST",
  "SSH_FX_OP_UNSUPPORTED",
];

/** Text used when the server's message is empty. */
const STATUS_TEXT: readonly string[] = [
  "Success",
  "End of file",
  "No such file",
  "Permission denied",
  "Failure",
  "Bad message",
  "No connection",
  "Connection lost",
  "Operation unsupported",
];

/** The name of an SSH_FX_* status code: "SSH_FX_NO_SUCH_FILE", or "SSH_FX_UNKNOWN(42)". */
export function statusCodeName(code: number): string {
  return STATUS_NAMES[code] ?? `SSH_FX_UNKNOWN(${code})`;
}

/** A server (or session) that broke the SFTP protocol; the session is closed when it is seen. */
export class SftpProtocolError extends Error {
  override readonly name = "SftpProtocolError";
}

/**
 * A request that failed: the server answered SSH_FXP_STATUS with a code other than SSH_FX_OK,
 * or the session ended (SSH_FX_CONNECTION_LOST / SSH_FX_NO_CONNECTION, generated locally as
 * the draft allows). The message reads "stat /nope: No such file (SSH_FX_NO_SUCH_FILE)".
 */
export class SftpError extends Error {
  override readonly name = "SftpError";
  /** The SSH_FX_* status code. */
  readonly code: number;
  /** The code's name, e.g. "SSH_FX_NO_SUCH_FILE". */
  readonly codeName: string;
  /** The server's error message (or the client's, for the connection codes); may be empty. */
  readonly serverMessage: string;
  /** The operation that failed, e.g. "stat", "open", "rename". */
  readonly operation: string;
  /** The path (or "from -> to" for rename) the operation was on, when it had one. */
  readonly path: string | undefined;

  /** Builds the error; `options.cause` is kept as the standard Error cause. */
  constructor(
    code: number,
    serverMessage: string,
    operation: string,
    path?: string,
    options?: ErrorOptions,
  ) {
    const text = serverMessage !== "" ? serverMessage : (STATUS_TEXT[code] ?? "Unknown error");
    const what = path === undefined ? operation : `${operation} ${path}`;
    super(`${what}: ${text} (${statusCodeName(code)})`, options);
    this.code = code;
    this.codeName = statusCodeName(code);
    this.serverMessage = serverMessage;
    this.operation = operation;
    this.path = path;
  }
}
