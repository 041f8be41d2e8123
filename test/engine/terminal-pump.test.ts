// The terminal pump of live sessions (worker/engine/terminal-pump.ts) and the registry the
// engine lists them in (worker/engine/live-sessions.ts), on a scripted SSH session: flow
// control holds the channel while an attached page does not ack, a detached session keeps
// reading into its scrollback only (the remote never stalls, memory stays bounded), a new
// page gets the scrollback then live output and the previous page is told "taken", the new
// page's ui answers the session's callbacks, and hostile port messages change nothing.

import { describe, expect, it } from "vitest";
import {
  type LiveSessionMessage,
  OUTPUT_WINDOW,
  SCROLLBACK_BYTES,
  type SessionUi,
  type TerminalMessage,
} from "../../worker/api.ts";
import { LiveSessionRegistry, UiSwitch } from "../../worker/engine/live-sessions.ts";
import { type PumpedSession, TerminalPump } from "../../worker/engine/terminal-pump.ts";
import type { ExitStatus } from "../../worker/ssh/channel.ts";
import { seededInts } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

/** An SSH session whose output the test writes and whose reads it counts. */
class ScriptedSession implements PumpedSession {
  readonly input: Uint8Array[] = [];
  readonly sizes: [number, number][] = [];
  /** Output bytes the pump has read so far. */
  read = 0;
  private out!: ReadableStreamDefaultController<Uint8Array>;
  private err!: ReadableStreamDefaultController<Uint8Array>;
  private pending: Uint8Array[] = [];
  private finish!: (code: number) => void;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly stdin: WritableStream<Uint8Array>;
  readonly exit: Promise<ExitStatus>;

  constructor() {
    // No queue: a chunk is handed over only when the pump reads, as a channel's window works.
    this.stdout = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.out = c;
        },
        pull: () => {
          this.pulling = true;
          this.feed();
        },
      },
      { highWaterMark: 0 },
    );
    this.stderr = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.err = c;
      },
    });
    this.stdin = new WritableStream<Uint8Array>({ write: (chunk) => void this.input.push(chunk) });
    this.exit = new Promise((resolve) => {
      this.finish = (code) => resolve({ code, signal: null, coreDumped: false, message: "" });
    });
  }

  windowChange(size: { cols: number; rows: number }): Promise<boolean> {
    this.sizes.push([size.cols, size.rows]);
    return Promise.resolve(true);
  }

  /** Queues output; it is handed to the pump as it reads. */
  output(data: Uint8Array): void {
    this.pending.push(data);
    this.feed();
  }

  /** The pump waits for a chunk (a read is pending). */
  private pulling = false;
  private feed(): void {
    if (!this.pulling) return;
    const next = this.pending.shift();
    if (next === undefined) return;
    this.pulling = false;
    this.read += next.length;
    this.out.enqueue(next);
  }

  end(code: number): void {
    this.out.close();
    this.err.close();
    this.finish(code);
  }
}

/** The page's end of a session port. */
class PageEnd {
  readonly channel = new MessageChannel();
  received = 0;
  text = "";
  taken = false;
  exit: number | null | undefined;
  acks = true;
  constructor() {
    this.channel.port1.onmessage = (event: MessageEvent<TerminalMessage | LiveSessionMessage>) => {
      const m = event.data;
      if (m.type === "output") {
        this.received += m.data.length;
        this.text += new TextDecoder().decode(m.data);
        if (this.acks) this.send({ type: "ack", bytes: m.data.length });
      } else if (m.type === "taken") this.taken = true;
      else if (m.type === "exit") this.exit = m.code;
    };
  }
  send(message: TerminalMessage | LiveSessionMessage | unknown): void {
    this.channel.port1.postMessage(message);
  }
  close(): void {
    this.channel.port1.close();
  }
}

const text = (s: string) => new TextEncoder().encode(s);
const chunks = (count: number, size: number) =>
  Array.from({ length: count }, () => new Uint8Array(size).fill(0x61));

describe("the terminal pump", () => {
  it("holds the channel at the output window while the attached page does not ack", async () => {
    const session = new ScriptedSession();
    const page = new PageEnd();
    page.acks = false;
    const pump = new TerminalPump(session, page.channel.port2);
    for (const c of chunks(48, 64 * 1024)) session.output(c); // 3 MiB
    await waitUntil(() => page.received >= OUTPUT_WINDOW, "a full window");
    // The pump stopped reading at the window: the rest is still the session's.
    expect(session.read).toBeLessThanOrEqual(OUTPUT_WINDOW + 64 * 1024);
    page.send({ type: "ack", bytes: page.received });
    page.acks = true;
    await waitUntil(() => page.received === 3 * 1024 * 1024, "the rest after the ack");
    session.end(0);
    await pump.done;
    page.close();
  });

  it("keeps reading into the scrollback only while detached, and replays it to the next page", async () => {
    const session = new ScriptedSession();
    const first = new PageEnd();
    const pump = new TerminalPump(session, first.channel.port2);
    session.output(text("before\r\n"));
    await waitUntil(() => first.text.includes("before"), "output to the first page");
    first.send({ type: "detach" } satisfies LiveSessionMessage);
    await waitUntil(() => !pump.attached, "the detach");
    // 3 MiB with no page: read to the end (the remote never stalls), only 1 MiB kept.
    for (const c of chunks(47, 64 * 1024)) session.output(c);
    session.output(text("\r\nafter-detach\r\n"));
    await waitUntil(() => session.read >= 47 * 64 * 1024 + 8, "everything read while detached");
    expect(pump.scrollback.size).toBe(SCROLLBACK_BYTES);
    expect(first.text).not.toContain("after-detach");

    const second = new PageEnd();
    pump.attach(second.channel.port2);
    await waitUntil(() => second.text.includes("after-detach"), "the replay");
    expect(second.received).toBeLessThanOrEqual(SCROLLBACK_BYTES);
    expect(second.text).not.toContain("before");
    session.output(text("live\r\n"));
    await waitUntil(() => second.text.endsWith("live\r\n"), "live output after the replay");
    // Input and resizes come from the attached page only.
    first.send({ type: "input", data: text("old") });
    second.send({ type: "input", data: text("new") });
    second.send({ type: "resize", cols: 90, rows: 20 });
    await waitUntil(() => session.input.length === 1 && session.sizes.length === 1, "input");
    expect(new TextDecoder().decode(session.input[0])).toBe("new");
    expect(session.sizes).toEqual([[90, 20]]);
    session.end(7);
    await pump.done;
    await waitUntil(() => second.exit !== undefined, "exit to the attached page");
    expect(second.exit).toBe(7);
    first.close();
    second.close();
  });

  it("tells the page that held the session when another page takes it", async () => {
    const session = new ScriptedSession();
    const first = new PageEnd();
    const pump = new TerminalPump(session, first.channel.port2);
    const attachments: boolean[] = [];
    pump.onAttachment = (attached) => void attachments.push(attached);
    session.output(text("shared\r\n"));
    await waitUntil(() => first.text.includes("shared"), "output");
    const second = new PageEnd();
    pump.attach(second.channel.port2);
    await waitUntil(() => first.taken, "taken");
    await waitUntil(() => second.text.includes("shared"), "the replay");
    expect(attachments).toEqual([true]);
    session.end(0);
    await pump.done;
    first.close();
    second.close();
  });

  it("ignores hostile port messages (seeded: 2,000 messages)", async () => {
    const session = new ScriptedSession();
    const page = new PageEnd();
    const pump = new TerminalPump(session, page.channel.port2);
    const ints = seededInts(0x9e71);
    const junk = (): unknown => {
      switch (ints(12)) {
        case 0:
          return null;
        case 1:
          return "input";
        case 2:
          return { type: "input", data: "not bytes" };
        case 3:
          return { type: "ack", bytes: [-1, Number.NaN, Number.POSITIVE_INFINITY, 1e300][ints(4)] };
        case 4:
          return { type: "resize" };
        case 5:
          return { type: "exit", code: 1 };
        case 6:
          return { type: "output", data: new Uint8Array(3) };
        case 7:
          return { type: "taken" };
        case 8:
          return [1, 2, 3];
        case 9:
          return { type: "__proto__" };
        case 10:
          return { type: "input", data: new Uint16Array(2) };
        default:
          return { type: ints(1000) };
      }
    };
    for (let i = 0; i < 2000; i++) page.send(junk());
    page.send({ type: "input", data: text("real") });
    await waitUntil(() => session.input.length > 0, "the real input");
    expect(session.input.map((b) => new TextDecoder().decode(b))).toEqual(["real"]);
    // Bogus acks never push the window negative: output still flows.
    session.output(text("still-flowing\r\n"));
    await waitUntil(() => page.text.includes("still-flowing"), "output");
    expect(pump.attached).toBe(true);
    session.end(0);
    await pump.done;
    page.close();
  });
});

describe("the live session registry", () => {
  /** A registered session over a scripted SSH session, as session.ts builds it. */
  function liveSession(ui: SessionUi, port: MessagePort) {
    const ssh = new ScriptedSession();
    const uiSwitch = new UiSwitch(ui);
    const pump = new TerminalPump(ssh, port);
    let closed = false;
    const handle = {
      close: async () => {
        closed = true;
        ssh.end(0);
      },
      ended: pump.done,
      ui: uiSwitch,
      get attached() {
        return pump.attached;
      },
      get pageId() {
        return pump.pageId;
      },
      detach: () => pump.detach(),
      attach(next: SessionUi, nextPort: MessagePort) {
        uiSwitch.replace(next);
        pump.attach(nextPort);
      },
      set onAttachment(listener: (attached: boolean) => void) {
        pump.onAttachment = listener;
      },
      get onAttachment() {
        return pump.onAttachment;
      },
    };
    return { ssh, handle, isClosed: () => closed };
  }

  const recordingUi = (log: string[], name: string): SessionUi => ({
    onState: (state) => void log.push(`${name}:${state}`),
    confirmHostKey: async () => true,
    askPassword: async () => `${name}-password`,
    askInteractive: async () => null,
    onBanner: () => undefined,
  });

  it("lists sessions with their names, attaches a new page's ui and port, drops unknown ids", async () => {
    const registry = new LiveSessionRegistry(60_000);
    const log: string[] = [];
    const page = new PageEnd();
    const { ssh, handle } = liveSession(recordingUi(log, "first"), page.channel.port2);
    handle.ui.ui.onState("connected", "");
    registry.add(
      "s1",
      handle,
      { networkId: "n1", host: "10.0.0.2", port: 22, username: "alice", cols: 80, rows: 24 },
      { networkName: "lab", hostName: "web-01" },
    );
    expect(registry.list()).toEqual([
      expect.objectContaining({
        id: "s1",
        networkName: "lab",
        host: "10.0.0.2",
        hostName: "web-01",
        username: "alice",
        state: "connected",
        attached: true,
      }),
    ]);
    page.send({ type: "detach" });
    await waitUntil(() => registry.list()[0]?.attached === false, "detached");
    // Nobody holds it: questions are answered "no" rather than waiting on a gone page.
    expect(await handle.ui.ui.askPassword("again?")).toBeNull();
    const next = new PageEnd();
    const info = registry.attach("s1", recordingUi(log, "second"), next.channel.port2);
    expect(info.attached).toBe(true);
    expect(await handle.ui.ui.askPassword("again?")).toBe("second-password");
    handle.ui.ui.onState("closed", "bye");
    expect(log).toEqual(["first:connected", "second:closed"]);
    expect(() =>
      registry.attach("nope", recordingUi(log, "x"), new MessageChannel().port2),
    ).toThrow(/no live session nope/);
    ssh.end(0);
    await handle.ended;
    await waitUntil(() => registry.list().length === 0, "the ended session unlisted");
    page.close();
    next.close();
  });

  it("detaches a session whose page is gone without a word (its page lock released)", async () => {
    const registry = new LiveSessionRegistry(60_000);
    const page = new PageEnd();
    const { ssh, handle } = liveSession(recordingUi([], "p"), page.channel.port2);
    registry.add(
      "s3",
      handle,
      { networkId: "n1", host: "10.0.0.4", port: 22, username: "carol", cols: 80, rows: 24 },
      { networkName: "lab", hostName: "" },
    );
    // Before its hello the page is unknown: nothing to judge it by, it stays attached.
    registry.detachGone(new Set());
    expect(registry.list()[0]?.attached).toBe(true);
    page.send({ type: "hello", page: "page-1" });
    page.send({ type: "hello", page: "bad id with spaces" });
    await waitUntil(() => handle.pageId === "page-1", "the hello");
    registry.detachGone(new Set(["page-1", "page-2"]));
    expect(registry.list()[0]?.attached).toBe(true);
    registry.detachGone(new Set(["page-2"]));
    expect(registry.list()[0]?.attached).toBe(false);
    ssh.end(0);
    await handle.ended;
    page.close();
  });

  it("closes a session no page has held for the grace period", async () => {
    const registry = new LiveSessionRegistry(50);
    const page = new PageEnd();
    const { handle, isClosed } = liveSession(recordingUi([], "p"), page.channel.port2);
    registry.add(
      "s2",
      handle,
      { networkId: "n1", host: "10.0.0.3", port: 22, username: "bob", cols: 80, rows: 24 },
      { networkName: "lab", hostName: "" },
    );
    expect(registry.list()[0]?.hostName).toBe("10.0.0.3");
    page.send({ type: "detach" });
    await waitUntil(isClosed, "the orphan closed after the grace period");
    await waitUntil(() => registry.list().length === 0, "unlisted");
    page.close();
  });
});
