// The codec of the agent's local socket (docs/cli-agent.md): the CLI sends ONE JSON request line,
// the agent answers ONE JSON line, and after a successful `dial` answer the connection carries
// the raw TCP stream. Both sides validate what they read with valibot, with bounds: the socket
// is 0600, but a confused or hostile local program must still get a clear error, never a crash.
// Every decode failure is a LocalWireError naming the field ("request.port: ...").

import type { Readable } from "node:stream";
import * as v from "valibot";
import type { AgentStatus } from "./types.ts";

/** Longest request line, newline included: requests are small; a longer one is refused unread. */
export const MAX_REQUEST_BYTES = 4096;
/** Longest answer line: a status with many peers (about 400 bytes each) fits 100,000 peers. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Longest host operand (a DNS name is at most 253 characters). */
const MAX_HOST = 253;
/** Longest wait a request may ask for (ms): ten minutes. */
const MAX_TIMEOUT_MS = 600_000;

/** Why a request failed, as the agent answers it. */
export type LocalErrorCode =
  | "bad-request"
  | "unknown-host"
  | "refused"
  | "timeout"
  | "unreachable"
  | "failed";

/** A request or answer that does not decode, or an answer that says the request failed. */
export class LocalWireError extends Error {
  constructor(
    readonly code: LocalErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "LocalWireError";
  }
}

const host = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(MAX_HOST, `must be at most ${MAX_HOST} characters`),
  v.regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces"),
);
const timeoutMs = v.optional(
  v.pipe(
    v.number("must be a number"),
    v.integer("must be a whole number"),
    v.minValue(1, "must be at least 1"),
    v.maxValue(MAX_TIMEOUT_MS, `must be at most ${MAX_TIMEOUT_MS}`),
  ),
);
const port = v.pipe(
  v.number("must be a number"),
  v.integer("must be a whole number"),
  v.minValue(1, "must be a port (1-65535)"),
  v.maxValue(65535, "must be a port (1-65535)"),
);

const REQUEST = v.variant(
  "op",
  [
    v.object({ op: v.literal("status") }),
    v.object({ op: v.literal("ping"), host, timeoutMs }),
    v.object({ op: v.literal("dial"), host, port, timeoutMs }),
    v.object({ op: v.literal("hostKeys"), host }),
    v.object({ op: v.literal("knownHosts") }),
  ],
  (issue) =>
    issue.received === "undefined"
      ? "op is missing: expected status, ping, dial, hostKeys or knownHosts"
      : `expected status, ping, dial, hostKeys or knownHosts, got ${issue.received}`,
);

/** One request of the local socket. */
export type LocalRequest = v.InferOutput<typeof REQUEST>;

/** The operations. */
export type LocalOp = LocalRequest["op"];

/** A peer's published host keys (AgentControl.hostKeys). */
export interface HostKeysAnswer {
  name: string;
  names: string[];
  keys: string[];
}

/** What a successful answer carries, per operation. */
export interface LocalAnswers {
  status: { status: AgentStatus };
  ping: { rttMs: number };
  dial: Record<string, never>;
  hostKeys: { hostKeys: HostKeysAnswer };
  knownHosts: { lines: string[] };
}

const text = (max: number) => v.pipe(v.string("must be a string"), v.maxLength(max, `too long`));
const strings = (max: number, each: number) =>
  v.pipe(v.array(text(each), "must be an array"), v.maxLength(max, `more than ${max} items`));
const nullable = <S extends v.GenericSchema>(schema: S) => v.nullable(schema);
const count = v.pipe(v.number("must be a number"), v.minValue(0, "must not be negative"));

const PEER = v.object({
  key: text(64),
  name: text(255),
  addresses: strings(16, 64),
  online: v.boolean("must be true or false"),
  path: v.picklist(["direct", "relay", "none"], "must be direct, relay or none"),
  endpoint: nullable(text(64)),
  relay: nullable(text(255)),
  rttMs: nullable(count),
  lastHandshake: nullable(count),
  rxBytes: count,
  txBytes: count,
});

const STATUS = v.object({
  self: nullable(
    v.object({ name: text(255), key: text(64), addresses: strings(16, 64), domain: text(255) }),
  ),
  control: v.object({ state: text(64), url: text(2048), approvalUrl: nullable(text(2048)) }),
  mode: v.picklist(["userspace", "tun"], "must be userspace or tun"),
  relay: nullable(v.object({ id: text(255), url: text(2048), state: text(64) })),
  endpoints: strings(64, 64),
  peers: v.pipe(v.array(PEER, "must be an array"), v.maxLength(200_000, "too many peers")),
});

const ANSWERS = {
  status: v.object({ status: STATUS }),
  ping: v.object({ rttMs: count }),
  dial: v.object({}),
  hostKeys: v.object({
    hostKeys: v.object({ name: text(255), names: strings(64, 255), keys: strings(16, 8192) }),
  }),
  knownHosts: v.object({ lines: strings(200_000, 16_384) }),
} as const;

const FAILURE = v.object({
  ok: v.literal(false),
  error: v.object({
    code: v.picklist(
      ["bad-request", "unknown-host", "refused", "timeout", "unreachable", "failed"],
      "is not a known error code",
    ),
    message: text(4096),
  }),
});

/** "request.port" from a valibot issue's path. */
function where(root: string, issue: v.BaseIssue<unknown>): string {
  let out = root;
  for (const item of issue.path ?? []) {
    out += typeof item.key === "number" ? `[${item.key}]` : `.${String(item.key)}`;
  }
  return out;
}

/** Parses one line of JSON; the error names `root`. */
function parseJson(line: string, root: string): unknown {
  try {
    return JSON.parse(line);
  } catch (error) {
    throw new LocalWireError("bad-request", `${root}: not JSON (${(error as Error).message})`);
  }
}

/**
 * Decodes a request line (without its newline). Throws LocalWireError("bad-request") naming
 * the field when it is too long, not JSON, or not one of the requests.
 */
export function decodeRequest(line: string): LocalRequest {
  if (Buffer.byteLength(line) >= MAX_REQUEST_BYTES) {
    throw new LocalWireError("bad-request", `request: longer than ${MAX_REQUEST_BYTES} bytes`);
  }
  const parsed = parseJson(line, "request");
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new LocalWireError("bad-request", "request: expected a JSON object with op");
  }
  const result = v.safeParse(REQUEST, parsed, { abortEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    throw new LocalWireError("bad-request", `${where("request", issue)}: ${issue.message}`);
  }
  return result.output;
}

/** One request as its line, newline included. */
export function encodeRequest(request: LocalRequest): string {
  return `${JSON.stringify(request)}\n`;
}

/** A successful answer to `op` as its line, newline included. */
export function encodeAnswer<Op extends LocalOp>(_op: Op, answer: LocalAnswers[Op]): string {
  return `${JSON.stringify({ ok: true, ...answer })}\n`;
}

/** A failure answer as its line; the message is cut to fit the answer's bound. */
export function encodeFailure(code: LocalErrorCode, message: string): string {
  return `${JSON.stringify({ ok: false, error: { code, message: message.slice(0, 4000) } })}\n`;
}

/**
 * Decodes the agent's answer to `op`. Returns the answer's payload; throws LocalWireError with
 * the agent's code and message for a failure answer, or "bad-request" naming the field for an
 * answer that does not decode.
 */
export function decodeAnswer<Op extends LocalOp>(op: Op, line: string): LocalAnswers[Op] {
  const parsed = parseJson(line, "answer");
  if (typeof parsed !== "object" || parsed === null || !("ok" in parsed)) {
    throw new LocalWireError("bad-request", "answer: not an object with ok");
  }
  if (parsed.ok === false) {
    const failure = v.safeParse(FAILURE, parsed, { abortEarly: true });
    if (!failure.success) {
      const issue = failure.issues[0];
      throw new LocalWireError("bad-request", `${where("answer", issue)}: ${issue.message}`);
    }
    throw new LocalWireError(failure.output.error.code, failure.output.error.message);
  }
  if (parsed.ok !== true) throw new LocalWireError("bad-request", "answer.ok: not a boolean");
  const result = v.safeParse(ANSWERS[op], parsed, { abortEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    throw new LocalWireError("bad-request", `${where("answer", issue)}: ${issue.message}`);
  }
  return result.output as LocalAnswers[Op];
}

/**
 * Reads one line (up to "\n") from `socket`, at most `maxBytes` with its newline. What came
 * after the newline is put back (unshift) and the socket left paused, so the raw stream that
 * follows a dial answer loses no byte. Rejects with LocalWireError naming `what` when the line
 * is too long, the stream ends first, or `timeoutMs` passes.
 */
export function readLine(
  socket: Readable,
  maxBytes: number,
  what: string,
  timeoutMs?: number,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (error: Error | undefined, line?: string) => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("close", onEnd);
      if (timer !== undefined) clearTimeout(timer);
      socket.pause();
      if (error !== undefined) reject(error);
      else resolve(line ?? "");
    };
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      const take = newline < 0 ? chunk.length : newline;
      if (size + take + 1 > maxBytes) {
        done(new LocalWireError("bad-request", `${what}: longer than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk.subarray(0, take));
      size += take;
      if (newline < 0) return;
      const rest = chunk.subarray(newline + 1);
      done(undefined, Buffer.concat(chunks).toString("utf8"));
      if (rest.length > 0) socket.unshift(rest);
    };
    const onEnd = () =>
      done(new LocalWireError("failed", `${what}: the connection ended before a full line`));
    const onError = (error: Error) =>
      done(new LocalWireError("failed", `${what}: ${error.message}`));
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () => done(new LocalWireError("timeout", `${what}: no full line within ${timeoutMs} ms`)),
        timeoutMs,
      );
    }
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.on("error", onError);
    socket.resume();
  });
}
