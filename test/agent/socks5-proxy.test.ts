// The SOCKS5 proxy (server/agent/socks5.ts) end to end: real curl with --socks5-hostname reaches
// a python3 http.server on the other side of two back-to-back mesh interfaces by mesh name
// (proxy -> test MeshDialer -> userspace TCP -> InboundForwarder -> 127.0.0.1), a refused port
// and an unknown host come back as curl's SOCKS5 errors 5 and 4, a raw client pipelines its
// first bytes and half-closes, and a non-loopback listen address is refused.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, isIP, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { InboundForwarder } from "../../server/agent/forward.ts";
import {
  parseListenAddress,
  Socks5ListenError,
  type Socks5Proxy,
  startSocks5,
} from "../../server/agent/socks5.ts";
import { connectionDuplex } from "../../server/agent/tcp-pipe.ts";
import { DialError, type MeshDialer } from "../../server/agent/types.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";
import { listenOnLoopback, reservedPort } from "../helpers/ports.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededInts } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";
import { A_V4, A_V6, B_V4, type BackToBack, backToBack } from "./forward-net.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A MeshDialer over interface "a": "web-01" is "b"; mesh addresses are dialed as they are. */
function testDialer(net: BackToBack): MeshDialer {
  return {
    async dial(host, port, timeoutMs) {
      const address = host === "web-01" || host === "web-01.mesh.test" ? B_V4 : host;
      if (!isIP(address)) throw new DialError("unknown-host", `no peer called ${host}`);
      const to = parseIp(address);
      const from = parseIp(to.length === 4 ? A_V4 : A_V6);
      try {
        return connectionDuplex(await net.a.tcp.connect(from, to, port, { timeoutMs }));
      } catch (error) {
        const message = (error as Error).message;
        if (/refused/.test(message)) throw new DialError("refused", `${host}:${port} refused`);
        if (/timed out/.test(message)) throw new DialError("timeout", `${host}:${port}: no answer`);
        throw error;
      }
    },
  };
}

/** The mesh pair with forwarding on "b" and the proxy on "a"'s side. */
async function setup(): Promise<{ net: BackToBack; proxy: Socks5Proxy }> {
  const net = backToBack();
  const fwd = new InboundForwarder(net.b, { expose: null });
  cleanup.push(() => fwd.close());
  const proxy = await startSocks5({ port: 0, dialer: testDialer(net), handshakeTimeoutMs: 2000 });
  cleanup.push(() => proxy.close());
  return { net, proxy };
}

/** Runs curl through the proxy; resolves with its exit code and output. */
function curl(
  proxy: Socks5Proxy,
  url: string,
): Promise<{ code: number; out: Buffer; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "curl",
      ["-sS", "--max-time", "30", "--socks5-hostname", `127.0.0.1:${proxy.address.port}`, url],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => {
      err += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, out: Buffer.concat(out), err }));
  });
}

/** python3 -m http.server on 127.0.0.1 serving `dir`; resolves with its port. */
function pythonHttp(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanup.push(() => child.kill());
    let text = "";
    child.stdout.on("data", (c: Buffer) => {
      text += c;
      const m = /port (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`http.server exited (${code}): ${text}`)));
  });
}

const tools = prereq(executable("/usr/bin/curl"), executable("/usr/bin/python3"));

describeWithPrereq(tools, "SOCKS5 proxy with curl", () => {
  let dir = "";
  const page = randomBytes(300_000);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-socks5-"));
    writeFileSync(join(dir, "page.bin"), page);
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it("curl --socks5-hostname reaches python3 http.server on web-01 by name", async () => {
    const { proxy } = await setup();
    const port = await pythonHttp(dir);
    const r = await curl(proxy, `http://web-01:${port}/page.bin`);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(createHash("sha256").update(r.out).digest("hex")).toBe(
      createHash("sha256").update(page).digest("hex"),
    );
    // By mesh address too (ATYP IPv4 from curl's --socks5-hostname with a literal).
    const byAddress = await curl(proxy, `http://${B_V4}:${port}/page.bin`);
    expect(byAddress.out.length).toBe(page.length);
    expect(proxy.counters.connected).toBe(2);
  });

  it("a refused port is curl's SOCKS5 error 5 (connection refused); an unknown host error 4", async () => {
    const { proxy } = await setup();
    const closed = await reservedPort();
    const refused = await curl(proxy, `http://web-01:${closed}/`);
    expect(refused.code).toBe(97); // CURLE_PROXY
    expect(refused.err).toMatch(/connection refused|\(5\)/i);
    const unknown = await curl(proxy, "http://no-such-host:80/");
    expect(unknown.code).toBe(97);
    expect(unknown.err).toMatch(/host unreachable|\(4\)/i);
    expect(proxy.counters.dialFailed).toEqual({ refused: 1, "unknown-host": 1 });
  });
});

/** Writes `bytes` to a socket and collects everything it then receives until its end. */
function rawClient(port: number): { socket: Socket; received: Promise<Buffer> } {
  const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  const received = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks)));
    socket.on("error", reject);
  });
  return { socket, received };
}

describe("SOCKS5 proxy", () => {
  it("a raw client pipelines greeting, request and data, half-closes, and gets the answer", async () => {
    const { proxy } = await setup();
    // The service answers with the length of what it read, after the client's FIN.
    const service = createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on("data", (c: Buffer) => {
        n += c.length;
      });
      s.on("end", () => s.end(`read ${n}`));
    });
    const port = await listenOnLoopback(service);
    cleanup.push(() => service.close());
    const { socket, received } = rawClient(proxy.address.port);
    const name = Buffer.from("web-01");
    const request = Buffer.concat([
      Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]),
      name,
      Buffer.from([port >> 8, port & 0xff]),
    ]);
    const payload = randomBytes(200_000);
    socket.write(Buffer.concat([request, payload.subarray(0, 1000)]));
    socket.end(payload.subarray(1000));
    const all = await received;
    expect([...all.subarray(0, 2)]).toEqual([5, 0]);
    expect([...all.subarray(2, 12)]).toEqual([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(all.subarray(12).toString()).toBe(`read ${payload.length}`);
  });

  it("the service's FIN first: the client reads to the end, then still sends", async () => {
    const { proxy } = await setup();
    let late: Promise<string> | undefined;
    const service = createServer({ allowHalfOpen: true }, (s) => {
      late = new Promise((resolve) => {
        let text = "";
        s.on("data", (c: Buffer) => {
          text += c;
        });
        s.on("end", () => resolve(text));
      });
      s.end("banner");
    });
    const port = await listenOnLoopback(service);
    cleanup.push(() => service.close());
    const { socket, received } = rawClient(proxy.address.port);
    socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 100, 64, 0, 2, port >> 8, port & 0xff]));
    expect((await received).subarray(12).toString()).toBe("banner");
    socket.end("written after the service's FIN");
    await waitUntil(() => late !== undefined, "the service's connection");
    expect(await late).toBe("written after the service's FIN");
  });

  it("a client's reset reaches the service as a reset", async () => {
    const { proxy } = await setup();
    let serviceError: NodeJS.ErrnoException | undefined;
    let greeted: () => void = () => {};
    const connected = new Promise<void>((resolve) => {
      greeted = resolve;
    });
    const service = createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", (e) => {
        serviceError = e;
      });
      s.once("data", () => greeted());
    });
    const port = await listenOnLoopback(service);
    cleanup.push(() => service.close());
    const { socket, received } = rawClient(proxy.address.port);
    received.catch(() => {});
    socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 100, 64, 0, 2, port >> 8, port & 0xff, 42]));
    await connected;
    socket.resetAndDestroy();
    await waitUntil(() => serviceError !== undefined, "the service to see the reset");
    expect(serviceError!.code).toBe("ECONNRESET");
  });

  it("refuses SOCKS4 without a reply and BIND with reply 0x07", async () => {
    const { proxy } = await setup();
    const socks4 = rawClient(proxy.address.port);
    socks4.socket.write(Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0]));
    expect((await socks4.received).length).toBe(0);
    const bind = rawClient(proxy.address.port);
    bind.socket.write(Buffer.from([5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80]));
    expect([...(await bind.received)]).toEqual([5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(proxy.counters.refused).toBe(2);
  });

  it("closes a client that does not finish its handshake", async () => {
    const net = backToBack();
    const proxy = await startSocks5({ port: 0, dialer: testDialer(net), handshakeTimeoutMs: 100 });
    cleanup.push(() => proxy.close());
    const idle = rawClient(proxy.address.port);
    idle.socket.write(Buffer.from([5, 1])); // half a greeting, then nothing
    expect((await idle.received).length).toBe(0);
    await waitUntil(() => proxy.counters.timedOut === 1, "the timeout to be counted");
  });

  it("listens on loopback only unless told otherwise, saying why", async () => {
    const net = backToBack();
    await expect(
      startSocks5({ host: "0.0.0.0", port: 0, dialer: testDialer(net) }),
    ).rejects.toThrow(/not a loopback address.*use the mesh as this node/);
    await expect(
      startSocks5({ host: "192.168.1.10", port: 0, dialer: testDialer(net) }),
    ).rejects.toThrow(/not a loopback address/);
    for (const host of ["localhost", "127.0.0.2"]) {
      const p = await startSocks5({ host, port: 0, dialer: testDialer(net) });
      expect(p.address.port).toBeGreaterThan(0);
      await p.close();
    }
  });

  it("parses --socks5 addresses", () => {
    expect(parseListenAddress("127.0.0.1:1055")).toEqual({ host: "127.0.0.1", port: 1055 });
    expect(parseListenAddress("1055")).toEqual({ host: "127.0.0.1", port: 1055 });
    expect(parseListenAddress("[::1]:1080")).toEqual({ host: "::1", port: 1080 });
    expect(parseListenAddress("localhost:0")).toEqual({ host: "localhost", port: 0 });
    for (const bad of [
      "",
      ":1055",
      "127.0.0.1:",
      "127.0.0.1:70000",
      "::1:1080",
      "[nope]:1",
      "a:b",
      "a b:1",
      "é:1",
    ]) {
      expect(() => parseListenAddress(bad), bad).toThrow(
        /expected PORT, HOST:PORT or \[IPV6\]:PORT/,
      );
    }
  });

  it("parseListenAddress on 10,000 seeded texts: only Socks5ListenError, and accepted forms round-trip", () => {
    const rand = seededInts(0x50c4);
    const pieces = [
      "127.0.0.1",
      "::1",
      "[::1]",
      "[",
      "]",
      ":",
      "localhost",
      "0",
      "1055",
      "65535",
      "65536",
      "x",
      " ",
      "[fd7a::1]",
      "-1",
    ];
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const text = Array.from({ length: rand(4) }, () =>
        rand(6) === 0 ? String.fromCharCode(rand(0x250)) : pieces[rand(pieces.length)]!,
      ).join("");
      let got: { host: string; port: number } | undefined;
      try {
        got = parseListenAddress(text);
      } catch (error) {
        if (!(error instanceof Socks5ListenError)) expect.fail(`${JSON.stringify(text)}: ${error}`);
        continue;
      }
      accepted++;
      if (!(got.port >= 0 && got.port <= 65535 && got.host !== "")) {
        expect.fail(`${JSON.stringify(text)} gave ${JSON.stringify(got)}`);
      }
      const again = parseListenAddress(
        got.host.includes(":") ? `[${got.host}]:${got.port}` : `${got.host}:${got.port}`,
      );
      if (again.host !== got.host || again.port !== got.port)
        expect.fail(`${JSON.stringify(text)}: round trip`);
    }
    // Both outcomes must be reached often, or the check proves little.
    expect(accepted).toBeGreaterThan(200);
    expect(accepted).toBeLessThan(9_000);
  });
});
