// One WebSocket of an app, carried by the engine (docs/private-urls.md, "The engine side"): the
// injected script's WebSocket replacement hands a MessagePort (through the service worker) and
// the engine opens the socket to the private service over its dial, with the service's cookies,
// stored Basic credentials and the Origin rewritten to the service's origin, then relays
// SocketCommand (page -> engine) and SocketEvent (engine -> page) on that port.

import { parseSocketCommand, type SocketEvent } from "../http/app-port.ts";
import { openWebSocket, type WebSocketClient } from "../http/websocket/index.ts";
import { appErrorOf, tlsMessage } from "./app-errors.ts";
import type { AppOrigin } from "./app-origin.ts";
import { httpFormOf } from "./app-origin.ts";
import type { AppServices } from "./app-services.ts";

/** A carried WebSocket: `close()` ends it (the app port went away). */
export interface CarriedSocket {
  close(): void;
  /** Commands from the page that were refused (bad form), dropped. */
  readonly dropped: number;
}

/** What carrySocket needs. */
export interface CarryOptions {
  app: AppOrigin;
  services: AppServices;
  /** The private ws: URL ("ws://web-01:3000/socket?x"). */
  url: string;
  protocols: readonly string[];
  port: MessagePort;
  /** Called once when the socket is over (closed, failed, or its port gone). */
  onEnd: () => void;
}

/**
 * Bytes a socket's sends may hold in the engine before it is failed. The engine is shared by
 * every tab: a page sending faster than the connection drains must not exhaust it (the DOM's
 * own WebSocket buffers in the page's process, where only that page suffers).
 */
export const MAX_SOCKET_BUFFERED = 64 * 1024 * 1024;

/** Bytes (UTF-8 for text) a send command queues. */
function sizeOf(data: string | ArrayBuffer): number {
  return typeof data === "string" ? new TextEncoder().encode(data).length : data.byteLength;
}

/** An ArrayBuffer holding exactly `bytes` (copied unless the view covers its whole buffer). */
function bufferOf(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes.buffer as ArrayBuffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}

/**
 * Opens the WebSocket and carries it on `port`. Failures before "open" are reported as a
 * "closed" event (1006, not clean) with the reason in `message`; `bad` (a URL not on the app
 * origin) the same way, before anything is dialed.
 */
export function carrySocket(options: CarryOptions, bad?: string): CarriedSocket {
  const { app, services, url, protocols, port } = options;
  const cancel = new AbortController();
  let ws: WebSocketClient | undefined;
  let ended = false;
  let dropped = 0;
  let buffered = 0;

  const post = (event: SocketEvent, transfer: Transferable[] = []): void => {
    if (ended) return;
    try {
      port.postMessage(event, transfer);
    } catch {
      end(1001);
    }
  };
  const end = (code?: number): void => {
    if (ended) return;
    ended = true;
    cancel.abort();
    if (ws !== undefined && ws.readyState === "open")
      void ws.close(code ?? 1001).catch(() => undefined);
    port.close();
    options.onEnd();
  };
  const fail = (message: string): void => {
    post({ type: "closed", code: 1006, reason: "", wasClean: false, message });
    end();
  };

  port.addEventListener("message", (event: MessageEvent) => {
    let command: ReturnType<typeof parseSocketCommand>;
    try {
      command = parseSocketCommand(event.data);
    } catch {
      dropped++;
      return;
    }
    if (command.type === "close") {
      if (ws === undefined) {
        // Closed while connecting: as the DOM's WebSocket, the connection fails.
        fail("closed by the page before the connection opened");
        return;
      }
      void ws.close(command.code, command.reason ?? "").catch(() => undefined);
      return;
    }
    if (ws === undefined || ws.readyState !== "open") {
      dropped++;
      return;
    }
    const size = sizeOf(command.data);
    if (buffered + size > MAX_SOCKET_BUFFERED) {
      fail(
        `more than ${MAX_SOCKET_BUFFERED / 1024 / 1024} MiB of sends waiting for the connection: the engine closed the socket`,
      );
      return;
    }
    buffered += size;
    post({ type: "buffered", amount: buffered });
    const data = typeof command.data === "string" ? command.data : new Uint8Array(command.data);
    void ws.send(data).then(
      () => {
        buffered -= size;
        post({ type: "buffered", amount: buffered });
      },
      () => undefined,
    );
  });
  port.addEventListener("close", () => end());
  port.start();

  if (bad !== undefined) {
    queueMicrotask(() => fail(bad));
    return {
      close: () => end(),
      get dropped() {
        return dropped;
      },
    };
  }

  void (async () => {
    const target = new URL(url);
    const service = app.service;
    if (target.protocol === "wss:" || service.scheme === "https") {
      fail(tlsMessage(service));
      return;
    }
    try {
      const jars = await services.cookies();
      const headers: [string, string][] = [];
      const cookie = jars.cookieHeader(httpFormOf(url), { method: "GET" });
      if (cookie !== "") headers.push(["Cookie", cookie]);
      const authorization = services.authorization(service);
      if (authorization !== undefined) headers.push(["Authorization", authorization]);
      const timeout = AbortSignal.timeout(services.pool.connectTimeoutMs);
      const stream = await services.dial(
        service.host,
        service.port,
        AbortSignal.any([cancel.signal, timeout]),
      );
      if (ended) {
        stream.close();
        return;
      }
      const socket = await openWebSocket(stream, {
        host: app.hostHeader,
        path: `${target.pathname}${target.search}`,
        origin: app.serviceOrigin,
        protocols,
        headers,
      });
      const setCookies = socket.responseHeaders
        .filter(([name]) => name.toLowerCase() === "set-cookie")
        .map(([, value]) => value);
      if (setCookies.length > 0 && jars.setFromResponse(httpFormOf(url), setCookies).stored > 0) {
        services.cookiesChanged();
      }
      if (ended) {
        void socket.close(1001).catch(() => undefined);
        return;
      }
      ws = socket;
      // "open" first: setting onmessage hands over what is queued at once.
      post({ type: "open", protocol: socket.protocol, extensions: socket.extensions });
      socket.onmessage = (message) => {
        if (typeof message === "string") post({ type: "message", data: message });
        else {
          const buffer = bufferOf(message);
          post({ type: "message", data: buffer }, [buffer]);
        }
      };
      void socket.closed.then((info) => {
        post({
          type: "closed",
          code: info.code,
          reason: info.reason,
          wasClean: info.wasClean,
          ...(info.error === undefined ? {} : { message: info.error.message }),
        });
        end();
      });
    } catch (error) {
      fail(appErrorOf(error, service).message);
    }
  })();
  return {
    close: () => end(),
    get dropped() {
      return dropped;
    },
  };
}
