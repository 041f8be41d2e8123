// The download service worker, on Corridor's own origin at /download-sw.js with the scope
// /__corridor/download/ (so it controls no page, only the download URLs). The page hands it a
// file's transfer port (web/files/downloads.ts) and then opens /__corridor/download/ID in a
// hidden frame; the worker answers with a Response whose body streams from that port, with
// Content-Disposition: attachment, so the browser's own download manager writes the file to
// disk as the bytes arrive: a 1 GiB file never sits in memory. Built by vite.config.ts as a
// self-contained script (esbuild bundle), registered lazily on the first download.

import { downloadStream } from "./files/port-stream.ts";

/** The parts of the service worker scope this file uses (the DOM lib is what tsc loads). */
interface SwEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface SwFetchEvent extends SwEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): void;
}
interface SwScope {
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: "install" | "activate", listener: (event: SwEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: SwFetchEvent) => void): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

const scope = self as unknown as SwScope;

/** Where downloads are fetched from (the registration's scope). */
const PREFIX = "/__corridor/download/";
/** A download the page announced but the browser has not fetched yet is dropped after this. */
const UNCLAIMED_MS = 60_000;

interface Pending {
  port: MessagePort;
  reply: MessagePort;
  name: string;
  size: number | null;
  timer: ReturnType<typeof setTimeout>;
}

const pending = new Map<string, Pending>();

/** Content-Disposition for `name`: an ASCII fallback and the exact name in RFC 5987 form. */
function disposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, "_") || "download";
  const exact = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16)}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

scope.addEventListener("install", (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener("activate", (event) => event.waitUntil(scope.clients.claim()));

/** Downloads whose body is still streaming: the worker must stay alive until they end. */
const streaming = new Set<Promise<void>>();

/**
 * Keeps the worker alive while `event` is handled and a download streams: browsers stop an
 * idle service worker after about 30 s even while a response it made is being read, so the page
 * sends "corridor-keepalive" every 10 s during a download and each extends the worker's life
 * until the downloads end (or the next ping takes over).
 */
function holdOpen(event: MessageEvent): void {
  const waiting = [...streaming];
  if (waiting.length === 0) return;
  const timer = new Promise<void>((resolve) => setTimeout(resolve, 25_000));
  (event as unknown as SwEvent).waitUntil(Promise.race([Promise.all(waiting), timer]));
}

scope.addEventListener("message", (event: MessageEvent) => {
  const data = event.data as { type?: unknown; id?: unknown; name?: unknown; size?: unknown };
  if (data?.type === "corridor-keepalive") {
    holdOpen(event);
    return;
  }
  const [port, reply] = event.ports;
  if (data?.type !== "corridor-download" || port === undefined || reply === undefined) return;
  if (typeof data.id !== "string" || !/^[0-9a-f-]{36}$/.test(data.id)) return;
  const name =
    typeof data.name === "string" && data.name !== "" ? data.name.slice(0, 255) : "download";
  const size =
    typeof data.size === "number" && Number.isSafeInteger(data.size) && data.size >= 0
      ? data.size
      : null;
  const id = data.id;
  const timer = setTimeout(() => {
    pending.delete(id);
    port.postMessage({ type: "cancel", reason: "the browser never fetched the download" });
    reply.postMessage({
      type: "end",
      ok: false,
      message: "the browser never fetched the download",
    });
  }, UNCLAIMED_MS);
  pending.set(id, { port, reply, name, size, timer });
  reply.postMessage({ type: "ready" });
});

scope.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== location.origin || !url.pathname.startsWith(PREFIX)) return;
  const id = url.pathname.slice(PREFIX.length);
  const entry = pending.get(id);
  if (entry === undefined) {
    event.respondWith(
      new Response("This download is gone: start it again from the page.", { status: 404 }),
    );
    return;
  }
  pending.delete(id);
  clearTimeout(entry.timer);
  const { reply } = entry;
  let last = 0;
  let ended!: () => void;
  const streamed = new Promise<void>((resolve) => (ended = resolve));
  streaming.add(streamed);
  const body = downloadStream(entry.port, {
    onBytes: (bytes) => {
      // Progress for the page's panel, a few times per MiB at most.
      if (bytes - last >= 1 << 20) {
        last = bytes;
        reply.postMessage({ type: "bytes", bytes });
      }
    },
    onEnd: (outcome) => {
      streaming.delete(streamed);
      ended();
      reply.postMessage({ type: "end", ...outcome });
      reply.close();
    },
  });
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": disposition(entry.name),
    "X-Content-Type-Options": "nosniff",
  };
  if (entry.size !== null) headers["Content-Length"] = String(entry.size);
  event.respondWith(new Response(body, { headers }));
});
