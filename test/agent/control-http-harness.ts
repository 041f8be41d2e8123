// What the test harnesses that run a control server in this process share (agent-harness for
// `corridor agent` processes, engine/mesh-harness for engines and in-process agents): one
// HTTP server carrying the control server's API and its map stream, which can be pointed at a
// restarted control server on the same port, and the owner's API called with an API key.

import { createServer, type Server } from "node:http";
import { createApiListener } from "../../server/control/api/app.ts";
import type { Control } from "../../server/control/index.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import { listenOnLoopback } from "../helpers/ports.ts";

/** The HTTP server in front of a control server: its API and the map stream on one port. */
export interface ControlFront {
  port: number;
  /** http://HOST:PORT, no trailing slash. */
  baseUrl: string;
  /**
   * Serves `control` from now on; null while there is none (stopped or restarting): the API
   * answers 503 and map streams are refused, as a control server that is down would be.
   */
  serve(control: Control | null): void;
  /** Closes the server and every connection it holds. */
  close(): Promise<void>;
}

/** Listens on `host` (an ephemeral port), serving nothing until serve() is called. */
export async function startControlFront(host: string): Promise<ControlFront> {
  let listener: ReturnType<typeof createApiListener> | null = null;
  let control: Control | null = null;
  const http: Server = createServer((req, res) => {
    if (listener === null) res.writeHead(503).end();
    else void listener(req, res);
  });
  http.on("upgrade", (req, socket, head) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === CONTROL_PATH && control !== null) control.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  const port = await listenOnLoopback(http as never, host);
  return {
    port,
    baseUrl: `http://${host}:${port}`,
    serve(next) {
      control = next;
      listener = next === null ? null : createApiListener(next.api);
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

/** An API answer: status and the parsed JSON body (null when empty). */
export interface OwnerApiReply {
  status: number;
  json: unknown;
}

/**
 * Calls the API at `baseUrl` as the owner, with `apiKey` as its Bearer token and `body` as
 * JSON. With `throwOnServerError`, a 5xx answer throws with its text: a harness whose tests
 * look only at 2xx/4xx answers would otherwise misread a crash as a refusal.
 */
export function ownerApi(
  baseUrl: string,
  apiKey: string,
  options: { throwOnServerError: boolean },
): (method: string, path: string, body?: unknown) => Promise<OwnerApiReply> {
  return async (method, path, body) => {
    const res = await fetch(new URL(path, baseUrl), {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (options.throwOnServerError && res.status >= 500) {
      throw new Error(`API ${method} ${path}: ${res.status} ${text}`);
    }
    return { status: res.status, json: text === "" ? null : JSON.parse(text) };
  };
}
