// The relay's own plain-text HTTP answers: /healthz, /metrics, 421 for a Host it does not
// answer, 426 on /relay without an upgrade, 404, and refused upgrades. They are never cached
// and can never run as a page, even when they share an origin with the web page (corridor
// serve).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { MetricsRegistry } from "../metrics/registry.ts";

/** Headers of every plain-text answer. */
export const PLAIN_HEADERS = {
  "content-type": "text/plain; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
} as const;

/** Answers `status` with one line of text (and extra headers). */
export function answerPlain(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...PLAIN_HEADERS, ...headers });
  res.end(`${text}\n`);
}

/** Refuses a WebSocket upgrade on the raw socket with `status` and a one-line reason. */
export function refuseUpgrade(socket: Duplex, status: number, statusText: string, text: string) {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n` +
      `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.destroy();
}

/** What the relay's own endpoints need from the relay. */
export interface RelayEndpoints {
  /** Whether the Host header names this relay (DNS rebinding defence). */
  hostAllowed(host: string | undefined): boolean;
  /** Counts and logs a request refused for its Host. */
  hostRefused(req: IncomingMessage): void;
  /** False while restarting or closing (/healthz answers 503). */
  healthy(): boolean;
  /** The metrics /metrics exposes (the relay's, and other parts' on the same registry). */
  metrics: MetricsRegistry;
  /** Answers every other path (the page, with corridor serve). */
  fallback?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Answers a plain HTTP request: /healthz, /metrics, 426 on `relayPath`, else the fallback. */
export function answerRequest(
  req: IncomingMessage,
  res: ServerResponse,
  relayPath: string,
  endpoints: RelayEndpoints,
): void {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz" || path === "/metrics") {
    if (!endpoints.hostAllowed(req.headers.host)) {
      endpoints.hostRefused(req);
      answerPlain(res, 421, "this relay does not answer that Host name");
    } else if (path === "/healthz") {
      const ok = endpoints.healthy();
      answerPlain(res, ok ? 200 : 503, ok ? "ok" : "restarting");
    } else {
      answerMetrics(res, endpoints.metrics);
    }
  } else if (path === relayPath) {
    answerPlain(res, 426, "WebSocket upgrade required", { upgrade: "websocket" });
  } else if (endpoints.fallback !== undefined) {
    endpoints.fallback(req, res);
  } else {
    answerPlain(res, 404, "not found");
  }
}

/** Answers /metrics with the registry's exposition text, or 500 if collecting it failed. */
function answerMetrics(res: ServerResponse, metrics: MetricsRegistry): void {
  metrics.text().then(
    (text) => {
      res.writeHead(200, { ...PLAIN_HEADERS, "content-type": metrics.contentType });
      res.end(text);
    },
    () => answerPlain(res, 500, "metrics unavailable"),
  );
}
