// The one error the map stream's codec and map state throw: what is wrong, where in the
// message ("map.peers[3].key"), and the close code the receiving side should use.

/** WebSocket close code for a message over MAX_CONTROL_MESSAGE. */
export const CLOSE_TOO_LARGE = 1009;

/** A control message that is malformed, out of bounds, or not valid in the current state. */
export class ControlProtocolError extends Error {
  override readonly name = "ControlProtocolError";
  /** Where in the message: "map.peers[3].key", "seq"; "message" for the message as a whole. */
  readonly path: string;
  /** What is wrong there, without the path. */
  readonly reason: string;
  /** How the stream should be closed: 4400 (protocol error), or 1009 (too large). */
  readonly closeCode: number;

  constructor(path: string, reason: string, closeCode = 4400) {
    super(`${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
    this.closeCode = closeCode;
  }
}
