// Serves one app port (docs/private-urls.md, "The engine side"): the MessagePort an app origin's
// bridge handed the engine, bound to one private service. Every message is checked with
// parseAppPortMessage; a bad one with an id is answered "bad-request" naming the part, one
// without an id is dropped (counted). A fetch's URL must be on the port's own app origin; its
// headers are rewritten (app-origin.ts), its cookies come from the engine's jar, its body
// streams both ways as transferred ReadableStreams, except a small response body, which comes
// whole in the reply (app-body.ts). The port ends when it closes (a "close"
// event where the platform has one) or when a send on it fails; its fetches end with it, its
// WebSockets (each on its own port) do not.

import {
  type AppCookieGet,
  type AppCookieSet,
  type AppCredentials,
  type AppErrorCode,
  type AppFetch,
  type AppPortMessage,
  AppPortProtocolError,
  type AppPortReply,
  type AppResponse,
  type AppWebSocket,
  parseAppPortMessage,
} from "../http/app-port.ts";
import { httpRequest } from "../http/client.ts";
import { declaredLength, INLINE_BODY_MAX, readWhole, streamedBody } from "./app-body.ts";
import { appErrorOf, tlsMessage } from "./app-errors.ts";
import {
  type AppOrigin,
  privateUrlOf,
  rewriteRequestHeaders,
  rewriteResponseHeaders,
} from "./app-origin.ts";
import { type AppServices, MAX_SOCKETS_PER_ORIGIN } from "./app-services.ts";
import { type CarriedSocket, carrySocket } from "./app-websocket.ts";

/** Fetches one port may have in flight (a response whose body is unread counts). */
export const MAX_IN_FLIGHT = 256;
/** WebSockets opened through one port that may be open at once. */
export const MAX_SOCKETS = 64;

/** Statuses whose response has no body (a Response with one cannot be made for them). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** One fetch in flight: its abort, until its response body ends. */
interface Exchange {
  abort: AbortController;
}

/** Shortens hostile text quoted in a message. */
function shown(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/** The engine's side of one app port. */
export class AppPortServer {
  /** Messages dropped: refused without an id, or a cookie-set for another origin. */
  dropped = 0;
  private closed = false;
  private readonly exchanges = new Map<number, Exchange>();
  private readonly sockets = new Set<CarriedSocket>();
  private readonly whenClosed: Promise<void>;
  private markClosed!: () => void;

  constructor(
    private readonly port: MessagePort,
    readonly app: AppOrigin,
    private readonly services: AppServices,
  ) {
    this.whenClosed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
    port.addEventListener("message", (event: MessageEvent) => this.receive(event.data));
    // Node's MessagePort and newer Chromium fire "close" when the other side is gone.
    port.addEventListener("close", () => this.close());
    port.start();
  }

  /** Resolves when the port is over (closed, or a send on it failed). */
  get ended(): Promise<void> {
    return this.whenClosed;
  }

  /** Fetches in flight now (until each response body ends). */
  get inFlight(): number {
    return this.exchanges.size;
  }

  /**
   * Ends the port: every fetch in flight aborted. Carried WebSockets stay: each lives on its
   * own port, which the page holds, while this one is the service worker's, and the browser
   * stops an idle service worker within seconds (a Jupyter kernel socket must outlive that).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const exchange of this.exchanges.values()) exchange.abort.abort();
    this.exchanges.clear();
    this.port.close();
    this.markClosed();
  }

  private send(reply: AppPortReply, transfer: Transferable[] = []): boolean {
    if (this.closed) return false;
    try {
      this.port.postMessage(reply, transfer);
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  private fail(id: number, code: AppErrorCode, message: string): void {
    this.send({ type: "error", id, code, message });
  }

  private receive(data: unknown): void {
    if (this.closed) return;
    let message: AppPortMessage;
    try {
      message = parseAppPortMessage(data);
    } catch (error) {
      const id = error instanceof AppPortProtocolError ? error.id : undefined;
      if (id === undefined) this.dropped++;
      else this.fail(id, "bad-request", (error as Error).message);
      // A refused message's streams and ports are ours to end.
      const parts = data as { body?: unknown; port?: unknown } | null;
      if (parts !== null && typeof parts === "object") {
        if (parts.body instanceof ReadableStream) void parts.body.cancel().catch(() => undefined);
        if (typeof MessagePort === "function" && parts.port instanceof MessagePort)
          parts.port.close();
      }
      return;
    }
    switch (message.type) {
      case "fetch":
        void this.fetch(message);
        return;
      case "abort":
        this.exchanges.get(message.id)?.abort.abort();
        return;
      case "websocket":
        this.websocket(message);
        return;
      case "cookie-get":
        void this.cookieGet(message);
        return;
      case "cookie-set":
        void this.cookieSet(message);
        return;
      case "credentials":
        this.credentials(message);
        return;
    }
  }

  private notOnOrigin(url: string): string {
    return `url: ${shown(url)} is not on this app's origin ${this.app.origin}; a port reaches only its own service`;
  }

  private async fetch(message: AppFetch): Promise<void> {
    const { id } = message;
    const refuse = (code: AppErrorCode, text: string) => {
      void message.body?.cancel().catch(() => undefined);
      this.fail(id, code, text);
    };
    if (this.exchanges.has(id)) return refuse("bad-request", `id: ${id} is already in flight`);
    if (this.exchanges.size >= MAX_IN_FLIGHT) {
      return refuse("bad-request", `more than ${MAX_IN_FLIGHT} requests in flight on this port`);
    }
    const target = privateUrlOf(this.app, message.url);
    if (target === undefined || !/^https?:/.test(target)) {
      return refuse("bad-request", this.notOnOrigin(message.url));
    }
    const service = this.app.service;
    if (service.scheme === "https") return refuse("tls-required", tlsMessage(service));
    const exchange: Exchange = { abort: new AbortController() };
    this.exchanges.set(id, exchange);
    const over = () => {
      if (this.exchanges.get(id) === exchange) this.exchanges.delete(id);
    };
    try {
      const jars = await this.services.cookies();
      const rewrite = rewriteRequestHeaders(this.app, message.headers, message.referrer, {
        authorization: this.services.authorization(service),
      });
      const cookie = jars.cookieHeader(target, {
        method: message.method,
        sameSiteContext: sameSiteContextOf(message.navigate, rewrite),
      });
      if (cookie !== "") rewrite.headers.push(["Cookie", cookie]);
      const response = await httpRequest(this.services.pool, {
        method: message.method,
        url: target,
        headers: rewrite.headers,
        body: message.body,
        signal: exchange.abort.signal,
      });
      const known = await this.namedHosts(response.headers);
      const { headers, setCookies } = rewriteResponseHeaders(this.app, response.headers, (host) =>
        known.has(host),
      );
      if (setCookies.length > 0 && jars.setFromResponse(target, setCookies).stored > 0) {
        this.services.cookiesChanged();
      }
      // Never asked for (Upgrade is not sent), but a server may still switch: not the app's.
      response.upgrade?.close();
      let body: ReadableStream<Uint8Array> | null = null;
      let bytes: Uint8Array | undefined;
      if (NULL_BODY.has(response.status) || message.method === "HEAD") {
        await response.body.cancel().catch(() => undefined);
        over();
      } else {
        // A small body comes in the reply: no stream to set up and pull across (app-body.ts).
        const length = declaredLength(response.headers);
        const whole =
          length !== null && length <= INLINE_BODY_MAX
            ? await readWhole(response.body, length)
            : undefined;
        if (whole?.kind === "whole") {
          bytes = whole.bytes;
          over();
        } else {
          // Failed midway: streamed as before, the bytes read and then the same error.
          body = streamedBody(whole?.body ?? response.body, over);
        }
      }
      const reply: AppResponse = {
        type: "response",
        id,
        status: response.status,
        statusText: response.statusText,
        headers,
        body,
        documentCookie: jars.documentCookie(target),
      };
      if (bytes !== undefined) reply.bytes = bytes;
      if (exchange.abort.signal.aborted) {
        await body?.cancel().catch(() => undefined);
        over();
        this.fail(id, "aborted", `${this.app.hostHeader}: the request was aborted`);
        return;
      }
      const transfer: Transferable[] =
        body !== null ? [body] : bytes !== undefined ? [bytes.buffer as ArrayBuffer] : [];
      if (!this.send(reply, transfer)) {
        await body?.cancel().catch(() => undefined);
        over();
      }
    } catch (error) {
      over();
      void message.body?.cancel().catch(() => undefined);
      const { code, message: text } = appErrorOf(error, service);
      this.fail(id, code, text);
    }
  }

  /** The hosts of absolute Locations in `headers` that the engine can name. */
  private async namedHosts(headers: readonly (readonly [string, string])[]): Promise<Set<string>> {
    const known = new Set<string>();
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower !== "location" && lower !== "content-location") continue;
      let host: string;
      try {
        host = new URL(value).hostname.replace(/^\[|\]$/g, "");
      } catch {
        continue;
      }
      if (host !== "" && (await this.services.knows(host).catch(() => false))) known.add(host);
    }
    return known;
  }

  private websocket(message: AppWebSocket): void {
    const target = privateUrlOf(this.app, message.url);
    let bad: string | undefined;
    if (target === undefined || !/^wss?:/.test(target))
      bad = `bad-request: ${this.notOnOrigin(message.url)}`;
    else if (this.sockets.size >= MAX_SOCKETS)
      bad = `bad-request: more than ${MAX_SOCKETS} WebSockets on this port`;
    else if (!this.services.socketOpened(this.app.origin))
      bad = `bad-request: more than ${MAX_SOCKETS_PER_ORIGIN} WebSockets of ${this.app.origin} are open`;
    const counted = bad === undefined;
    const socket = carrySocket(
      {
        app: this.app,
        services: this.services,
        url: target ?? "",
        protocols: message.protocols,
        port: message.port,
        onEnd: () => {
          this.sockets.delete(socket);
          if (counted) this.services.socketEnded(this.app.origin);
        },
      },
      bad,
    );
    this.sockets.add(socket);
  }

  private async cookieGet(message: AppCookieGet): Promise<void> {
    const target = privateUrlOf(this.app, message.url);
    if (target === undefined || !/^https?:/.test(target)) {
      this.fail(message.id, "bad-request", this.notOnOrigin(message.url));
      return;
    }
    const jars = await this.services.cookies();
    this.send({ type: "cookies", id: message.id, value: jars.documentCookie(target) });
  }

  private async cookieSet(message: AppCookieSet): Promise<void> {
    const target = privateUrlOf(this.app, message.url);
    if (target === undefined || !/^https?:/.test(target)) {
      this.dropped++;
      return;
    }
    const jars = await this.services.cookies();
    if (jars.setFromDocument(target, message.value) === undefined) this.services.cookiesChanged();
  }

  private credentials(message: AppCredentials): void {
    this.services.setCredentials(this.app.service, message.username, message.password);
    this.send({ type: "ok", id: message.id });
  }
}

/**
 * The SameSite context of a request (RFC 6265bis §5.2). A subresource reaches this port only from
 * the app origin's own pages (the service worker sees no other), so it is same-site unless its
 * Origin or Referer says otherwise. A navigation may come from any site, with its referrer
 * withheld: it is same-site only when the referrer is one of this origin's own pages; else a
 * cross-site top-level navigation ("lax": Lax cookies only with a safe method).
 */
export function sameSiteContextOf(
  navigate: boolean,
  rewrite: { crossSite: boolean; ownReferrer: boolean },
): "strict" | "lax" | "none" {
  if (navigate) return rewrite.ownReferrer && !rewrite.crossSite ? "strict" : "lax";
  return rewrite.crossSite ? "none" : "strict";
}
