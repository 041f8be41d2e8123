// Pieces of TUN mode's agent seams (server/agent/tun/tun-access.ts) that need no interface:
// the kernel dial on loopback (a connection that carries bytes both ways and half-closes; a
// closed port is "refused"), and reading the round trip from `ping` output (with a seeded
// fuzz of 2,000 texts: a number or undefined, never an exception).

import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { kernelConnect, pingTime } from "../../server/agent/tun/tun-access.ts";
import { DialError } from "../../server/agent/types.ts";
import { seededInts } from "../helpers/seeded.ts";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    }),
  );
}

describe("kernelConnect", () => {
  it("connects; bytes go both ways and end() half-closes", async () => {
    const port = await listen(
      createServer({ allowHalfOpen: true }, (socket) => {
        let got = "";
        socket.on("data", (d) => (got += d.toString()));
        socket.on("end", () => socket.end(got.toUpperCase()));
      }),
    );
    const stream = await kernelConnect("127.0.0.1", port, 5000);
    let back = "";
    stream.on("data", (d: Buffer) => (back += d.toString()));
    const ended = new Promise((r) => stream.on("end", r));
    stream.end("hello mesh");
    await ended;
    expect(back).toBe("HELLO MESH");
    stream.destroy();
  });

  it("a port nobody listens on is refused (DialError reason refused)", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((r) => server.close(r));
    servers.splice(servers.indexOf(server), 1);
    const failed = await kernelConnect("127.0.0.1", port, 5000).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(DialError);
    expect((failed as DialError).reason).toBe("refused");
    expect((failed as DialError).message).toContain(`127.0.0.1 port ${port}`);
  });
});

describe("pingTime", () => {
  it("reads iputils' reply line", () => {
    const out = [
      "PING 100.64.0.2 (100.64.0.2) 56(84) bytes of data.",
      "64 bytes from 100.64.0.2: icmp_seq=1 ttl=64 time=3.27 ms",
      "",
      "--- 100.64.0.2 ping statistics ---",
    ].join("\n");
    expect(pingTime(out)).toBe(3.27);
    expect(pingTime("64 bytes from x: icmp_seq=1 ttl=64 time<1 ms")).toBe(1);
    expect(pingTime("1 packets transmitted, 0 received, 100% packet loss")).toBeUndefined();
  });

  it("2,000 seeded texts: a finite number or undefined", () => {
    const int = seededInts(0x9199);
    const alphabet = "time=<>ms .0123456789\n-e";
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: int(80) }, () => alphabet[int(alphabet.length)]).join("");
      const t = pingTime(text);
      if (t !== undefined) expect(Number.isFinite(t)).toBe(true);
    }
  });
});
