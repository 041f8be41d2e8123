// The page's WebSocket on an app origin (docs/private-urls.md, "Service worker and injected
// script"): service workers never see WebSockets, so the injected script replaces
// window.WebSocket with this class, which the engine carries. The page makes a MessageChannel and
// gives one end to the service worker ("corridor-websocket"), which hands it to the engine with
// an AppWebSocket; from then on the page and the engine talk directly on that port (SocketCommand
// from here, SocketEvent from the engine). It behaves as the DOM's WebSocket does: the constants,
// url, protocol, extensions, binaryType ("blob" or "arraybuffer"), bufferedAmount, on* handlers
// and addEventListener (MessageEvent and CloseEvent), send() of strings, ArrayBuffers, views and
// Blobs in order, close() with the DOM's checks and exceptions. A URL on another origin (a
// public wss:// server) gets the browser's own WebSocket, which reaches it directly.

import type { SocketCommand, SocketEvent } from "../../worker/http/app-port.ts";

/** The longest close reason, in UTF-8 bytes (RFC 6455: 125 minus the code's 2). */
const MAX_REASON_BYTES = 123;
/** A subprotocol (RFC 6455 §4.1: an HTTP token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const encoder = new TextEncoder();

function syntaxError(message: string): DOMException {
  return new DOMException(message, "SyntaxError");
}

/** A string as WebIDL's USVString makes it (lone surrogates become U+FFFD). */
function usv(value: unknown): string {
  const text = String(value);
  const wellFormed = (text as { toWellFormed?: () => string }).toWellFormed;
  return typeof wellFormed === "function"
    ? wellFormed.call(text)
    : new TextDecoder().decode(encoder.encode(text));
}

/** Parses a WebSocket URL as the DOM's constructor does; throws its SyntaxErrors. */
export function parseSocketUrl(url: unknown, base: string): URL {
  const text = usv(url);
  let parsed: URL;
  try {
    parsed = new URL(text, base);
  } catch {
    throw syntaxError(`Failed to construct 'WebSocket': The URL '${text}' is invalid.`);
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw syntaxError(
      `Failed to construct 'WebSocket': The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. '${parsed.protocol}' is not allowed.`,
    );
  }
  if (parsed.href.includes("#")) {
    throw syntaxError(
      `Failed to construct 'WebSocket': The URL contains a fragment identifier ('${parsed.hash.slice(1)}'). Fragment identifiers are not allowed in WebSocket URLs.`,
    );
  }
  return parsed;
}

/** The subprotocols offered, as the DOM's constructor checks them; throws its SyntaxErrors. */
export function parseProtocols(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  const list =
    typeof protocols === "object" && protocols !== null && Symbol.iterator in protocols
      ? [...(protocols as Iterable<unknown>)].map(usv)
      : [usv(protocols)];
  const seen = new Set<string>();
  for (const protocol of list) {
    if (!TOKEN.test(protocol)) {
      throw syntaxError(
        `Failed to construct 'WebSocket': The subprotocol '${protocol}' is invalid.`,
      );
    }
    if (seen.has(protocol)) {
      throw syntaxError(
        `Failed to construct 'WebSocket': The subprotocol '${protocol}' is duplicated.`,
      );
    }
    seen.add(protocol);
  }
  return list;
}

/** What the class needs from the page around it (injected, so tests can give their own). */
export interface SocketHost {
  /** The document's base URL (relative socket URLs resolve against it). */
  baseUrl(): string;
  /** This page's origin ("http://web-01--3000.corridor.localhost:8080"). */
  origin(): string;
  /** Hands a socket to the service worker; false when no service worker controls the page. */
  open(url: string, protocols: string[], port: MessagePort): boolean;
  /** The browser's own WebSocket, for URLs on other origins. */
  native: typeof WebSocket | undefined;
}

type HandlerSlot = { value: unknown; listener: ((event: Event) => void) | null };

/** Makes the WebSocket class for a page; `host` links it to the service worker. */
export function makeWebSocketClass(host: SocketHost): typeof WebSocket {
  const handlers = new WeakMap<object, Map<string, HandlerSlot>>();

  class WebSocket extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    declare readonly CONNECTING: 0;
    declare readonly OPEN: 1;
    declare readonly CLOSING: 2;
    declare readonly CLOSED: 3;

    #url = "";
    #origin = "";
    #protocol = "";
    #extensions = "";
    #readyState = 0;
    #opened = false;
    #binaryType: BinaryType = "blob";
    /** Bytes the engine last said it holds, plus sends since. */
    #buffered = 0;
    /** Bytes of sends still being read (Blobs) before they are posted. */
    #reading = 0;
    #port: MessagePort | null = null;
    /** Sends wait on this while a Blob before them is read, to keep their order. */
    #queue: Promise<void> = Promise.resolve();
    #queued = 0;

    constructor(url: string | URL, protocols?: string | string[]) {
      super();
      // biome-ignore lint/complexity/noArguments: the DOM tells a missing argument from undefined
      if (arguments.length === 0) {
        throw new TypeError(
          "Failed to construct 'WebSocket': 1 argument required, but only 0 present.",
        );
      }
      const parsed = parseSocketUrl(url, host.baseUrl());
      const list = parseProtocols(protocols);
      const page = new URL(host.origin());
      const wantScheme = parsed.protocol === "wss:" ? "https:" : "http:";
      if (parsed.host !== page.host || wantScheme !== page.protocol) {
        // Another origin: not a private service of this tab; the browser reaches it directly.
        if (host.native === undefined) throw syntaxError("no WebSocket for other origins here");
        // biome-ignore lint/correctness/noConstructorReturn: the DOM's WebSocket for other origins
        return new host.native(parsed.href, list) as unknown as WebSocket;
      }
      this.#url = parsed.href;
      this.#origin = parsed.origin;
      const channel = new MessageChannel();
      this.#port = channel.port1;
      channel.port1.onmessage = (event: MessageEvent) => this.#onEvent(event.data as SocketEvent);
      if (!host.open(parsed.href, list, channel.port2)) {
        setTimeout(() => {
          this.#onEvent({
            type: "closed",
            code: 1006,
            reason: "",
            wasClean: false,
            message: "this page is not carried by Corridor's service worker",
          });
        }, 0);
      }
    }

    static override [Symbol.hasInstance](value: unknown): boolean {
      if (host.native !== undefined && value instanceof host.native) return true;
      // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }

    get url(): string {
      return this.#url;
    }
    get readyState(): number {
      return this.#readyState;
    }
    get protocol(): string {
      return this.#protocol;
    }
    get extensions(): string {
      return this.#extensions;
    }
    get bufferedAmount(): number {
      return this.#buffered + this.#reading;
    }
    get binaryType(): BinaryType {
      return this.#binaryType;
    }
    set binaryType(value: BinaryType) {
      // An enum attribute: other values are ignored, as the DOM does.
      if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
    }

    send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      // biome-ignore lint/complexity/noArguments: the DOM tells a missing argument from undefined
      if (arguments.length === 0) {
        throw new TypeError(
          "Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.",
        );
      }
      if (this.#readyState === 0) {
        throw new DOMException(
          "Failed to execute 'send' on 'WebSocket': Still in CONNECTING state.",
          "InvalidStateError",
        );
      }
      let payload: string | ArrayBuffer | Blob;
      let size: number;
      if (data instanceof ArrayBuffer) {
        payload = data.slice(0);
        size = payload.byteLength;
      } else if (ArrayBuffer.isView(data)) {
        payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
        size = payload.byteLength;
      } else if (data instanceof Blob) {
        payload = data;
        size = data.size;
      } else {
        payload = usv(data);
        size = encoder.encode(payload).length;
      }
      // After close() the DOM counts the bytes and drops them.
      this.#buffered += size;
      if (this.#readyState !== 1) return;
      if (payload instanceof Blob || this.#queued > 0) {
        const blob = payload;
        this.#queued++;
        if (blob instanceof Blob) {
          this.#buffered -= size;
          this.#reading += size;
        }
        this.#queue = this.#queue.then(async () => {
          const out = blob instanceof Blob ? await blob.arrayBuffer().catch(() => null) : blob;
          if (blob instanceof Blob) {
            this.#reading -= size;
            this.#buffered += size;
          }
          this.#queued--;
          if (out !== null) this.#post({ type: "send", data: out });
        });
        return;
      }
      this.#post({ type: "send", data: payload });
    }

    close(code?: number, reason?: string): void {
      let checked: number | undefined;
      if (code !== undefined) {
        checked = clampShort(code);
        if (checked !== 1000 && (checked < 3000 || checked > 4999)) {
          throw new DOMException(
            `Failed to execute 'close' on 'WebSocket': The close code must be either 1000, or between 3000 and 4999. ${checked} is neither.`,
            "InvalidAccessError",
          );
        }
      }
      let why: string | undefined;
      if (reason !== undefined) {
        why = usv(reason);
        if (encoder.encode(why).length > MAX_REASON_BYTES) {
          throw syntaxError(
            "Failed to execute 'close' on 'WebSocket': The close reason must not be greater than 123 UTF-8 bytes.",
          );
        }
      }
      if (this.#readyState >= 2) return;
      const wasConnecting = this.#readyState === 0;
      this.#readyState = 2;
      // While connecting the connection is failed (the engine reports 1006); else a close frame.
      if (wasConnecting) this.#post({ type: "close" });
      else {
        const command: SocketCommand = { type: "close" };
        if (checked !== undefined) command.code = checked;
        if (why !== undefined) command.reason = why;
        void this.#queue.then(() => this.#post(command));
      }
    }

    #post(command: SocketCommand): void {
      const transfer: Transferable[] =
        command.type === "send" && typeof command.data !== "string" ? [command.data] : [];
      this.#port?.postMessage(command, transfer);
    }

    #onEvent(event: SocketEvent): void {
      switch (event?.type) {
        case "open":
          if (this.#readyState !== 0) return; // close() came first: the close will follow
          this.#readyState = 1;
          this.#opened = true;
          this.#protocol = String(event.protocol ?? "");
          this.#extensions = String(event.extensions ?? "");
          this.dispatchEvent(new Event("open"));
          return;
        case "message": {
          if (this.#readyState !== 1) return;
          const raw = event.data;
          const data =
            typeof raw === "string" || this.#binaryType === "arraybuffer" ? raw : new Blob([raw]);
          this.dispatchEvent(new MessageEvent("message", { data, origin: this.#origin }));
          return;
        }
        case "buffered":
          if (typeof event.amount === "number") this.#buffered = event.amount;
          return;
        case "closed": {
          if (this.#readyState === 3) return;
          this.#readyState = 3;
          this.#port?.close();
          this.#port = null;
          if (event.message) console.warn(`WebSocket ${this.#url}: ${event.message}`);
          // The DOM fires error only when the connection failed (the handshake, a protocol
          // error, close() while connecting), not when an open one merely dropped: the engine
          // names a failure in `message`.
          if (!event.wasClean && (!this.#opened || event.message)) {
            this.dispatchEvent(new Event("error"));
          }
          this.dispatchEvent(
            new CloseEvent("close", {
              wasClean: Boolean(event.wasClean),
              code: Number(event.code) || 1006,
              reason: String(event.reason ?? ""),
            }),
          );
          return;
        }
      }
    }
  }

  for (const [name, value] of [
    ["CONNECTING", 0],
    ["OPEN", 1],
    ["CLOSING", 2],
    ["CLOSED", 3],
  ] as const) {
    Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
  }
  Object.defineProperty(WebSocket.prototype, Symbol.toStringTag, {
    value: "WebSocket",
    configurable: true,
  });
  for (const type of ["open", "message", "error", "close"]) {
    Object.defineProperty(WebSocket.prototype, `on${type}`, {
      enumerable: true,
      configurable: true,
      get(this: EventTarget) {
        return handlers.get(this)?.get(type)?.value ?? null;
      },
      set(this: EventTarget, value: unknown) {
        let slots = handlers.get(this);
        if (slots === undefined) {
          slots = new Map();
          handlers.set(this, slots);
        }
        // EventHandler: a non-object is null; setting null removes the listener, and a later
        // handler goes to the end of the listener list (the DOM's order).
        const handler = typeof value === "object" || typeof value === "function" ? value : null;
        let slot = slots.get(type);
        if (handler === null) {
          if (slot?.listener) this.removeEventListener(type, slot.listener);
          slots.delete(type);
          return;
        }
        if (slot === undefined) {
          const fresh: HandlerSlot = { value: handler, listener: null };
          fresh.listener = function (this: EventTarget, event: Event) {
            const current = fresh.value;
            if (typeof current === "function") current.call(this, event);
          };
          this.addEventListener(type, fresh.listener);
          slot = fresh;
          slots.set(type, slot);
        }
        slot.value = handler;
      },
    });
  }
  return WebSocket as unknown as typeof globalThis.WebSocket;
}

/** WebIDL's [Clamp] unsigned short. */
function clampShort(value: unknown): number {
  const n = Number(value);
  if (Number.isNaN(n)) return 0;
  const clamped = Math.min(Math.max(n, 0), 65535);
  // Round half to even, as [Clamp] does.
  const floor = Math.floor(clamped);
  const diff = clamped - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
