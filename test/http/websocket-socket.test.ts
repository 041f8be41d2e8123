// The client's state machine against an in-memory peer we drive byte by byte: backpressure
// both ways, masking of everything we send, pong answers, failing on a server's protocol
// error with the right Close frame, and the close() argument checks.

import { describe, expect, it } from "vitest";
import {
  acceptFor,
  encodeFrame,
  type Frame,
  FrameParser,
  openWebSocket,
  parseClosePayload,
} from "../../worker/http/websocket/index.ts";

/** A fake server end: what the client writes is parsed as client frames; we push bytes in. */
function memoryPeer() {
  let control!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      control = c;
    },
  });
  const frames: Frame[] = [];
  let head = "";
  let parser: FrameParser | null = null;
  const held: (() => void)[] = [];
  const peer = {
    hold: false,
    closed: false,
    frames,
    held,
    get head() {
      return head;
    },
    get backlog() {
      return 1 - (control.desiredSize ?? 0);
    },
    send: (bytes: Uint8Array) => control.enqueue(bytes),
    stream: {
      readable,
      writable: new WritableStream<Uint8Array>({
        write: async (chunk) => {
          if (parser === null) {
            head += String.fromCharCode(...chunk);
            parser = new FrameParser({ expectMasked: true });
            const key = /Sec-WebSocket-Key: (.*)\r\n/.exec(head)![1]!;
            const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`;
            control.enqueue(Uint8Array.from(answer, (c) => c.charCodeAt(0)));
          } else {
            parser.push(chunk, (f) => frames.push(f));
          }
          if (peer.hold) await new Promise<void>((r) => held.push(r));
        },
      }),
      close: () => {
        peer.closed = true;
      },
    },
  };
  return peer;
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("WebSocket client state machine (in-memory peer)", () => {
  it("send() waits for the stream to take each frame (backpressure), and masks every frame", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/", fragmentBytes: 65536 });
    peer.hold = true;
    let done = false;
    const sent = ws.send(new Uint8Array(300_000).fill(1)).then(() => {
      done = true;
    });
    for (let i = 0; i < 4; i++) {
      await tick();
      expect(done).toBe(false);
      expect(peer.frames).toHaveLength(i + 1);
      peer.held.shift()!();
    }
    await tick();
    expect(peer.frames).toHaveLength(5);
    peer.held.shift()!();
    await sent;
    expect(peer.frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [2, false, 65536],
      [0, false, 65536],
      [0, false, 65536],
      [0, false, 65536],
      [0, true, 300_000 - 4 * 65536],
    ]);
    expect(peer.frames.every((f) => f.masked && f.payload.every((b) => b === 1))).toBe(true);
  });

  it("stops reading while unread messages exceed queueHighWaterBytes, and resumes as they are read", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, {
      host: "h",
      path: "/",
      queueHighWaterBytes: 1000,
    });
    for (let i = 0; i < 10; i++)
      peer.send(encodeFrame({ opcode: 2, payload: new Uint8Array(500).fill(i) }));
    await tick();
    expect(peer.backlog).toBe(8); // two messages read (1000 bytes), eight left in the stream
    const it = ws[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) expect(((await it.next()).value as Uint8Array)[0]).toBe(i);
    expect(peer.backlog).toBe(0);
  });

  it("keeps the queue bounded under a flood of empty messages: 64 bytes each, and a message cap", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/", queueMaxMessages: 500 });
    // 2000 chunks of 100 empty binary/text frames (2 bytes each): 200,000 messages offered.
    const empty = [
      encodeFrame({ opcode: 2, payload: new Uint8Array(0) }),
      encodeFrame({ opcode: 1, payload: new Uint8Array(0) }),
    ];
    const chunk = new Uint8Array(200);
    for (let i = 0; i < 100; i++) chunk.set(empty[i % 2]!, i * 2);
    for (let i = 0; i < 2000; i++) peer.send(chunk);
    await tick();
    // Reading stopped at the cap; at most one chunk's frames went past it.
    expect(ws.queuedMessages).toBe(500);
    expect(ws.queuedBytes).toBe(500 * 64);
    expect(peer.backlog).toBe(2000 - 5);
    // Drained a little, reading resumes and stops again at the cap.
    const it = ws[Symbol.asyncIterator]();
    for (let i = 0; i < 150; i++) expect((await it.next()).value).toHaveLength(0);
    await tick();
    expect(ws.queuedMessages).toBeLessThan(500 + 100);
    expect(ws.queuedMessages).toBeGreaterThanOrEqual(500);
    expect(peer.backlog).toBe(2000 - (ws.queuedMessages + 150) / 100);
    // Without a message cap the 64-byte overhead alone stops it: 64 KiB / 64 = 1024 messages.
    const peer2 = memoryPeer();
    const ws2 = await openWebSocket(peer2.stream, {
      host: "h",
      path: "/",
      queueHighWaterBytes: 65536,
      queueMaxMessages: Number.POSITIVE_INFINITY,
    });
    for (let i = 0; i < 2000; i++) peer2.send(chunk);
    await tick();
    expect(ws2.queuedMessages).toBe(1100); // 11 chunks: the 11th crossed 1024
    expect(ws2.queuedBytes).toBe(1100 * 64);
    expect(peer2.backlog).toBe(2000 - 11);
  });

  it("answers a ping with the same payload, also between a message's fragments", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/" });
    peer.send(encodeFrame({ opcode: 1, payload: Uint8Array.of(0x61), fin: false }));
    peer.send(encodeFrame({ opcode: 9, payload: Uint8Array.of(7, 8) }));
    peer.send(encodeFrame({ opcode: 0, payload: Uint8Array.of(0x62) }));
    expect((await ws[Symbol.asyncIterator]().next()).value).toBe("ab");
    expect(peer.frames.map((f) => [f.opcode, [...f.payload]])).toEqual([[10, [7, 8]]]);
  });

  it("answers a ping flood behind a slow stream with one Pong in flight and the latest payload", async () => {
    const peer = memoryPeer();
    await openWebSocket(peer.stream, { host: "h", path: "/" });
    peer.hold = true;
    for (let i = 0; i < 50; i++) peer.send(encodeFrame({ opcode: 9, payload: Uint8Array.of(i) }));
    await tick();
    expect(peer.frames).toHaveLength(1);
    peer.hold = false;
    peer.held.shift()!();
    await tick();
    expect(peer.frames.map((f) => [f.opcode, f.payload[0]])).toEqual([
      [10, 0],
      [10, 49],
    ]);
  });

  it("fails the connection on a masked server frame: Close 1002 sent, stream closed, 1002 reported", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/" });
    peer.send(
      encodeFrame({ opcode: 1, payload: Uint8Array.of(0x61), maskKey: Uint8Array.of(1, 2, 3, 4) }),
    );
    const info = await ws.closed;
    expect(info).toMatchObject({ code: 1002, wasClean: false });
    expect(info.reason).toMatch(/masked frame from a server/);
    expect(peer.frames).toHaveLength(1);
    expect(parseClosePayload(peer.frames[0]!.payload).code).toBe(1002);
    expect(peer.closed).toBe(true);
  });

  it("echoes a server's Close code and waits for the server to end the connection", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/", closeTimeoutMs: 100 });
    peer.send(encodeFrame({ opcode: 8, payload: Uint8Array.of(0x0f, 0xa1, 0x78) }));
    await tick();
    expect(ws.readyState).toBe("closing");
    expect(parseClosePayload(peer.frames[0]!.payload)).toEqual({ code: 4001, reason: "" });
    // The server never closes TCP: after the timeout the close still counts as clean.
    expect(await ws.closed).toEqual({ code: 4001, reason: "x", wasClean: true });
    expect(peer.closed).toBe(true);
  });

  it("checks close()'s code and reason like a browser would", async () => {
    const peer = memoryPeer();
    const ws = await openWebSocket(peer.stream, { host: "h", path: "/" });
    expect(() => ws.close(1005)).toThrow(RangeError);
    expect(() => ws.close(1006)).toThrow(RangeError);
    expect(() => ws.close(1000, "é".repeat(62))).toThrow(RangeError);
    expect(() => ws.close(undefined, "why")).toThrow(RangeError);
    await expect(ws.ping(new Uint8Array(126))).rejects.toThrow(RangeError);
    expect(ws.readyState).toBe("open");
  });

  it("refuses request values that could inject headers before touching the stream", async () => {
    const peer = memoryPeer();
    await expect(
      openWebSocket(peer.stream, { host: "h", path: "/", headers: { Cookie: "a\r\nEvil: 1" } }),
    ).rejects.toThrow(TypeError);
    expect(peer.head).toBe("");
    expect(peer.closed).toBe(true);
  });
});
