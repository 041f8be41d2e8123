// Fair reading: one client's backlog must not hold up the others' frames. Node reads a socket
// in 64 KiB chunks, up to 32 of them in one go while data keeps coming, and `ws` hands every
// message of a chunk over at once; the relay forwards each before it looks at any other socket.
// A client with a backlog in flight therefore made every other client's PING (or keystroke)
// wait until all of it was forwarded (the relay benchmark, section (c): with 2048 frames in
// flight, its loop was held for up to 21 ms at a time). So a session forwards at most `budget`
// bytes (RelayOptions.readBudget, by default 64 KiB: one read chunk), then stops reading its
// socket and keeps the messages `ws` has already parsed until the event loop has been round
// the other sockets (setImmediate runs after the poll phase), then carries on. Order within the
// session is kept; nothing is dropped.

/** One session's turns at the event loop. */
export class ReadShare {
  /** Bytes handled since this session last let the others go first. */
  private bytes = 0;
  /** Waiting for the next turn: reading is stopped and new messages wait in `deferred`. */
  private waiting = false;
  /** Messages already read (and charged to the rate limit) that wait for the next turn. */
  private readonly deferred: Buffer[] = [];

  constructor(
    private readonly budget: number,
    /** Handles one message (the session's dispatch). */
    private readonly handle: (message: Buffer) => void,
    /** Stops (true) or restarts (false) reading the socket; the session also heeds its rate limit. */
    private readonly hold: (held: boolean) => void,
    /** Whether the session still handles messages. */
    private readonly open: () => boolean,
  ) {}

  /** Whether reading is stopped until the next turn. */
  get holding(): boolean {
    return this.waiting;
  }

  /** A message arrived: handled now, or in the next turn if this session used its budget. */
  take(message: Buffer): void {
    if (this.waiting) {
      this.deferred.push(message);
      return;
    }
    this.bytes += message.length;
    this.handle(message);
    if (this.bytes >= this.budget && !this.waiting && this.open()) {
      this.waiting = true;
      this.hold(true);
      setImmediate(this.nextTurn);
    }
  }

  /** Forgets what waits (the session closed). */
  clear(): void {
    this.deferred.length = 0;
  }

  private readonly nextTurn = (): void => {
    this.bytes = 0;
    while (this.deferred.length > 0 && this.bytes < this.budget && this.open()) {
      const message = this.deferred.shift()!;
      this.bytes += message.length;
      this.handle(message);
    }
    if (!this.open()) {
      this.deferred.length = 0;
      return;
    }
    if (this.deferred.length > 0) {
      setImmediate(this.nextTurn);
      return;
    }
    this.waiting = false;
    this.hold(false);
  };
}
