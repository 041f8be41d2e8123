// The harness page of test/e2e/app-sw.test.ts, bundled by esbuild and run in Chromium at
// /__corridor/harness on a test app origin: it registers the real service worker
// (web/app-sw/sw.ts) and links it to a stand-in engine living in this page, which answers the
// app port protocol (worker/http/app-port.ts) with canned responses per path, keeps a tiny
// cookie jar and Basic credentials, echoes WebSockets, and logs every message it got.

import type {
  AppPortMessage,
  AppPortReply,
  SocketCommand,
  SocketEvent,
} from "../../worker/http/app-port.ts";

type Logged = { type: string; url?: string; method?: string; navigate?: boolean; id?: number };
const log: Logged[] = [];
const jar = new Map<string, string>();
let credentials = { username: "", password: "" };
let port: MessagePort | null = null;

const documentCookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
const encoder = new TextEncoder();

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

function send(reply: AppPortReply): void {
  const transfer: Transferable[] =
    reply.type === "response" && reply.body !== null ? [reply.body] : [];
  port?.postMessage(reply, transfer);
}

function respond(
  id: number,
  status: number,
  headers: [string, string][],
  body: ReadableStream<Uint8Array> | null,
  statusText = "OK",
): void {
  send({
    type: "response",
    id,
    status,
    statusText,
    headers,
    body,
    documentCookie: documentCookie(),
  });
}

const PAGE = [
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>app</title>',
  '</head><body><p id="p">app page</p><script nonce="appnonce">window.appRan = true;</script></body></html>',
];

async function readAll(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function fetchReply(m: Extract<AppPortMessage, { type: "fetch" }>): Promise<void> {
  const url = new URL(m.url);
  const html: [string, string] = ["Content-Type", "text/html; charset=utf-8"];
  switch (url.pathname) {
    case "/page": {
      jar.set("visited", "1");
      const headers: [string, string][] = [html, ["Content-Length", "999"]];
      const csp = url.searchParams.get("csp");
      if (csp !== null) headers.push(["Content-Security-Policy", csp]);
      respond(m.id, 200, headers, streamOf(...PAGE));
      return;
    }
    case "/fail":
      send({
        type: "error",
        id: m.id,
        code: (url.searchParams.get("code") ?? "failed") as "failed",
        message: "stand-in engine failure",
      });
      return;
    case "/auth":
    case "/auth2": {
      const ok =
        url.pathname === "/auth" && credentials.username === "u" && credentials.password === "p w";
      if (ok) respond(m.id, 200, [html], streamOf("<!doctype html><p id=welcome>welcome</p>"));
      else {
        respond(
          m.id,
          401,
          [html, ["WWW-Authenticate", 'Basic realm="Test \\"Realm\\"", charset="UTF-8"']],
          streamOf("<!doctype html><p id=own401>server's own 401</p>"),
          "Unauthorized",
        );
      }
      return;
    }
    case "/echo": {
      const bytes = await readAll(m.body);
      let sum = 0;
      for (const b of bytes) sum = (sum + b) % 65521;
      respond(m.id, 200, [["Content-Type", "text/plain"]], streamOf(`${bytes.length} ${sum}`));
      return;
    }
    case "/nobody":
      respond(m.id, 204, [["X-Thing", "1"]], streamOf("ignored"));
      return;
    case "/weird":
      respond(
        m.id,
        200,
        [
          ["X-Ok", "yes"],
          ["Bad Name", "x"],
          ["X-Bad-Value", "a\u0100b"],
          ["Content-Type", "text/plain"],
        ],
        streamOf("weird ok"),
        "Fine ✓",
      );
      return;
    case "/status":
      respond(m.id, Number(url.searchParams.get("code")), [], streamOf("x"));
      return;
    case "/slow":
      respond(
        m.id,
        200,
        [["Content-Type", "text/plain"]],
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("first"));
          },
          cancel() {
            log.push({ type: "body-cancelled", id: m.id });
          },
        }),
      );
      return;
    case "/brotli":
      // Bytes in a coding the engine passes through encoded (here not even real Brotli: the
      // worker must not look into them, only pass them on or refuse the navigation).
      respond(
        m.id,
        200,
        [
          ["Content-Type", "text/html"],
          ["Content-Encoding", "br"],
        ],
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("<head>encoded"));
            controller.close();
          },
          cancel() {
            log.push({ type: "body-cancelled", id: m.id });
          },
        }),
      );
      return;
    case "/redirect":
      respond(m.id, 302, [["Location", "/page?from=redirect"]], streamOf("moved"), "Found");
      return;
    case "/hang":
      return; // never answered: the page aborts it
    default:
      respond(m.id, 404, [["Content-Type", "text/plain"]], streamOf(`no ${url.pathname}`));
  }
}

function carrySocket(socketPort: MessagePort, protocols: readonly string[]): void {
  const tell = (event: SocketEvent) => socketPort.postMessage(event);
  setTimeout(() => tell({ type: "open", protocol: protocols[0] ?? "", extensions: "" }), 10);
  socketPort.onmessage = (event: MessageEvent) => {
    const command = event.data as SocketCommand;
    if (command.type === "send") tell({ type: "message", data: command.data });
    else
      tell({
        type: "closed",
        code: command.code ?? 1005,
        reason: command.reason ?? "",
        wasClean: true,
      });
  };
}

function onMessage(event: MessageEvent): void {
  const m = event.data as AppPortMessage;
  const entry: Logged = { type: m.type };
  if ("url" in m) entry.url = m.url;
  if ("id" in m) entry.id = m.id;
  if (m.type === "fetch") {
    entry.method = m.method;
    entry.navigate = m.navigate;
  }
  log.push(entry);
  switch (m.type) {
    case "fetch":
      void fetchReply(m);
      return;
    case "cookie-get":
      send({ type: "cookies", id: m.id, value: documentCookie() });
      return;
    case "cookie-set": {
      const [pair = ""] = m.value.split(";");
      const eq = pair.indexOf("=");
      if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      return;
    }
    case "credentials":
      credentials = { username: m.username, password: m.password };
      send({ type: "ok", id: m.id });
      return;
    case "websocket":
      carrySocket(m.port, m.protocols);
      return;
  }
}

/** Gives the service worker a fresh port to this stand-in engine. */
async function link(): Promise<void> {
  const registration = await navigator.serviceWorker.ready;
  const channel = new MessageChannel();
  channel.port2.onmessage = onMessage;
  port = channel.port2;
  registration.active?.postMessage({ type: "corridor-port", port: channel.port1 }, [channel.port1]);
}

/** Closes the stand-in engine's end of the port (as the engine does to its oldest ports). */
function unlink(): void {
  port?.close();
  port = null;
}

async function start(): Promise<void> {
  await navigator.serviceWorker.register("/__corridor/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  await link();
}

Object.assign(window, {
  harness: { start, link, unlink, log, jar, credentials: () => credentials },
});
