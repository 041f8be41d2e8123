// The identity SSH server with our own SSH client (worker/ssh over a Node socket, as
// `corridor ssh` uses it): auth "none" logs in, a refusal arrives as the banner, the host key
// is checked against the published line, and what OpenSSH's ssh cannot drive from a script:
// the exit-signal name, "signal" requests and window changes of a pty.

import { execFileSync } from "node:child_process";
import { Client as Ssh2Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectTcp } from "../../server/ssh/node-stream.ts";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { SshClient } from "../../worker/ssh/client.ts";
import type { HostKeyInfo } from "../../worker/ssh/kex/driver.ts";
import { SshAuthError } from "../../worker/ssh/userauth.ts";
import { waitUntil } from "../helpers/wait.ts";
import { readUntil } from "../ssh/fixtures/client.ts";
import { SshHarness, sshPrereq } from "./ssh-harness.ts";

const needs = sshPrereq();

describe.skipIf(needs.skip)("identity SSH with our SSH client", () => {
  let h: SshHarness;
  let core: CryptoCore;
  const clients: SshClient[] = [];

  beforeAll(async () => {
    needs.assert();
    core = await loadCryptoCore();
    h = await SshHarness.start();
    h.identity.rules = [{ src: { users: [1] }, users: ["root"], action: "accept" }];
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await h?.stop();
  });

  /** Connects as `user`, accepting only the harness's host key; collects banners. */
  const connect = async (user: string, banners: string[] = []): Promise<SshClient> => {
    const stream = await connectTcp("127.0.0.1", h.port);
    const client = await SshClient.connect(stream, {
      core,
      username: user,
      verifyHostKey: (key: HostKeyInfo) => {
        const line = `${key.keyType} ${Buffer.from(key.keyBlob).toString("base64")}`;
        if (line !== h.publicLine) throw new Error(`unexpected host key ${line}`);
      },
      onBanner: (text) => banners.push(text),
      connection: { keepaliveIntervalMs: 0 },
    });
    clients.push(client);
    return client;
  };

  it("logs in with auth none and runs a command", async () => {
    const client = await connect("root");
    const r = await client.exec("id -un; exit 5");
    expect(Buffer.from(r.stdout).toString()).toBe("root\n");
    expect(r.code).toBe(5);
    expect(h.events("ssh_login").at(-1)).toMatchObject({ as: "root", method: "none" });
  });

  it("reports a command killed by SIGTERM as exit-signal TERM", async () => {
    const client = await connect("root");
    const r = await client.exec("kill -TERM $$");
    expect(r).toMatchObject({ code: null, signal: "TERM" });
  });

  it("delivers a signal request to the command", async () => {
    const client = await connect("root");
    const session = await client.connection.openSession();
    await session.exec("echo started; exec sleep 60");
    const reader = session.stdout.getReader();
    await readUntil(reader, /started\n/);
    await session.signal("INT");
    const exit = await session.exit;
    expect(exit).toMatchObject({ code: null, signal: "INT" });
  });

  it("resizes the pty on window-change", async () => {
    const client = await connect("root");
    const session = await client.connection.openSession();
    expect(await session.requestPty({ term: "xterm-256color", cols: 80, rows: 24 })).toBe(true);
    await session.shell();
    const reader = session.stdout.getReader();
    const writer = session.stdin.getWriter();
    const enc = new TextEncoder();
    await writer.write(enc.encode("stty size; echo first-$((2*21))\n"));
    expect(await readUntil(reader, /24 80\r?\n(.|\r|\n)*first-42/)).toBeTruthy();
    await session.windowChange({ cols: 132, rows: 50 });
    // The resize travels apart from the typing: ask until the new size shows (testing.md).
    let seen = "";
    for (let i = 0; i < 50 && !/50 132/.test(seen); i++) {
      await writer.write(enc.encode(`stty size; echo asked-$((${i}+1000))\n`));
      seen = await readUntil(reader, new RegExp(`asked-${i + 1000}`));
    }
    expect(seen).toMatch(/50 132/);
    await writer.write(enc.encode("exit 0\n"));
    expect((await session.exit).code).toBe(0);
  });

  it("hangs up a command whose client left mid-output, and keeps serving", async () => {
    const marker = `corridor-hup-${process.pid}-${Date.now()}`;
    const running = (): boolean => {
      try {
        execFileSync("pgrep", ["-f", marker], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    };
    const client = await connect("root");
    const session = await client.connection.openSession();
    await session.exec(`yes ${marker}`);
    await readUntil(session.stdout.getReader(), new RegExp(marker));
    expect(running()).toBe(true);
    await client.close();
    await waitUntil(() => !running(), "the command to be hung up");
    const again = await connect("root");
    expect(Buffer.from((await again.exec("echo alive")).stdout).toString()).toBe("alive\n");
  });

  it("shows the refusal's reason as the banner and fails auth without trying more", async () => {
    const banners: string[] = [];
    const error = await connect("nobody", banners).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SshAuthError);
    expect(banners.join("")).toContain(
      "alice@example.com on laptop (127.0.0.1) may not log in as nobody: the policy's ssh rules allow root.",
    );
  });

  it("serves the SFTP subsystem", async () => {
    const client = await connect("root");
    const sftp = await client.sftp();
    const names = await sftp.readdir("/");
    expect(names.map((n) => n.filename)).toContain("etc");
    await sftp.end();
  });

  it("refuses a session beyond the per-connection limit", async () => {
    const limited = await SshHarness.start({ maxSessionsPerConnection: 2 });
    try {
      limited.identity.rules = h.identity.rules;
      const stream = await connectTcp("127.0.0.1", limited.port);
      const client = await SshClient.connect(stream, {
        core,
        username: "root",
        verifyHostKey: () => undefined,
        connection: { keepaliveIntervalMs: 0 },
      });
      clients.push(client);
      await client.connection.openSession();
      await client.connection.openSession();
      await expect(client.connection.openSession()).rejects.toThrow();
      expect(limited.events("ssh_too_many_sessions")).toHaveLength(1);
    } finally {
      await limited.stop();
    }
  });

  it("sends the exit status after the last byte of a large output", async () => {
    // ssh2's client reports exit-status as an event of its own, so the order is visible:
    // no byte may come after it (the status must not overtake output held by the window).
    const client = new Ssh2Client();
    const done = new Promise<{ bytes: number; afterExit: number; code: unknown }>(
      (resolve, reject) => {
        client.on("error", reject);
        client.on("ready", () => {
          client.exec("head -c 6000000 /dev/zero | tr '\\0' x; exit 3", (error, channel) => {
            if (error) return reject(error);
            let bytes = 0;
            let afterExit = 0;
            let code: unknown;
            channel.on("data", (d: Buffer) => {
              bytes += d.length;
              if (code !== undefined) afterExit += d.length;
            });
            channel.on("exit", (c: unknown) => {
              code = c;
            });
            channel.on("close", () => resolve({ bytes, afterExit, code }));
          });
        });
      },
    );
    client.connect({ host: "127.0.0.1", port: h.port, username: "root", readyTimeout: 30_000 });
    try {
      expect(await done).toEqual({ bytes: 6_000_000, afterExit: 0, code: 3 });
    } finally {
      client.end();
    }
  });
});

describe.skipIf(needs.skip)(
  "identity SSH over a Duplex of WHATWG streams (as the mesh stack gives)",
  () => {
    let h: SshHarness;
    let core: CryptoCore;
    beforeAll(async () => {
      needs.assert();
      core = await loadCryptoCore();
      h = await SshHarness.start({ webStreams: true });
      h.identity.rules = [{ src: { any: true }, users: ["root"], action: "accept" }];
    });
    afterAll(async () => {
      await h?.stop();
    });

    it("runs a command and releases the connection when the client leaves", async () => {
      const stream = await connectTcp("127.0.0.1", h.port);
      const client = await SshClient.connect(stream, {
        core,
        username: "root",
        verifyHostKey: () => undefined,
        connection: { keepaliveIntervalMs: 0 },
      });
      const r = await client.exec("echo over-web-streams");
      expect(Buffer.from(r.stdout).toString()).toBe("over-web-streams\n");
      expect(r.code).toBe(0);
      await client.close();
      await waitUntil(() => h.server.connections === 0, "the server to release the connection");
    });

    it("works with OpenSSH too", async () => {
      const r = await h.ssh("root", ["echo ok-$((40+2))"]);
      expect(r.stdout).toBe("ok-42\n");
    });
  },
);
