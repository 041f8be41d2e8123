// The CLI's side of the agent's local socket (server/agent/local-api.ts, docs/cli-agent.md):
// where the socket is (`--socket PATH`, else $CORRIDOR_SOCKET, else agent.sock in the agent's
// default state dir), one request and its answer, and `dial`, whose connection then carries the
// raw TCP stream. Errors are sentences a person can act on: no agent running, or the agent's
// own message.
//
// The CLI trusts what the agent tells it (`corridor ssh` pins the host keys it hands out), so it
// talks only to a socket that is one (lstat: not a symlink, not a file) and that belongs to the
// current user or root: a socket another user made could pose as the agent.

import { lstat } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  decodeAnswer,
  encodeRequest,
  type LocalAnswers,
  type LocalErrorCode,
  type LocalOp,
  type LocalRequest,
  LocalWireError,
  MAX_ANSWER_BYTES,
  readLine,
} from "../server/agent/local-wire.ts";

/** The environment variable naming the socket when --socket is not given. */
export const SOCKET_VARIABLE = "CORRIDOR_SOCKET";

/** The `--socket` option, the same in every command that talks to the agent. */
export const SOCKET_OPTION = {
  name: "socket",
  value: "PATH",
  description: `the agent's local socket (default $${SOCKET_VARIABLE}, else agent.sock in the agent's state dir)`,
} as const;

/** How long to wait for the agent's answer beyond the request's own timeout. */
const ANSWER_SLACK_MS = 15_000;

/** The agent could not be asked, or answered with a failure. */
export class AgentError extends Error {
  constructor(
    /** The agent's code, or "no-agent" when nothing answers on the socket. */
    readonly code: LocalErrorCode | "no-agent",
    message: string,
  ) {
    super(message);
    this.name = "AgentError";
  }
}

/**
 * The socket path: `explicit` (--socket), else $CORRIDOR_SOCKET, else `agent.sock` in the
 * agent's default state dir ($XDG_STATE_HOME/corridor/agent, else ~/.local/state/corridor/agent).
 */
export function agentSocketPath(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (explicit !== undefined && explicit !== "") return explicit;
  const fromEnv = env[SOCKET_VARIABLE];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const stateHome = env.XDG_STATE_HOME;
  const base = stateHome?.startsWith("/")
    ? stateHome
    : join(env.HOME || homedir(), ".local", "state");
  return join(base, "corridor", "agent", "agent.sock");
}

/** The "no agent is running" error for `path`. */
function noAgent(path: string): AgentError {
  return new AgentError(
    "no-agent",
    `no agent is running (nothing answers on ${path}): start one with \`corridor agent --server URL\``,
  );
}

/**
 * Throws AgentError unless `path` is a socket (not a symlink to one) owned by `uid` or root.
 * A missing path is the "no agent is running" error.
 */
export async function checkAgentSocket(
  path: string,
  uid: number | undefined = process.getuid?.(),
): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw noAgent(path);
    throw new AgentError(
      "no-agent",
      `cannot reach the agent at ${path}: ${(error as Error).message}`,
    );
  }
  if (!stat.isSocket()) {
    throw new AgentError(
      "no-agent",
      `${path} is not a socket${stat.isSymbolicLink() ? " (a symbolic link)" : ""}: not talking to it as the agent; give --socket PATH with the agent's socket`,
    );
  }
  if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) {
    throw new AgentError(
      "no-agent",
      `the socket ${path} belongs to another user (uid ${stat.uid}), not to you (uid ${uid}) or root: not trusting it as the agent (it could hand out false host keys); give --socket PATH with your agent's socket`,
    );
  }
}

/** Opens the socket; a missing socket or a refusal becomes the "no agent is running" error. */
async function open(path: string): Promise<Socket> {
  await checkAgentSocket(path);
  return new Promise((resolve, reject) => {
    const socket = connect({ path, allowHalfOpen: true });
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ECONNREFUSED") {
        reject(noAgent(path));
      } else if (error.code === "EACCES") {
        reject(
          new AgentError(
            "no-agent",
            `the agent's socket ${path} is not ours to use (permission denied): run as the agent's user, or give --socket PATH`,
          ),
        );
      } else {
        reject(new AgentError("no-agent", `cannot reach the agent at ${path}: ${error.message}`));
      }
    };
    socket.once("error", onError);
  });
}

/** Sends `request` and reads its answer; the socket is left paused after the answer line. */
async function exchange<Op extends LocalOp>(
  path: string,
  request: Extract<LocalRequest, { op: Op }>,
): Promise<{ socket: Socket; answer: LocalAnswers[Op] }> {
  const socket = await open(path);
  try {
    socket.write(encodeRequest(request));
    const wait = ("timeoutMs" in request ? (request.timeoutMs ?? 0) : 0) + ANSWER_SLACK_MS;
    const line = await readLine(socket, MAX_ANSWER_BYTES, "the agent's answer", wait);
    return { socket, answer: decodeAnswer<Op>(request.op as Op, line) };
  } catch (error) {
    socket.destroy();
    if (error instanceof LocalWireError) throw new AgentError(error.code, error.message);
    throw error;
  }
}

/** Asks the agent one question (every op but dial) and returns its answer. */
export async function askAgent<Op extends Exclude<LocalOp, "dial">>(
  path: string,
  request: Extract<LocalRequest, { op: Op }>,
): Promise<LocalAnswers[Op]> {
  const { socket, answer } = await exchange<Op>(path, request);
  socket.destroy();
  return answer;
}

/**
 * Opens a TCP connection into the mesh through the agent: the returned socket carries the raw
 * stream (end() half-closes towards the peer). It is paused, with any bytes that came with the
 * answer put back: pipe it, or resume() it after adding a 'data' listener. Rejects with AgentError (the agent's reason:
 * unknown-host, refused, timeout, unreachable).
 */
export async function dialThroughAgent(
  path: string,
  host: string,
  port: number,
  timeoutMs?: number,
): Promise<Socket> {
  const { socket } = await exchange(path, { op: "dial", host, port, timeoutMs });
  return socket;
}
