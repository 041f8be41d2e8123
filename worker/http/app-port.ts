// The app port protocol (docs/private-urls.md, DESIGN §9.4): what an app origin's service worker
// and injected script say to the engine over a MessagePort that the Corridor-origin bridge iframe
// handed them, and what the engine answers. The engine binds each port to one service (host, port,
// scheme) when it is made; nothing in a message can name another service: URLs in messages must
// be on the port's own app origin, and the engine checks that. Every message from an app origin
// is hostile input: parseAppPortMessage and parseSocketCommand check types, bounds and forms and
// say what was wrong; the engine answers a bad message with an "error" reply (when it has an id)
// and otherwise drops it.
//
// Bodies move as transferable ReadableStreams (Chromium transfers them between workers), so a
// 1 GiB download or a 256 MiB upload never sits whole in one message; a small response body
// (Content-Length <= 64 KiB) comes whole in its reply instead (AppResponse.bytes).

import * as v from "valibot";

/** Bounds on app port messages. */
export const APP_PORT_LIMITS = {
  /** Request ids: positive safe integers, unique per port while in flight. */
  maxId: Number.MAX_SAFE_INTEGER,
  /** A URL in a message, in characters. */
  url: 16 * 1024,
  /** Header fields of one request, and one field's name and value. */
  headers: 256,
  headerName: 256,
  headerValue: 64 * 1024,
  /** WebSocket subprotocols offered. */
  protocols: 32,
  /** A document.cookie assignment, in characters (browsers cap one cookie at 4 KiB). */
  cookie: 8 * 1024,
  /** Basic credentials given on the credentials page. */
  username: 1024,
  password: 1024,
  /** One WebSocket message sent by the page, in bytes (UTF-8 for text). */
  socketMessage: 64 * 1024 * 1024,
  /** A WebSocket close reason, in UTF-8 bytes (RFC 6455: the close frame's 125 minus the code). */
  closeReason: 123,
} as const;

/** An HTTP token (RFC 9110 §5.6.2): methods and field names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value: no CR, LF or NUL (the encoder refuses them too; here the message is refused). */
const FIELD_VALUE = /^[^\r\n\0]*$/;

/** Methods a page's fetch may never use (Fetch standard, "forbidden method"). */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

const id = v.pipe(v.number(), v.safeInteger("an id must be an integer"), v.minValue(1));
const url = v.pipe(v.string(), v.maxLength(APP_PORT_LIMITS.url, "the URL is too long"));
const headers = v.pipe(
  v.array(
    v.tuple([
      v.pipe(
        v.string(),
        v.maxLength(APP_PORT_LIMITS.headerName),
        v.regex(TOKEN, "a header name must be an HTTP token"),
      ),
      v.pipe(
        v.string(),
        v.maxLength(APP_PORT_LIMITS.headerValue),
        v.regex(FIELD_VALUE, "a header value must not hold CR, LF or NUL"),
      ),
    ]),
  ),
  v.maxLength(APP_PORT_LIMITS.headers, "too many header fields"),
);
const isStream = (value: unknown): value is ReadableStream<Uint8Array> =>
  typeof ReadableStream === "function" && value instanceof ReadableStream;
const isPort = (value: unknown): value is MessagePort =>
  typeof MessagePort === "function" && value instanceof MessagePort;

const fetchSchema = v.object({
  type: v.literal("fetch"),
  id,
  method: v.pipe(
    v.string(),
    v.maxLength(32),
    v.regex(TOKEN, "the method must be an HTTP token"),
    // The Fetch standard's forbidden methods: TRACE would echo the jar's HttpOnly cookies and
    // the stored Authorization back to the app; CONNECT would make the server a tunnel.
    v.check(
      (method) => !FORBIDDEN_METHODS.has(method.toUpperCase()),
      "CONNECT, TRACE and TRACK are not allowed",
    ),
  ),
  url,
  headers,
  body: v.union([v.null(), v.custom<ReadableStream<Uint8Array>>(isStream, "a body stream")]),
  navigate: v.boolean(),
  referrer: url,
});
const abortSchema = v.object({ type: v.literal("abort"), id });
const websocketSchema = v.object({
  type: v.literal("websocket"),
  url,
  protocols: v.pipe(
    v.array(
      v.pipe(v.string(), v.maxLength(256), v.regex(TOKEN, "a subprotocol must be an HTTP token")),
    ),
    v.maxLength(APP_PORT_LIMITS.protocols),
  ),
  port: v.custom<MessagePort>(isPort, "a MessagePort"),
});
const cookieGetSchema = v.object({ type: v.literal("cookie-get"), id, url });
const cookieSetSchema = v.object({
  type: v.literal("cookie-set"),
  url,
  value: v.pipe(v.string(), v.maxLength(APP_PORT_LIMITS.cookie, "the cookie is too long")),
});
const credentialsSchema = v.object({
  type: v.literal("credentials"),
  id,
  username: v.pipe(
    v.string(),
    v.maxLength(APP_PORT_LIMITS.username),
    v.regex(/^[^:\0\r\n]*$/, "a user name must not hold ':', CR, LF or NUL"),
  ),
  password: v.pipe(
    v.string(),
    v.maxLength(APP_PORT_LIMITS.password),
    v.regex(/^[^\0\r\n]*$/, "a password must not hold CR, LF or NUL"),
  ),
});

const messageSchema = v.variant("type", [
  fetchSchema,
  abortSchema,
  websocketSchema,
  cookieGetSchema,
  cookieSetSchema,
  credentialsSchema,
]);

/**
 * One HTTP request from the app origin (its service worker's fetch event). `url` is the URL as
 * the browser asked it, on the app origin; the engine maps it to the service. `navigate` marks a
 * navigation (the service worker injects the page script into HTML and shows error pages).
 */
export type AppFetch = v.InferOutput<typeof fetchSchema>;
/** Cancels request `id` (the browser aborted the fetch): its exchange is torn down. */
export type AppAbort = v.InferOutput<typeof abortSchema>;
/**
 * Opens a WebSocket to the service (`url`: ws: or wss: on the app origin) and carries it on
 * `port` (SocketCommand from the page, SocketEvent from the engine).
 */
export type AppWebSocket = v.InferOutput<typeof websocketSchema>;
/** Asks the `document.cookie` string for a page at `url`: answered by a "cookies" reply. */
export type AppCookieGet = v.InferOutput<typeof cookieGetSchema>;
/** `document.cookie = value` on a page at `url` (no reply; HttpOnly cookies are not touched). */
export type AppCookieSet = v.InferOutput<typeof cookieSetSchema>;
/**
 * Basic credentials for this service from the credentials page (an empty user name forgets
 * them): the engine sends them on the service's later requests. Answered by "ok".
 */
export type AppCredentials = v.InferOutput<typeof credentialsSchema>;

/** Anything an app origin may send on its port. */
export type AppPortMessage =
  | AppFetch
  | AppAbort
  | AppWebSocket
  | AppCookieGet
  | AppCookieSet
  | AppCredentials;

/** Why a request failed before a response: the service worker picks its error page by this. */
export type AppErrorCode =
  /** The host is not in the map, or no network of the engine routes its address. */
  | "unknown-host"
  /** The host is known but not online (no handshake, peer offline). */
  | "offline"
  /** The host answered the connection with a reset: nothing listens on the port. */
  | "refused"
  /** Connect, response or body timed out. */
  | "timeout"
  /** The service speaks TLS (or the label asks https, which the engine does not speak yet). */
  | "tls-required"
  /** The server's answer was not HTTP/1.1 as the engine reads it. */
  | "protocol"
  /** The message was refused (bad form, another origin's URL): the text says which part. */
  | "bad-request"
  /** The request was aborted by the app (or its port closed). */
  | "aborted"
  /** Anything else; the message says what. */
  | "failed";

/**
 * The engine's answer to a "fetch": the response head and its body, as a transferred stream or,
 * when small (Content-Length <= 64 KiB, read whole before replying), as `bytes`.
 */
export interface AppResponse {
  type: "response";
  id: number;
  status: number;
  statusText: string;
  /**
   * In order as the server sent them, minus Set-Cookie (the jar took them) and the framing
   * fields; Location rewritten to the app origin when it pointed at a private service.
   */
  headers: [string, string][];
  /** The body as a transferred stream; null when it has none or came whole in `bytes`. */
  body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body when it was small (its ArrayBuffer transferred; `body` is null then). A
   * transferred stream costs round trips between the engine and the service worker for its set-up
   * and each chunk; a small body is read to its end first and comes in the reply.
   */
  bytes?: Uint8Array;
  /** `document.cookie` for the request's URL after this response's Set-Cookie fields. */
  documentCookie: string;
}

/** A request failed (or a message was refused): `code` for the page, `message` for people. */
export interface AppError {
  type: "error";
  id: number;
  code: AppErrorCode;
  message: string;
}

/** The answer to "cookie-get". */
export interface AppCookies {
  type: "cookies";
  id: number;
  value: string;
}

/** The answer to "credentials". */
export interface AppOk {
  type: "ok";
  id: number;
}

/** Anything the engine sends on an app port. */
export type AppPortReply = AppResponse | AppError | AppCookies | AppOk;

/** A message on an app port was refused: `field` names the part, the message says why. */
export class AppPortProtocolError extends Error {
  override readonly name = "AppPortProtocolError";
  constructor(
    readonly field: string,
    detail: string,
    /** The message's id when it had a valid one (the engine answers with an "error"). */
    readonly id?: number,
  ) {
    super(`app port message: ${field}: ${detail}`);
  }
}

function issueText(issues: readonly v.BaseIssue<unknown>[]): [string, string] {
  const first = issues[0];
  const path = first?.path?.map((item) => String(item.key)).join(".") || "message";
  return [path, first?.message ?? "invalid"];
}

/** The id of a message whose id is valid, whatever else is wrong with it. */
function idOf(data: unknown): number | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const value = (data as { id?: unknown }).id;
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1 ? value : undefined;
}

/** Checks a message from an app origin; throws AppPortProtocolError naming the bad part. */
export function parseAppPortMessage(data: unknown): AppPortMessage {
  const result = v.safeParse(messageSchema, data);
  if (result.success) return result.output;
  const [field, detail] = issueText(result.issues);
  throw new AppPortProtocolError(field, detail, idOf(data));
}

// --- One WebSocket's port: the page's commands and the engine's events. ---

const socketCommandSchema = v.variant("type", [
  v.object({
    type: v.literal("send"),
    data: v.union([
      v.pipe(v.string(), v.maxLength(APP_PORT_LIMITS.socketMessage)),
      v.custom<ArrayBuffer>(
        (value) =>
          value instanceof ArrayBuffer && value.byteLength <= APP_PORT_LIMITS.socketMessage,
        "binary data must be an ArrayBuffer within the message limit",
      ),
    ]),
  }),
  v.object({
    type: v.literal("close"),
    code: v.optional(
      v.pipe(
        v.number(),
        v.integer(),
        v.check(
          (code) => code === 1000 || (code >= 3000 && code <= 4999),
          "a close code from the page must be 1000 or 3000-4999",
        ),
      ),
    ),
    reason: v.optional(
      v.pipe(
        v.string(),
        v.check(
          (reason) => new TextEncoder().encode(reason).length <= APP_PORT_LIMITS.closeReason,
          "a close reason is at most 123 bytes of UTF-8",
        ),
      ),
    ),
  }),
]);

/** What the page's WebSocket replacement asks of its socket: send a message, or close. */
export type SocketCommand = v.InferOutput<typeof socketCommandSchema>;

/** What the engine tells the page's WebSocket replacement. */
export type SocketEvent =
  /** The handshake succeeded: the server's chosen subprotocol and extensions ("" when none). */
  | { type: "open"; protocol: string; extensions: string }
  /** A whole message: text as a string, binary as an ArrayBuffer. */
  | { type: "message"; data: string | ArrayBuffer }
  /** Bytes queued by sends and not yet written to the connection (for bufferedAmount). */
  | { type: "buffered"; amount: number }
  /** The socket closed (after "open" or instead of it): the page fires error first if unclean. */
  | { type: "closed"; code: number; reason: string; wasClean: boolean; message?: string };

/** Checks a command from the page; throws AppPortProtocolError naming the bad part. */
export function parseSocketCommand(data: unknown): SocketCommand {
  const result = v.safeParse(socketCommandSchema, data);
  if (result.success) return result.output;
  const [field, detail] = issueText(result.issues);
  throw new AppPortProtocolError(field, detail);
}
