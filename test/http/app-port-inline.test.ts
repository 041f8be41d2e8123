// Small response bodies inline on an app port (worker/engine/app-body.ts): a body whose
// Content-Length is at most INLINE_BODY_MAX comes whole in the reply (AppResponse.bytes, its
// buffer transferred, no stream), a bigger or unframed one as a coalesced stream. Driven over
// Node's MessageChannel against a raw TCP server, so the bytes on the wire (short bodies,
// stalls) are exactly as written here.

import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { INLINE_BODY_MAX } from "../../worker/engine/app-body.ts";
import { parseAppOrigin } from "../../worker/engine/app-origin.ts";
import { AppPortServer } from "../../worker/engine/app-port-server.ts";
import { AppServices } from "../../worker/engine/app-services.ts";
import type { AppPortReply, AppResponse } from "../../worker/http/app-port.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { nodeDial } from "./node-dial.ts";

const pattern = seededBytes(0x1a);
const BIG = pattern(INLINE_BODY_MAX + 1);

/** Counters of the raw server: partial bodies written, and their connections closed by the engine. */
const state = { partialSent: 0, closedByPeer: 0 };

function respond(socket: Socket, method: string, path: string): void {
  const head = (status: string, fields: string[]) =>
    socket.write(`HTTP/1.1 ${status}\r\n${fields.map((f) => `${f}\r\n`).join("")}\r\n`);
  const body = (bytes: Uint8Array) => {
    if (method !== "HEAD") socket.write(bytes);
  };
  const sized = (bytes: Uint8Array) => {
    head("200 OK", ["Content-Type: application/octet-stream", `Content-Length: ${bytes.length}`]);
    body(bytes);
  };
  switch (path) {
    case "/small":
      sized(new TextEncoder().encode("hello"));
      return;
    case "/empty":
      sized(new Uint8Array());
      return;
    case "/exact":
      sized(BIG.subarray(0, INLINE_BODY_MAX));
      return;
    case "/over":
      sized(BIG);
      return;
    case "/chunked":
      head("200 OK", ["Transfer-Encoding: chunked"]);
      socket.write("5\r\nhello\r\n0\r\n\r\n");
      return;
    case "/204":
      head("204 No Content", []);
      return;
    case "/304":
      head("304 Not Modified", ["Content-Length: 5"]);
      return;
    case "/short":
    case "/short-big": {
      // Fewer bytes than the Content-Length, then the connection closes.
      const length = path === "/short" ? 100 : 2 * INLINE_BODY_MAX;
      head("200 OK", [`Content-Length: ${length}`]);
      socket.end(BIG.subarray(0, length / 2));
      return;
    }
    case "/stall":
      // A small body that never completes: the engine is reading it when the abort comes.
      head("200 OK", ["Content-Length: 100"]);
      socket.write(BIG.subarray(0, 10), () => {
        state.partialSent++;
      });
      socket.once("close", () => state.closedByPeer++);
      return;
    default:
      head("404 Not Found", ["Content-Length: 0"]);
  }
}

function startServer(): Promise<Server> {
  const server = createServer((socket) => {
    let text = "";
    socket.on("data", (data) => {
      text += data.toString("latin1");
      for (let end = text.indexOf("\r\n\r\n"); end >= 0; end = text.indexOf("\r\n\r\n")) {
        const [method = "", path = ""] = text.slice(0, text.indexOf("\r\n")).split(" ");
        text = text.slice(end + 4);
        respond(socket, method, path);
      }
    });
    socket.on("error", () => undefined);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** The app's side of a port: fetches by id, as the service worker makes them. */
function appClient(port: MessagePort) {
  const pending = new Map<number, (reply: AppPortReply) => void>();
  port.addEventListener("message", (event: MessageEvent) => {
    const reply = event.data as AppPortReply;
    pending.get(reply.id)?.(reply);
  });
  port.start();
  let next = 1;
  return {
    fetch(url: string, method = "GET", id = next++): Promise<AppPortReply> {
      return new Promise((resolve) => {
        pending.set(id, resolve);
        port.postMessage({
          type: "fetch",
          id,
          method,
          url,
          headers: [],
          body: null,
          navigate: false,
          referrer: "",
        });
      });
    },
  };
}

function response(reply: AppPortReply): AppResponse {
  if (reply.type !== "response") throw new Error(`expected a response: ${JSON.stringify(reply)}`);
  return reply;
}

async function streamed(reply: AppResponse): Promise<Uint8Array> {
  expect(reply.bytes).toBeUndefined();
  expect(reply.body).not.toBeNull();
  return new Uint8Array(await new Response(reply.body).arrayBuffer());
}

/** Reads `body` to its end; the bytes read and the error it ended with. */
async function readFailing(
  body: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; error: unknown }> {
  const reader = body.getReader();
  let bytes = 0;
  for (;;) {
    try {
      const { done, value } = await reader.read();
      if (done) return { bytes, error: undefined };
      bytes += value.byteLength;
    } catch (error) {
      return { bytes, error };
    }
  }
}

describe("small response bodies inline on an app port", () => {
  let http: Server;
  let origin: string;
  const services = new AppServices({ dial: nodeDial(), knows: async () => false });
  const opened: { port: MessagePort; server: AppPortServer }[] = [];

  beforeAll(async () => {
    http = await startServer();
    const address = http.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    origin = `http://127-0-0-1--${address.port}.corridor.localhost:8080`;
  });
  afterEach(() => {
    for (const { port, server } of opened.splice(0)) {
      port.close();
      server.close();
    }
  });
  afterAll(async () => {
    services.close();
    await new Promise((resolve) => http.close(resolve));
  });

  function open() {
    const channel = new MessageChannel();
    const server = new AppPortServer(channel.port2, parseAppOrigin(origin), services);
    opened.push({ port: channel.port1, server });
    return { client: appClient(channel.port1), server };
  }

  it("a small body comes whole in the reply, its exchange over at once", async () => {
    const { client, server } = open();
    const small = response(await client.fetch(`${origin}/small`));
    expect(small.body).toBeNull();
    expect(new TextDecoder().decode(small.bytes)).toBe("hello");
    expect(small.bytes?.buffer.byteLength).toBe(5); // its own buffer, transferred
    expect(server.inFlight).toBe(0);
    const empty = response(await client.fetch(`${origin}/empty`));
    expect(empty).toMatchObject({ status: 200, body: null });
    expect(empty.bytes?.byteLength).toBe(0);
  });

  it("exactly at the limit inline; one byte over, and unframed bodies, streamed", async () => {
    const { client, server } = open();
    const exact = response(await client.fetch(`${origin}/exact`));
    expect(exact.body).toBeNull();
    expect(Buffer.from(exact.bytes ?? []).equals(BIG.subarray(0, INLINE_BODY_MAX))).toBe(true);
    const over = response(await client.fetch(`${origin}/over`));
    expect(Buffer.from(await streamed(over)).equals(BIG)).toBe(true);
    const chunked = response(await client.fetch(`${origin}/chunked`));
    expect(new TextDecoder().decode(await streamed(chunked))).toBe("hello");
    await waitUntil(() => server.inFlight === 0, "streamed exchanges to end");
  });

  it("HEAD, 204 and 304 have neither a stream nor bytes", async () => {
    const { client } = open();
    for (const [path, method, status] of [
      ["/small", "HEAD", 200],
      ["/204", "GET", 204],
      ["/304", "GET", 304],
    ] as const) {
      const reply = response(await client.fetch(`${origin}${path}`, method));
      expect(reply.status).toBe(status);
      expect(reply.body).toBeNull();
      expect(reply.bytes).toBeUndefined();
    }
  });

  it("an abort while an inline body is read answers aborted and frees the connection", async () => {
    const { client, server } = open();
    const before = { sent: state.partialSent, closed: state.closedByPeer };
    const reply = client.fetch(`${origin}/stall`, "GET", 41);
    await waitUntil(() => state.partialSent === before.sent + 1, "the partial body");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.inFlight).toBe(1);
    opened.at(-1)?.port.postMessage({ type: "abort", id: 41 });
    expect(await reply).toMatchObject({ type: "error", id: 41, code: "aborted" });
    expect(server.inFlight).toBe(0);
    await waitUntil(() => state.closedByPeer === before.closed + 1, "the connection to close");
  });

  it("a body shorter than its Content-Length fails as it did streamed: the bytes, then the error", async () => {
    const { client, server } = open();
    const short = response(await client.fetch(`${origin}/short`));
    expect(short.status).toBe(200);
    expect(short.bytes).toBeUndefined();
    const small = await readFailing(short.body as ReadableStream<Uint8Array>);
    const big = await readFailing(
      response(await client.fetch(`${origin}/short-big`)).body as ReadableStream<Uint8Array>,
    );
    expect(small.bytes).toBe(50);
    expect(big.bytes).toBe(INLINE_BODY_MAX);
    expect(String(small.error)).toContain("connection closed with 50 of 100 body bytes unread");
    expect(String(big.error)).toContain(
      `connection closed with ${INLINE_BODY_MAX} of ${2 * INLINE_BODY_MAX} body bytes unread`,
    );
    expect(String(small.error).replace(/\d+/g, "N")).toBe(String(big.error).replace(/\d+/g, "N"));
    await waitUntil(() => server.inFlight === 0, "the exchanges to end");
  });
});
