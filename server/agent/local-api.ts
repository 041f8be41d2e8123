// The agent's local socket (docs/cli-agent.md): a Unix socket, mode 0600, where `corridor
// status`, `ping`, `nc`, `ssh` and `ssh-known-hosts` ask the running agent (AgentControl) for
// what they need. One request line, one answer line (local-wire.ts); a successful `dial` turns
// the connection into the raw TCP stream into the mesh, half-close included.
//
// The socket appears atomically and only with its final mode: it is bound inside a fresh
// temporary directory (mode 0700, beside the path: nobody else can reach the socket while its
// mode is still the umask's), chmod 0600, then hard-linked to its path (link(2) never replaces
// an existing file, so two agents starting at once cannot both win). A socket left by an agent
// that died is removed only when nothing answers on it; a live one makes this start fail.

import { chmod, link, lstat, mkdtemp, rm, unlink } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { basename, dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import type { Logger } from "../log.ts";
import {
  decodeRequest,
  encodeAnswer,
  encodeFailure,
  type LocalErrorCode,
  type LocalRequest,
  LocalWireError,
  MAX_REQUEST_BYTES,
  readLine,
} from "./local-wire.ts";
import { type AgentControl, DialError } from "./types.ts";

/** How long a client may take to send its request line. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Defaults when the request names no timeout. */
const DEFAULT_PING_TIMEOUT_MS = 2_000;
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

/** Options of startLocalApi. */
export interface LocalApiOptions {
  /** The socket's path (`--socket`, else `agent.sock` in the state dir). */
  path: string;
  /** The running agent. */
  control: AgentControl;
  /** Where requests and failures are logged (debug for requests, warn for failures). */
  logger?: Logger;
}

/** The local socket, listening. */
export interface LocalApi {
  readonly path: string;
  /** Stops listening, ends open connections and removes the socket file (if still ours). */
  close(): Promise<void>;
}

/** Starting the local socket failed: another agent answers there, or the path is not a socket. */
export class LocalApiStartError extends Error {
  override name = "LocalApiStartError";
}

/** Whether something accepts connections on the Unix socket `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/** Removes a stale socket at `path`; throws LocalApiStartError when it is live or not a socket. */
async function clearStale(path: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stat.isSocket()) {
    throw new LocalApiStartError(`${path} exists and is not a socket: not replacing it`);
  }
  if (await answers(path)) {
    throw new LocalApiStartError(
      `another agent answers on ${path}: stop it first, or give this one --socket PATH`,
    );
  }
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/** Listens on `path` (a Unix socket, 0600) and serves `control`'s requests. */
export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const { path, control, logger } = options;
  await clearStale(path);
  const open = new Set<Socket>();
  // allowHalfOpen: a client's FIN after a dial half-closes the mesh stream, nothing more.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    socket.on("error", () => socket.destroy());
    void serveConnection(socket, control, logger);
  });
  try {
    await listenPrivately(server, path);
  } catch (error) {
    await closeServer(server);
    throw error;
  }
  const ours = await lstat(path);
  let closed = false;
  return {
    path,
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of open) socket.destroy();
      await closeServer(server);
      // Only our own inode: a later agent may have taken the path after a stale check.
      const now = await lstat(path).catch(() => undefined);
      if (now !== undefined && now.ino === ours.ino && now.dev === ours.dev) {
        await unlink(path).catch(() => undefined);
      }
    },
  };
}

/**
 * Binds `server` to a socket in a fresh 0700 directory beside `path`, makes it 0600, then
 * hard-links it to `path` (never replacing a file there); the temporary directory is removed.
 * The server keeps listening on the linked socket. Throws LocalApiStartError when `path`
 * appeared meanwhile.
 */
export async function listenPrivately(server: Server, path: string): Promise<void> {
  const dir = await mkdtemp(join(dirname(path), `.${basename(path)}.`));
  try {
    const temporary = join(dir, "s");
    await listen(server, temporary);
    await chmod(temporary, 0o600);
    try {
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        throw new LocalApiStartError(`${path} appeared while this agent started: another agent?`);
      }
      throw error;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The answer code and message for what a request's handling threw. */
function failureOf(error: unknown): { code: LocalErrorCode; message: string } {
  if (error instanceof DialError) return { code: error.reason, message: error.message };
  if (error instanceof LocalWireError) return { code: error.code, message: error.message };
  return { code: "failed", message: error instanceof Error ? error.message : String(error) };
}

async function serveConnection(
  socket: Socket,
  control: AgentControl,
  logger: Logger | undefined,
): Promise<void> {
  let request: LocalRequest;
  try {
    const line = await readLine(socket, MAX_REQUEST_BYTES, "request", REQUEST_TIMEOUT_MS);
    request = decodeRequest(line);
  } catch (error) {
    const { code, message } = failureOf(error);
    logger?.warn({ code, message }, "local_api_bad_request");
    socket.end(encodeFailure(code, message));
    return;
  }
  logger?.debug({ op: request.op }, "local_api_request");
  try {
    if (request.op === "dial") {
      await serveDial(socket, control, request, logger);
      return;
    }
    socket.end(await answer(control, request));
  } catch (error) {
    const { code, message } = failureOf(error);
    logger?.info({ op: request.op, code, message }, "local_api_failed");
    if (!socket.destroyed) socket.end(encodeFailure(code, message));
  }
}

/** The answer line of every request but dial. */
async function answer(
  control: AgentControl,
  request: Exclude<LocalRequest, { op: "dial" }>,
): Promise<string> {
  switch (request.op) {
    case "status":
      return encodeAnswer("status", { status: control.status() });
    case "ping": {
      const timeoutMs = request.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
      const rttMs = await control.ping(request.host, timeoutMs).catch((error: unknown) => {
        // Resolving the host fails with a DialError; the echo itself fails only by getting no
        // reply in time (NetInterface.ping's plain Error): the CLI counts that one as lost.
        if (error instanceof DialError) throw error;
        throw new LocalWireError("timeout", (error as Error).message);
      });
      return encodeAnswer("ping", { rttMs });
    }
    case "hostKeys": {
      const found = control.hostKeys(request.host);
      if (found === undefined) {
        throw new LocalWireError("unknown-host", `${request.host} is not a peer of this node`);
      }
      return encodeAnswer("hostKeys", { hostKeys: found });
    }
    case "knownHosts":
      return encodeAnswer("knownHosts", { lines: control.knownHosts() });
  }
}

/** Dials, answers, then splices the client's socket and the mesh stream both ways. */
async function serveDial(
  socket: Socket,
  control: AgentControl,
  request: Extract<LocalRequest, { op: "dial" }>,
  logger: Logger | undefined,
): Promise<void> {
  const stream: Duplex = await control.dialer.dial(
    request.host,
    request.port,
    request.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
  );
  if (socket.destroyed) {
    // The client left while we dialed: nobody wants this connection.
    stream.destroy();
    return;
  }
  socket.write(encodeAnswer("dial", {}));
  const finish = (error?: Error) => {
    if (error !== undefined) {
      logger?.debug({ host: request.host, port: request.port, error: error.message }, "dial_end");
    }
    socket.destroy();
    stream.destroy();
  };
  stream.once("error", finish);
  socket.once("error", finish);
  // Each side's end is a half-close of the other (pipe ends it); a socket whose both halves
  // ended closes itself. A side gone without an end takes the other with it, after its writes.
  socket.once("close", () => stream.destroy());
  stream.once("close", () => socket.destroySoon());
  stream.pipe(socket);
  socket.pipe(stream);
}
