// Hostile network: the real OpenSSH sshd behind a TCP proxy that flips one bit of its stream
// during a running exec; the client must end with MAC_ERROR (message authentication failed).
// Skipped when sshd is not available (sshdPrereq).
//
// Seeded hostile inputs (the same on every run). Each section asserts its own count; the
// sections live in separate files, hostile-<file>.test.ts, run as separate processes, so
// their sum is documented here rather than asserted (once one test: total >= 50,000):
//   identification / banner streams, full transport ......... transport  1,500
//   mutated and random KEXINITs, full transport .............. transport  1,200
//   mutated KEX_ECDH_REPLYs, full transport .................. kex        800
//   out-of-order and non-kex messages around strict kex ...... kex        800
//   userauth-phase messages, full client (500 x connect) ..... auth       >= 2,000 (~2,400)
//   userauth messages driven into authenticate() directly .... auth       >= 5,000 (~7,200)
//   connection-layer messages driven into SshConnection ...... connection 25,000
//   connection-layer messages, full client (150 connections) . connection >= 15,000 (~15,200)
//   total .................................................... >= 51,300 (~54,100)
// A seed in a failure message reproduces its case; HOSTILE_SUMMARY=1 prints each section's
// outcome breakdown. Shared helpers: fixtures/hostile-kit.ts and fixtures/hostile-builders.ts.

import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectTcp } from "../../server/ssh/node-stream.ts";
import { SshClient } from "../../worker/ssh/client.ts";
import * as M from "../../worker/ssh/messages.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { core, hostileHooks, settle, within } from "./fixtures/hostile-kit.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_PASSWORD,
  TEST_USER,
} from "./fixtures/servers.ts";

hostileHooks();
// ---------------------------------------------------------------------------------------
// The real OpenSSH sshd, with one bit flipped on the wire.

/** A TCP proxy that flips one bit of the server-to-client stream when armed. */
class FlipProxy {
  port = 0;
  private server: Server | null = null;
  private s2c = 0;
  private flipAt = -1;
  private readonly sockets: Socket[] = [];

  async start(host: string, port: number): Promise<void> {
    this.server = createServer((client) => {
      this.s2c = 0;
      this.flipAt = -1;
      const upstream = tcpConnect(port, host);
      this.sockets.push(client, upstream);
      client.on("data", (d) => upstream.write(d));
      upstream.on("data", (d: Buffer) => {
        const at = this.flipAt - this.s2c;
        if (at >= 0 && at < d.length) d[at]! ^= 0x04;
        this.s2c += d.length;
        client.write(d);
      });
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.on("end", () => b.end());
        a.on("error", () => b.destroy());
        a.on("close", () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    this.port = typeof address === "object" && address !== null ? address.port : 0;
  }

  /** Flips a bit `offset` bytes after what the server has sent so far. */
  arm(offset: number): void {
    this.flipAt = this.s2c + offset;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describeWithPrereq(sshdPrereq, "hostile network: a bit flipped in the real sshd's stream", () => {
  let sshd: SshServer;
  const proxy = new FlipProxy();
  beforeAll(async () => {
    ensureTestUser();
    sshd = await startSshd();
    await proxy.start(sshd.host, sshd.port);
  });
  afterAll(async () => {
    await proxy.stop();
    await sshd?.stop();
  });

  for (const [cipher, mac] of [
    ["chacha20-poly1305@openssh.com", "hmac-sha2-256-etm@openssh.com"],
    ["aes128-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com"],
    ["aes128-ctr", "hmac-sha2-256-etm@openssh.com"],
  ] as const) {
    it(`${cipher}${cipher === "aes128-ctr" ? ` + ${mac}` : ""}: MAC_ERROR during a running exec`, async () => {
      // The flip lands in a data packet's body or MAC; were it to hit a packet length field
      // instead (4 bytes in ~16 KiB; the client then reports a bad length), try again a
      // little further on.
      for (let attempt = 0; ; attempt++) {
        const client = await SshClient.connect(await connectTcp("127.0.0.1", proxy.port), {
          core,
          verifyHostKey: () => undefined,
          username: TEST_USER,
          password: () => TEST_PASSWORD,
          algorithms: { ciphers: [cipher], macs: [mac] },
          connection: { keepaliveIntervalMs: 0 },
        });
        expect(client.transport.negotiated.cipherServerToClient).toBe(cipher);
        // The session is open (sshd's post-auth messages are behind us): arm the flip a few
        // KiB into what follows (the exec reply, then the output: past its first packet).
        const session = await within(client.connection.openSession(), "openSession");
        proxy.arm(40 * 1024 + attempt * 997);
        await within(session.exec("head -c 1000000 /dev/zero"), "exec");
        let received = 0;
        const run = await settle(
          within(
            (async () => {
              const reader = session.stdout.getReader();
              for (let r = await reader.read(); !r.done; r = await reader.read()) {
                received += r.value.length;
              }
            })(),
            "reading the output",
            20_000,
          ),
        );
        const closed = await within(client.transport.closed, "closed");
        if (process.env.HOSTILE_SUMMARY) console.log(cipher, attempt, received, closed.message);
        if (
          attempt < 3 &&
          closed.code === M.SSH_DISCONNECT.PROTOCOL_ERROR &&
          /length/.test(closed.message)
        ) {
          continue;
        }
        expect(run.ok ? null : run.error).toBe(closed);
        // It failed mid-output: some of it arrived, not all.
        expect(received).toBeGreaterThan(0);
        expect(received).toBeLessThan(1_000_000);
        expect(closed.code).toBe(M.SSH_DISCONNECT.MAC_ERROR);
        expect(closed.by).toBe("client");
        expect(closed.message).toMatch(
          new RegExp(
            `^corrupt packet from the server: packet \\d+: message authentication failed \\(bad tag or MAC, ${cipher}`,
          ),
        );
        break;
      }
    }, 30_000);
  }
});
