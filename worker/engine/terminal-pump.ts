// Moves a session's terminal bytes between its SSH channel and the page attached to it, and
// keeps the output's scrollback so a page can attach later (after a reload) and see it.
//
// Flow control: while a page is attached the engine sends at most OUTPUT_WINDOW bytes ahead
// of its acks, and then stops reading, so a flood of output waits in the SSH channel (its
// window fills and the server waits), not in the page's memory. While no page is attached the
// pump keeps reading into the scrollback ring only (bounded: SCROLLBACK_BYTES), so the remote
// program never stalls on a tab that is gone.

import {
  type LiveSessionMessage,
  OUTPUT_WINDOW,
  SCROLLBACK_BYTES,
  type TerminalMessage,
} from "../api.ts";
import type { SshSession } from "../ssh/session.ts";
import { ScrollbackRing } from "./scrollback.ts";

/** Largest output message of a scrollback replay. */
const REPLAY_CHUNK = 64 << 10;

type PortMessage = TerminalMessage | LiveSessionMessage;

/** What the pump uses of an SSH session (a shell channel with a pty). */
export type PumpedSession = Pick<
  SshSession,
  "stdin" | "stdout" | "stderr" | "exit" | "windowChange"
>;

/** The terminal side of one session: its ports over time, its scrollback, its input. */
export class TerminalPump {
  readonly scrollback: ScrollbackRing;
  /** Settles once both output streams ended and "exit" went to the attached page. */
  readonly done: Promise<void>;
  /** Called when a page attaches (true) or the last one went away (false). */
  onAttachment: (attached: boolean) => void = () => undefined;

  private port: MessagePort | null = null;
  /** The id the attached page gave ("hello"), or null. */
  private page: string | null = null;
  private unacked = 0;
  private waiting: (() => void)[] = [];
  private readonly input: WritableStreamDefaultWriter<Uint8Array>;
  private inputChain = Promise.resolve();

  constructor(
    private readonly session: PumpedSession,
    port: MessagePort,
    scrollbackBytes = SCROLLBACK_BYTES,
  ) {
    this.scrollback = new ScrollbackRing(scrollbackBytes);
    this.input = session.stdin.getWriter();
    this.attach(port, false);
    this.done = this.run();
  }

  /** Whether a page's port receives the output now. */
  get attached(): boolean {
    return this.port !== null;
  }

  /** The attached page's id, when it said it ("hello"). */
  get pageId(): string | null {
    return this.port === null ? null : this.page;
  }

  /**
   * Makes `port` the session's terminal: the previous port (if any) is told "taken" and
   * closed; with `replay`, the scrollback goes first, then live output.
   */
  attach(port: MessagePort, replay = true): void {
    const previous = this.port;
    this.port = port;
    this.page = null;
    this.unacked = 0;
    if (previous !== null) {
      previous.onmessage = null;
      previous.postMessage({ type: "taken" } satisfies LiveSessionMessage);
      previous.close();
    }
    port.onmessage = (event: MessageEvent<PortMessage>) => this.onMessage(port, event.data);
    // Where the platform reports a closed peer (the page's document went away), detach.
    port.addEventListener("close", () => {
      if (this.port === port) this.detach();
    });
    if (replay) {
      const bytes = this.scrollback.replay();
      for (let at = 0; at < bytes.length; at += REPLAY_CHUNK) {
        const chunk = bytes.slice(at, at + REPLAY_CHUNK);
        this.unacked += chunk.length;
        port.postMessage({ type: "output", data: chunk } satisfies TerminalMessage, [chunk.buffer]);
      }
    }
    this.wake();
    this.onAttachment(true);
  }

  /** No page holds the session any more: output goes to the scrollback only. */
  detach(): void {
    const port = this.port;
    if (port === null) return;
    this.port = null;
    this.unacked = 0;
    port.onmessage = null;
    port.close();
    this.wake();
    this.onAttachment(false);
  }

  private onMessage(port: MessagePort, message: PortMessage | undefined): void {
    if (port !== this.port) return;
    if (message?.type === "input" && message.data instanceof Uint8Array) {
      const data = message.data;
      // Writes stay in order; a failed one (closed channel) ends the chain quietly.
      this.inputChain = this.inputChain.then(() => this.input.write(data)).catch(() => undefined);
    } else if (message?.type === "resize") {
      void this.session
        .windowChange({ cols: message.cols, rows: message.rows })
        .catch(() => undefined);
    } else if (message?.type === "ack" && Number.isFinite(message.bytes) && message.bytes > 0) {
      this.unacked = Math.max(0, this.unacked - message.bytes);
      if (this.unacked < OUTPUT_WINDOW) this.wake();
    } else if (message?.type === "detach") {
      this.detach();
    } else if (
      message?.type === "hello" &&
      typeof message.page === "string" &&
      /^[\w-]{1,64}$/.test(message.page)
    ) {
      this.page = message.page;
    }
  }

  private wake(): void {
    const go = this.waiting;
    this.waiting = [];
    for (const wake of go) wake();
  }

  private async forward(stream: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      this.scrollback.write(r.value);
      const port = this.port;
      if (port !== null) {
        const copy = r.value.slice();
        this.unacked += copy.length;
        port.postMessage({ type: "output", data: copy } satisfies TerminalMessage, [copy.buffer]);
      }
      // Only an attached page holds the channel back; without one, reading goes on.
      while (this.port !== null && this.unacked >= OUTPUT_WINDOW) {
        await new Promise<void>((go) => this.waiting.push(go));
      }
    }
  }

  private async run(): Promise<void> {
    await Promise.all([
      this.forward(this.session.stdout).catch(() => undefined),
      this.forward(this.session.stderr).catch(() => undefined),
    ]);
    const exit = await this.session.exit;
    const port = this.port;
    this.port = null;
    if (port !== null) {
      port.postMessage({
        type: "exit",
        code: exit.code,
        signal: exit.signal,
      } satisfies TerminalMessage);
      port.onmessage = null;
      port.close();
    }
  }
}
