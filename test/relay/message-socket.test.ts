// The WebSocket adapters of both streams (worker/relay/message-socket.ts and its `ws` twin
// server/relay/ws-node.ts): the relay's binary socket and the map stream's text socket are one
// adapter with two MessageKinds, so these pin what each kind does with the other kind's
// messages, sends and close codes, in Node (a real loopback `ws` server) and in the browser
// (a scripted WebSocket standing in for the page's).

import { afterEach, describe, expect, it, vi } from "vitest";
import { type WebSocket as ServerSocket, WebSocketServer } from "ws";
import { nodeControlSocket } from "../../server/control/control-socket-node.ts";
import { nodeRelaySocket } from "../../server/relay/ws-node.ts";
import { browserControlSocket } from "../../worker/control/socket.ts";
import type { MessageSocket } from "../../worker/relay/message-socket.ts";
import { browserSocket } from "../../worker/relay/socket.ts";

type Event = ["open"] | ["message", unknown] | ["error", string] | ["close", number, string];

/** Records a socket's events; `next(kind)` resolves with the first event of that kind. */
function record<M>(socket: MessageSocket<M>): {
  events: Event[];
  next(kind: Event[0]): Promise<Event>;
} {
  const events: Event[] = [];
  const waiting: { kind: Event[0]; resolve: (e: Event) => void }[] = [];
  const push = (event: Event) => {
    events.push(event);
    for (const w of waiting.filter((w) => w.kind === event[0])) w.resolve(event);
  };
  socket.listen({
    onOpen: () => push(["open"]),
    onMessage: (m) => push(["message", m instanceof Uint8Array ? [...m] : m]),
    onError: (e) => push(["error", e.message]),
    onClose: (code, reason) => push(["close", code, reason]),
  });
  return {
    events,
    next(kind) {
      const seen = events.find((e) => e[0] === kind);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiting.push({ kind, resolve }));
    },
  };
}

describe("`ws` adapters (Node)", () => {
  let server: WebSocketServer | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A loopback server that runs `script` on each connection; resolves with its URL. */
  async function serve(script: (ws: ServerSocket) => void): Promise<string> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    server = wss;
    wss.on("connection", script);
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const address = wss.address();
    if (typeof address !== "object" || address === null) throw new Error("expected a TCP address");
    return `ws://127.0.0.1:${address.port}/`;
  }

  it("relay: a text message is reported as an error and the stream goes on", async () => {
    const url = await serve((ws) => {
      ws.send("hello");
      ws.send(Uint8Array.of(1, 2, 3), { binary: true });
    });
    const socket = nodeRelaySocket(url, "corridor-test");
    const rec = record(socket);
    await rec.next("message");
    expect(rec.events).toEqual([
      ["open"],
      ["error", "relay sent a text message"],
      ["message", [1, 2, 3]],
    ]);
    socket.close(1000, "done");
    expect(await rec.next("close")).toEqual(["close", 1000, "done"]);
  });

  it("map stream: text arrives as a string; a binary message is an error that closes 1003", async () => {
    const received: string[] = [];
    const url = await serve((ws) => {
      // The binary message waits for the client's text, so that its send meets an open socket.
      ws.on("message", (data) => {
        received.push(String(data));
        ws.send(Uint8Array.of(7), { binary: true });
      });
      ws.send("");
      ws.send('{"type":"map"}');
    });
    const socket = nodeControlSocket(url, "corridor-test");
    const rec = record(socket);
    socket.send("dropped: not open yet");
    await rec.next("open");
    socket.send("hello server");
    expect(await rec.next("close")).toEqual(["close", 1003, "binary message"]);
    expect(rec.events).toEqual([
      ["open"],
      ["message", ""],
      ["message", '{"type":"map"}'],
      ["error", "server sent a binary message on the map stream"],
      ["close", 1003, "binary message"],
    ]);
    expect(received).toEqual(["hello server"]);
  });

  it("each kind's default cap: relay 1 MiB, map stream 8 MiB (above it: refused unread)", async () => {
    const url = await serve((ws) => ws.send(new Uint8Array(1024 * 1024 + 1), { binary: true }));
    const relay = record(nodeRelaySocket(url, "corridor-test"));
    await relay.next("close");
    expect(relay.events.filter((e) => e[0] !== "close")).toEqual([
      ["open"],
      ["error", "Max payload size exceeded"],
    ]);

    const control = record(nodeControlSocket(url, "corridor-test"));
    // 1 MiB + 1 is below the map stream's cap: it arrives (as the wrong kind, so 1003).
    expect(await control.next("close")).toEqual(["close", 1003, "binary message"]);
  });

  it("close while connecting ends the socket at once, reporting one close", async () => {
    const url = await serve(() => {});
    const socket = nodeControlSocket(url, "corridor-test");
    const rec = record(socket);
    socket.close(1000, "never mind");
    await rec.next("close");
    expect(rec.events.filter((e) => e[0] === "close")).toHaveLength(1);
    expect(rec.events.some((e) => e[0] === "open")).toBe(false);
  });
});

/** A scripted stand-in for the browser's WebSocket: records what the adapter asks of it. */
class ScriptedWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 3;
  static last: ScriptedWebSocket | undefined;
  readyState = ScriptedWebSocket.CONNECTING;
  binaryType = "blob";
  protocol = "";
  bufferedAmount = 0;
  readonly calls: unknown[][] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly asked: string,
  ) {
    ScriptedWebSocket.last = this;
  }
  send(data: unknown): void {
    if (this.readyState === ScriptedWebSocket.CONNECTING) {
      throw new Error("InvalidStateError: still connecting");
    }
    this.calls.push(["send", data]);
  }
  close(code?: number, reason?: string): void {
    this.calls.push(["close", code, reason]);
  }
  accept(protocol: string): void {
    this.protocol = protocol;
    this.readyState = ScriptedWebSocket.OPEN;
    this.onopen?.();
  }
}

function scripted(): ScriptedWebSocket {
  const ws = ScriptedWebSocket.last;
  if (ws === undefined) throw new Error("no WebSocket was created");
  return ws;
}

describe("browser adapters", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    ScriptedWebSocket.last = undefined;
  });

  it("relay: arraybuffer messages; text is an error, not a close; sends and closes as asked", () => {
    vi.stubGlobal("WebSocket", ScriptedWebSocket);
    const socket = browserSocket("wss://relay.test/", "corridor");
    const rec = record(socket);
    const ws = scripted();
    expect(ws.binaryType).toBe("arraybuffer");
    // The browser's rule stands for the relay: a send before open throws (counted as dropped).
    expect(() => socket.send(Uint8Array.of(1))).toThrow("InvalidStateError");
    ws.accept("corridor");
    ws.onmessage?.({ data: Uint8Array.of(4, 5).buffer });
    ws.onmessage?.({ data: "text" });
    socket.send(Uint8Array.of(9));
    socket.close(4001, "bye");
    ws.onclose?.({ code: 4001, reason: "bye" });
    ws.onclose?.({ code: 4001, reason: "bye" });
    expect(rec.events).toEqual([
      ["open"],
      ["message", [4, 5]],
      ["error", "relay sent a text message"],
      ["close", 4001, "bye"],
    ]);
    expect(ws.calls).toEqual([
      ["send", Uint8Array.of(9)],
      ["close", 4001, "bye"],
    ]);
  });

  it("map stream: strings; binary closes 1003; sends before open are dropped; 1009 becomes 1000", () => {
    vi.stubGlobal("WebSocket", ScriptedWebSocket);
    const socket = browserControlSocket("wss://control.test/", "corridor-map");
    const rec = record(socket);
    const ws = scripted();
    expect(ws.binaryType).toBe("blob");
    socket.send("early");
    ws.accept("corridor-map");
    ws.onmessage?.({ data: '{"type":"map"}' });
    ws.onmessage?.({ data: new ArrayBuffer(1) });
    socket.send("late");
    socket.close(1009, "too big");
    socket.close(4002, "app code");
    expect(rec.events).toEqual([
      ["open"],
      ["message", '{"type":"map"}'],
      ["error", "server sent a binary message on the map stream"],
    ]);
    expect(ws.calls).toEqual([
      ["close", 1003, "binary message"],
      ["send", "late"],
      ["close", 1000, "too big"],
      ["close", 4002, "app code"],
    ]);
  });

  it("a subprotocol other than the one asked for is an error naming both, closed 1002", () => {
    vi.stubGlobal("WebSocket", ScriptedWebSocket);
    const relay = record(browserSocket("wss://relay.test/", "corridor"));
    scripted().accept("other");
    expect(relay.events).toEqual([["error", 'relay answered subprotocol "other", not corridor']]);
    expect(scripted().calls).toEqual([["close", 1002, "subprotocol"]]);

    const control = record(browserControlSocket("wss://control.test/", "corridor-map"));
    scripted().accept("");
    expect(control.events).toEqual([["error", 'server answered subprotocol "", not corridor-map']]);
    expect(scripted().calls).toEqual([["close", 1002, "subprotocol"]]);
  });
});
