// `corridor agent --socks5 127.0.0.1:1055`: a SOCKS5 proxy (RFC 1928, CONNECT, no
// authentication) into the mesh, so `curl --socks5-hostname`, `ssh -o ProxyCommand='nc -X 5
// ...'`, git and browsers reach mesh hosts by name. Every target is dialed through the agent's
// MeshDialer: names resolve against the map only (no system DNS, so a mesh name never leaks to
// the LAN's resolver), and the connection is the node's own userspace TCP. It listens on
// loopback unless a wider address is explicitly allowed: anyone who can reach the proxy uses
// the mesh as this node, with this node's policy rights.

import { createServer, isIP, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "../log.ts";
import { encodeReply, Reply, type ReplyCode, Socks5ServerParser } from "./socks5-wire.ts";
import { pipeDuplex, resetSocket } from "./tcp-pipe.ts";
import { DialError, type MeshDialer } from "./types.ts";

/** Options of startSocks5. */
export interface Socks5Options {
  /** Listen address; default 127.0.0.1. Must be loopback unless allowNonLoopback. */
  host?: string;
  /** Listen port; 0 picks a free one (read it from the result's address). */
  port: number;
  dialer: MeshDialer;
  log?: Logger;
  /** Listen on a non-loopback address anyway (it opens the mesh to whoever reaches it). */
  allowNonLoopback?: boolean;
  /** A client must complete its greeting and request within this; default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** Passed to dial(); default 10 000 ms. */
  dialTimeoutMs?: number;
  /** Client connections at once (handshaking or carried); beyond, new ones are closed. Default 256. */
  maxConnections?: number;
}

/** Counts of the proxy's requests. */
export interface Socks5Counters {
  /** CONNECTs that reached their target. */
  connected: number;
  /** CONNECTs whose dial failed (by DialFailure reason, "error" for anything else). */
  dialFailed: Record<string, number>;
  /** Handshakes refused (not SOCKS5, no acceptable method, unsupported command or address). */
  refused: number;
  /** Clients that did not finish the handshake in time. */
  timedOut: number;
}

/** A running proxy. */
export interface Socks5Proxy {
  /** Where it listens (the port resolved when 0 was asked). */
  readonly address: { host: string; port: number };
  readonly counters: Socks5Counters;
  /** Stops listening and resets every client connection. */
  close(): Promise<void>;
}

/** A listen address the proxy refuses, with the reason in words. */
export class Socks5ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Socks5ListenError";
  }
}

/** True for 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Parses `--socks5` text: "HOST:PORT", "[IPV6]:PORT" or a bare "PORT" (on 127.0.0.1); the port
 * is 0-65535 (0: any free port).
 */
export function parseListenAddress(text: string): { host: string; port: number } {
  const bad = () =>
    new Socks5ListenError(
      `--socks5 '${text.slice(0, 80)}': expected PORT, HOST:PORT or [IPV6]:PORT`,
    );
  let host = "127.0.0.1";
  let portText = text;
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (isIP(host) !== 6) throw bad();
  } else if (text.includes(":")) {
    const at = text.lastIndexOf(":");
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    // A name or an IPv4 literal: letters, digits, dots and dashes (no spaces or controls).
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(host)) throw bad();
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) throw bad();
  return { host, port: Number(portText) };
}

/** The SOCKS5 reply for a failed dial. */
export function replyForDialError(error: unknown): ReplyCode {
  if (!(error instanceof DialError)) return Reply.generalFailure;
  switch (error.reason) {
    case "unknown-host":
    case "timeout":
      return Reply.hostUnreachable;
    case "refused":
      return Reply.connectionRefused;
    case "unreachable":
      return Reply.networkUnreachable;
    default:
      return Reply.generalFailure;
  }
}

/** Starts the proxy; rejects for a non-loopback host (unless allowed) or a failed listen. */
export async function startSocks5(options: Socks5Options): Promise<Socks5Proxy> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !options.allowNonLoopback) {
    throw new Socks5ListenError(
      `SOCKS5 on ${host}: not a loopback address. Anyone who can reach ${host} could use the ` +
        "mesh as this node, with its policy rights (the proxy has no authentication). Listen on " +
        "127.0.0.1 (the default) or ::1; to use it from another host, reach it through an SSH " +
        "tunnel (ssh -L 1055:127.0.0.1:1055 this-host)",
    );
  }
  const counters: Socks5Counters = { connected: 0, dialFailed: {}, refused: 0, timedOut: 0 };
  const clients = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    clients.add(socket);
    socket.once("close", () => clients.delete(socket));
    serveClient(socket, options, counters);
  });
  server.maxConnections = options.maxConnections ?? 256;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // Errors after listening (none expected from an accept loop) must not crash the agent.
  server.on("error", (error) => options.log?.error({ error: error.message }, "socks5_error"));
  const bound = server.address();
  const port = typeof bound === "object" && bound ? bound.port : options.port;
  options.log?.info({ host, port }, "socks5_listening");
  return {
    address: { host, port },
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of clients) resetSocket(socket);
      }),
  };
}

/** One client: the handshake, the dial, then the bytes both ways. */
function serveClient(socket: Socket, options: Socks5Options, counters: Socks5Counters): void {
  const log = options.log;
  const from = `${socket.remoteAddress}:${socket.remotePort}`;
  const parser = new Socks5ServerParser();
  socket.on("error", () => {}); // a client reset; pipeDuplex or the close below handle it
  const timer = setTimeout(() => {
    counters.timedOut++;
    log?.debug({ from }, "socks5_handshake_timeout");
    socket.destroy();
  }, options.handshakeTimeoutMs ?? 10_000);
  socket.once("close", () => clearTimeout(timer));

  const onData = (chunk: Buffer) => {
    for (const event of parser.push(chunk)) {
      if (event.kind === "method") {
        socket.write(event.reply);
        if (!event.accepted) {
          counters.refused++;
          log?.debug({ from }, "socks5_no_acceptable_method");
          socket.end();
        }
      } else if (event.kind === "fail") {
        counters.refused++;
        log?.debug({ from, reason: event.message }, "socks5_refused");
        if (event.reply) socket.end(event.reply);
        else socket.destroy();
      } else {
        // Stop reading: what the client sends next is for the target, once connected.
        socket.pause();
        socket.off("data", onData);
        clearTimeout(timer);
        void connect(socket, event.host, event.port, event.rest, options, counters, from);
      }
    }
  };
  socket.on("data", onData);
}

async function connect(
  socket: Socket,
  host: string,
  port: number,
  rest: Uint8Array,
  options: Socks5Options,
  counters: Socks5Counters,
  from: string,
): Promise<void> {
  const log = options.log;
  let remote: Duplex;
  try {
    remote = await options.dialer.dial(host, port, options.dialTimeoutMs ?? 10_000);
  } catch (error) {
    const reason = error instanceof DialError ? error.reason : "error";
    counters.dialFailed[reason] = (counters.dialFailed[reason] ?? 0) + 1;
    log?.info({ from, host, port, reason, error: (error as Error).message }, "socks5_dial_failed");
    if (!socket.destroyed) socket.end(encodeReply(replyForDialError(error)));
    return;
  }
  if (socket.destroyed) {
    // The client left while we dialed.
    remote.destroy();
    return;
  }
  counters.connected++;
  log?.debug({ from, host, port }, "socks5_connect");
  socket.write(encodeReply(Reply.succeeded));
  if (rest.length > 0) remote.write(rest);
  const outcome = await pipeDuplex(socket, remote);
  log?.debug({ from, host, port, outcome }, "socks5_close");
}
