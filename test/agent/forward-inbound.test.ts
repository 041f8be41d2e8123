// Inbound forwarding (server/agent/forward.ts) between a mesh client and real loopback
// servers: an exposed port carries bytes both ways with half-close in each direction (IPv4 and
// IPv6 flows, both to 127.0.0.1), a closed local port and an unexposed port answer RST (the
// client's connect fails with "connection refused", not a timeout), and a reset on either side
// resets the other.

import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { InboundForwarder } from "../../server/agent/forward.ts";
import { parsePortList } from "../../server/agent/ports.ts";
import { startSocks5 } from "../../server/agent/socks5.ts";
import { DialError } from "../../server/agent/types.ts";
import type { TcpConnection } from "../../worker/net/tcp/stack.ts";
import { listenOnLoopback, reservedPort } from "../helpers/ports.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type BackToBack, backToBack } from "./forward-net.ts";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A loopback server running `onSocket` for each connection; closed after the test. */
async function localServer(
  onSocket: (s: Socket) => void,
): Promise<{ port: number; server: Server }> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  const port = await listenOnLoopback(server);
  cleanup.push(() => server.close());
  return { port, server };
}

/** Reads a mesh connection to its end (or its error). */
async function readAll(conn: TcpConnection): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const reader = conn.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return Buffer.concat(chunks);
    chunks.push(value);
  }
}

/** Reads a Node socket to its end. */
function readSocket(s: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function setup(expose: string | null): { net: BackToBack; fwd: InboundForwarder } {
  const net = backToBack();
  const fwd = new InboundForwarder(net.b, { expose: expose ? parsePortList(expose) : null });
  cleanup.push(() => fwd.close());
  return { net, fwd };
}

describe("InboundForwarder", () => {
  it("carries an exposed port both ways; the client's FIN reaches the service, which then answers", async () => {
    // The service reads everything, then answers with the digest and closes.
    const { port } = await localServer((s) => {
      readSocket(s).then((data) => s.end(`${data.length} ${sha(data)}`));
    });
    const { net, fwd } = setup(`1-65535`);
    for (const [from, to] of [net.v4, net.v6]) {
      const conn = await net.a.tcp.connect(from, to, port);
      const body = seededBytes(port)(3 * 1024 * 1024 + 17);
      const answer = readAll(conn);
      const w = conn.writable.getWriter();
      await w.write(body);
      await w.close(); // half-close: the service sees its 'end' while we still read
      expect((await answer).toString()).toBe(`${body.length} ${sha(body)}`);
      await conn.closed;
    }
    expect(fwd.counters).toMatchObject({ forwarded: 2, refused: 0, failed: 0, notExposed: 0 });
    await waitUntil(() => fwd.counters.active === 0, "both forwarded flows to finish");
  });

  it("the service's FIN reaches the client, which keeps sending after it", async () => {
    let late: Promise<Buffer> | undefined;
    const { port } = await localServer((s) => {
      late = readSocket(s);
      s.end("banner, then nothing more from me");
    });
    const { net } = setup(null);
    const conn = await net.a.tcp.connect(net.v4[0], net.v4[1], port);
    expect((await readAll(conn)).toString()).toBe("banner, then nothing more from me");
    const w = conn.writable.getWriter();
    await w.write(new TextEncoder().encode("still talking"));
    await w.close();
    await waitUntil(() => late !== undefined, "the service's connection");
    expect((await late!).toString()).toBe("still talking");
    await conn.closed;
  });

  it("a closed local port answers RST: the client sees 'connection refused'", async () => {
    const closed = await reservedPort();
    const { net, fwd } = setup(null);
    for (const [from, to] of [net.v4, net.v6]) {
      await expect(net.a.tcp.connect(from, to, closed)).rejects.toThrow(/connection refused/);
    }
    expect(fwd.counters).toMatchObject({ refused: 2, forwarded: 0 });
  });

  it("a port outside --expose answers RST without a local connect", async () => {
    let connections = 0;
    const { port } = await localServer((s) => {
      connections++;
      s.end();
    });
    const other = port === 65535 ? port - 1 : port + 1;
    const { net, fwd } = setup(`${other}`);
    await expect(net.a.tcp.connect(net.v4[0], net.v4[1], port)).rejects.toThrow(
      /connection refused/,
    );
    expect(fwd.counters).toMatchObject({ notExposed: 1, forwarded: 0, refused: 0 });
    // Barrier: a flow that reaches the service after the refused one shows the refused one
    // never did (same server, accepted in order).
    fwd.close();
    const direct = new InboundForwarder(net.b, { expose: null });
    cleanup.push(() => direct.close());
    const conn = await net.a.tcp.connect(net.v4[0], net.v4[1], port);
    await readAll(conn);
    await conn.writable.close();
    await conn.closed;
    expect(connections).toBe(1);
  });

  it("the agent's own SOCKS5 port answers RST even when exposed; other ports still forward", async () => {
    const net = backToBack();
    let dials = 0;
    const proxy = await startSocks5({
      port: 0,
      dialer: {
        dial: async () => {
          dials++;
          throw new DialError("unreachable", "test dialer");
        },
      },
    });
    cleanup.push(() => void proxy.close());
    const { port } = await localServer((s) => s.end("service"));
    const fwd = new InboundForwarder(net.b, {
      expose: null,
      ownPorts: () => [proxy.address.port],
    });
    cleanup.push(() => fwd.close());
    for (const [from, to] of [net.v4, net.v6]) {
      await expect(net.a.tcp.connect(from, to, proxy.address.port)).rejects.toThrow(
        /connection refused/,
      );
    }
    const conn = await net.a.tcp.connect(net.v4[0], net.v4[1], port);
    expect((await readAll(conn)).toString()).toBe("service");
    await conn.writable.close();
    await conn.closed;
    expect(fwd.counters).toMatchObject({ ownService: 2, forwarded: 1, refused: 0 });
    expect(dials).toBe(0);
  });

  it("a reset on one side resets the other", async () => {
    // The service resets its connection once it got a byte.
    const { port } = await localServer((s) => {
      s.on("error", () => {});
      s.once("data", () => s.resetAndDestroy());
    });
    const { net, fwd } = setup(null);
    const conn = await net.a.tcp.connect(net.v4[0], net.v4[1], port);
    const reading = readAll(conn);
    await conn.writable.getWriter().write(new Uint8Array([1]));
    await expect(reading).rejects.toThrow(/reset/);

    // The mesh client aborts: the service's socket sees ECONNRESET.
    let serviceError: Error | undefined;
    const second = await localServer((s) => {
      s.on("error", (e) => {
        serviceError = e;
      });
      s.write("hello");
    });
    const conn2 = await net.a.tcp.connect(net.v4[0], net.v4[1], second.port);
    const r = conn2.readable.getReader();
    await r.read();
    conn2.abort("test abort");
    await waitUntil(() => serviceError !== undefined, "the service to see the reset");
    expect((serviceError as NodeJS.ErrnoException).code).toBe("ECONNRESET");
    await waitUntil(() => fwd.counters.active === 0, "the flows to be released");
  });

  it("close() stops forwarding: new flows get the stack's plain RST", async () => {
    const { port } = await localServer((s) => s.end());
    const { net, fwd } = setup(null);
    fwd.close();
    await expect(net.a.tcp.connect(net.v4[0], net.v4[1], port)).rejects.toThrow(
      /connection refused/,
    );
    expect(net.b.tcp.stats.unlistenedAsked).toBe(0);
  });
});
