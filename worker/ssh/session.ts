// Session channel requests (RFC 4254 §6): pty-req with terminal modes, env, shell, exec,
// subsystem, window-change and signal, on top of an SshChannel's streams and exit status.

import type { ExitStatus, SshChannel } from "./channel.ts";
import type { SshWriter } from "./wire.ts";

/** Terminal size in characters (and optionally pixels). */
export interface TerminalSize {
  cols: number;
  rows: number;
  widthPx?: number;
  heightPx?: number;
}

/** pty-req parameters. */
export interface PtyOptions extends TerminalSize {
  /** TERM, e.g. "xterm-256color". */
  term?: string;
  /** Terminal modes by opcode (RFC 4254 §8); merged over our defaults. */
  modes?: Readonly<Record<number, number>>;
}

/** Session options (none yet beyond the channel's). */
/** Settings of one session channel. */
export interface SessionOptions {
  /**
   * The window this session's channel grants (default: the connection's windowSize). An
   * interactive terminal wants a small one: see TERMINAL_WINDOW in worker/engine/session.ts.
   */
  windowSize?: number;
}

/** RFC 4254 §8 opcodes we set by default. */
export const TTY_OP_END = 0;
export const VINTR = 1;
export const VERASE = 3;
export const ECHO = 53;
export const IUTF8 = 42;
export const TTY_OP_ISPEED = 128;
export const TTY_OP_OSPEED = 129;

/** Modes a browser terminal wants: ^C interrupts, DEL erases, echo on, UTF-8 input. */
const DEFAULT_MODES: Readonly<Record<number, number>> = {
  [VINTR]: 3,
  [VERASE]: 127,
  [ECHO]: 1,
  [IUTF8]: 1,
  [TTY_OP_ISPEED]: 38400,
  [TTY_OP_OSPEED]: 38400,
};

/** Signal names RFC 4254 §6.10 defines (without "SIG"). */
export const SIGNALS = [
  "ABRT",
  "ALRM",
  "FPE",
  "HUP",
  "ILL",
  "INT",
  "KILL",
  "PIPE",
  "QUIT",
  "SEGV",
  "TERM",
  "USR1",
  "USR2",
] as const;

function checkSize(size: TerminalSize): void {
  for (const name of ["cols", "rows", "widthPx", "heightPx"] as const) {
    const v = size[name];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`terminal ${name} must be an integer in 0..2^32-1, got ${v}`);
    }
  }
}

function writeSize(w: SshWriter, size: TerminalSize): SshWriter {
  return w
    .writeUint32(size.cols)
    .writeUint32(size.rows)
    .writeUint32(size.widthPx ?? 0)
    .writeUint32(size.heightPx ?? 0);
}

/** A session channel. */
export class SshSession {
  constructor(
    readonly channel: SshChannel,
    _options: SessionOptions = {},
  ) {}

  /** Output of the shell or command. */
  get stdout(): ReadableStream<Uint8Array> {
    return this.channel.readable;
  }

  get stderr(): ReadableStream<Uint8Array> {
    return this.channel.stderr;
  }

  /** Input; closing it sends EOF. */
  get stdin(): WritableStream<Uint8Array> {
    return this.channel.writable;
  }

  /** How it ended; settles when the channel closes. */
  get exit(): Promise<ExitStatus> {
    return this.channel.exit;
  }

  /** Asks for a pseudo-terminal; resolves false when the server refuses. */
  requestPty(options: PtyOptions): Promise<boolean> {
    checkSize(options);
    const modes = { ...DEFAULT_MODES, ...(options.modes ?? {}) };
    return this.channel.request("pty-req", true, (w) => {
      writeSize(w.writeString(options.term ?? "xterm-256color"), options);
      const encoded: number[] = [];
      const view = new DataView(new ArrayBuffer(4));
      for (const [opcode, value] of Object.entries(modes)) {
        const op = Number(opcode);
        if (!Number.isInteger(op) || op <= TTY_OP_END || op >= 160) {
          throw new RangeError(`terminal mode opcode ${opcode} out of range 1..159`);
        }
        view.setUint32(0, value >>> 0);
        encoded.push(op, ...new Uint8Array(view.buffer));
      }
      encoded.push(TTY_OP_END);
      w.writeString(Uint8Array.from(encoded));
    });
  }

  /** Sets an environment variable (servers accept only what they allow, e.g. AcceptEnv). */
  env(name: string, value: string): Promise<boolean> {
    return this.channel.request("env", true, (w) => w.writeString(name).writeString(value));
  }

  /** Starts the user's login shell. */
  async shell(): Promise<void> {
    if (!(await this.channel.request("shell", true)))
      throw new Error("the server refused to start a shell");
  }

  /** Runs `command`. */
  async exec(command: string): Promise<void> {
    if (!(await this.channel.request("exec", true, (w) => w.writeString(command)))) {
      throw new Error(`the server refused to run the command`);
    }
  }

  /** Starts a subsystem, e.g. "sftp". */
  async subsystem(name: string): Promise<void> {
    if (!(await this.channel.request("subsystem", true, (w) => w.writeString(name)))) {
      throw new Error(`the server refused the ${name} subsystem`);
    }
  }

  /** Tells the server the terminal's new size. */
  windowChange(size: TerminalSize): Promise<boolean> {
    checkSize(size);
    return this.channel.request("window-change", false, (w) => writeSize(w, size));
  }

  /** Delivers a signal ("INT", "TERM", …) to the remote process. */
  signal(name: (typeof SIGNALS)[number]): Promise<boolean> {
    return this.channel.request("signal", false, (w) => w.writeString(name));
  }

  /** Closes the channel. */
  close(): Promise<void> {
    return this.channel.close();
  }
}
