// Our SSH client against Debian's OpenSSH 9.2 sshd on loopback TCP: every key exchange x
// host key x cipher (x MAC) combination, every auth method and its failures, pty size and
// window-change, exit codes and signals, env, several channels, direct-tcpip, 64 MiB each way,
// re-keying forced by the server (RekeyLimit 1M), SFTP with 16 MiB files, changed host keys.

import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { HostKeyError } from "../../worker/ssh/errors.ts";
import { hostKeyVerifier } from "../../worker/ssh/host-key-policy.ts";
import {
  authorizedKeysLine,
  generateUserKey,
  parseOpensshPrivateKey,
} from "../../worker/ssh/keys/index.ts";
import { KnownHosts } from "../../worker/ssh/known-hosts.ts";
import { SshAuthError } from "../../worker/ssh/userauth.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import { connectTo, readAll, readUntil, sha256Of } from "./fixtures/client.ts";
import {
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startSshd,
  TEST_PASSWORD,
} from "./fixtures/servers.ts";

const KEX = [
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "ecdh-sha2-nistp256",
  "diffie-hellman-group14-sha256",
];
const HOST_KEYS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"];
const AEAD = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"];
const CTR = ["aes128-ctr", "aes256-ctr"];
/** Connections of the combination test in flight at once, per server. */
const COMBO_LANES = 4;
const MACS = [
  "hmac-sha2-256-etm@openssh.com",
  "hmac-sha2-512-etm@openssh.com",
  "hmac-sha2-256",
  "hmac-sha2-512",
];
const MiB = 1024 * 1024;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describeWithPrereq(sshdPrereq, "SSH client against OpenSSH sshd", () => {
  let core: CryptoCore;
  let server: SshServer;
  const ed25519 = generateUserKey("ssh-ed25519", "corridor-test-ed25519");
  let ecdsaFromFile: ReturnType<typeof parseOpensshPrivateKey>;
  let dir: string;

  beforeAll(async () => {
    core = await loadCryptoCore();
    dir = mkdtempSync(join(tmpdir(), "corridor-ssh-"));
    // An encrypted ECDSA key made by ssh-keygen (bcrypt-pbkdf + aes256-ctr), imported by us.
    const keyFile = join(dir, "id_ecdsa");
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ecdsa",
      "-b",
      "256",
      "-N",
      "secret words",
      "-C",
      "from-ssh-keygen",
      "-f",
      keyFile,
    ]);
    ecdsaFromFile = parseOpensshPrivateKey(readFileSync(keyFile, "utf8"), "secret words");
    ensureTestUser([authorizedKeysLine(ed25519), readFileSync(`${keyFile}.pub`, "utf8").trim()]);
    server = await startSshd();
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("connects and runs echo with every kex x host key x cipher x MAC combination", async () => {
    const suites = [
      ...AEAD.map((c) => [c, null] as const),
      ...CTR.flatMap((c) => MACS.map((m) => [c, m] as const)),
    ];
    let n = 0;
    let passed = 0;
    for (const kex of KEX) {
      // The server is restricted to one key exchange method at a time; the client to one of
      // each of the other lists, and the negotiated set is checked, not assumed.
      const only = await startSshd({ config: [`KexAlgorithms ${kex}`] });
      try {
        const combos = HOST_KEYS.flatMap((hostKey) =>
          suites.map(([cipher, mac]) => ({ hostKey, cipher, mac, id: n++ })),
        );
        // A few connections at once (sshd's MaxStartups allows 10 unauthenticated): one at a
        // time, each spent most of its ~0.2 s waiting on sshd's fork and the round trips.
        const one = async ({ hostKey, cipher, mac, id }: (typeof combos)[number]) => {
          const client = await connectTo(only, core, {
            password: () => TEST_PASSWORD,
            algorithms: {
              hostKey: [hostKey],
              ciphers: [cipher],
              macs: mac === null ? MACS : [mac],
            },
          });
          try {
            const chosen = client.transport.negotiated;
            expect([
              chosen.kex,
              chosen.hostKey,
              chosen.cipherServerToClient,
              chosen.macServerToClient,
            ]).toEqual([kex, hostKey, cipher, mac]);
            const r = await client.exec(`echo combo-${id}`);
            expect(text(r.stdout)).toBe(`combo-${id}\n`);
            expect(r.code).toBe(0);
            passed++;
          } finally {
            await client.close();
          }
        };
        const queue = [...combos];
        const lane = async () => {
          for (let next = queue.shift(); next; next = queue.shift()) await one(next);
        };
        await Promise.all(Array.from({ length: COMBO_LANES }, lane));
      } finally {
        await only.stop();
      }
    }
    expect(passed).toBe(KEX.length * HOST_KEYS.length * (AEAD.length + CTR.length * MACS.length));
  }, 240_000);

  it("logs in with a password, keyboard-interactive, an ed25519 key and an encrypted ecdsa key file", async () => {
    const byPassword = await connectTo(server, core, { password: () => TEST_PASSWORD });
    expect(text((await byPassword.exec("id -un")).stdout)).toBe("corridor-ssh\n");
    await byPassword.close();

    const prompts: string[] = [];
    const byKbd = await connectTo(server, core, {
      keyboardInteractive: async (challenge) => {
        prompts.push(...challenge.prompts.map((p) => p.prompt));
        return challenge.prompts.map(() => TEST_PASSWORD);
      },
    });
    expect(prompts).toEqual(["Password: "]);
    await byKbd.close();

    for (const key of [ed25519, ecdsaFromFile]) {
      const byKey = await connectTo(server, core, { keys: [key] });
      expect(text((await byKey.exec("echo key-ok")).stdout)).toBe("key-ok\n");
      await byKey.close();
    }
  }, 60_000);

  it("fails a wrong password and an unknown key with errors naming what was tried", async () => {
    const wrong = connectTo(server, core, { password: () => "not the password", maxAttempts: 2 });
    await expect(wrong).rejects.toBeInstanceOf(SshAuthError);
    await expect(wrong).rejects.toThrow(
      /authentication failed for corridor-ssh: tried password, password; the server accepts publickey,password,keyboard-interactive/,
    );

    const stranger = generateUserKey("ssh-ed25519");
    const unknown = connectTo(server, core, { keys: [stranger] });
    await expect(unknown).rejects.toThrow(
      new RegExp(`tried publickey ssh-ed25519 ${stranger.publicBlob.length > 0 ? "SHA256:" : ""}`),
    );
    await expect(unknown).rejects.toMatchObject({
      tried: [expect.stringMatching(/^publickey ssh-ed25519 SHA256:/)],
    });
  }, 60_000);

  it("gives the pty the requested size and follows window-change", async () => {
    const client = await connectTo(server, core, { keys: [ed25519] });
    const session = await client.connection.openSession();
    expect(await session.requestPty({ term: "xterm-256color", cols: 123, rows: 37 })).toBe(true);
    await session.exec(
      `stty size; echo TERM=$TERM; trap 'stty size; exit 0' WINCH; echo trap-set; while :; do sleep 0.05; done`,
    );
    const reader = session.stdout.getReader();
    // window-change only after the trap is set, or the shell would ignore SIGWINCH.
    expect(await readUntil(reader, /trap-set/)).toMatch(/^37 123\r?\nTERM=xterm-256color/);
    await session.windowChange({ cols: 80, rows: 24 });
    expect(await readUntil(reader, /24 80/)).toMatch(/24 80/);
    expect((await session.exit).code).toBe(0);
    await client.close();
  }, 30_000);

  it("returns exit codes and signals, sets env, and runs several channels at once", async () => {
    const client = await connectTo(server, core, { keys: [ed25519] });
    expect((await client.exec("exit 42")).code).toBe(42);
    const killed = await client.exec("kill -TERM $$");
    expect([killed.code, killed.signal]).toEqual([null, "TERM"]);

    const session = await client.connection.openSession();
    await session.exec("sleep 30");
    await session.signal("KILL");
    expect((await session.exit).signal).toBe("KILL");

    const withEnv = await client.connection.openSession();
    expect(await withEnv.env("CORRIDOR_GREETING", "hello from the env")).toBe(true);
    await withEnv.exec("echo $CORRIDOR_GREETING");
    expect(text(await readAll(withEnv.stdout))).toBe("hello from the env\n");

    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.exec(`sleep 0.2; echo parallel-${i}`)),
    );
    expect(results.map((r) => text(r.stdout))).toEqual(
      Array.from({ length: 8 }, (_, i) => `parallel-${i}\n`),
    );
    await client.close();
  }, 30_000);

  it("forwards a direct-tcpip channel to a local TCP service", async () => {
    const echo: Server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const port = (echo.address() as { port: number }).port;
    const client = await connectTo(server, core, { keys: [ed25519] });
    const channel = await client.connection.openDirectTcpip("127.0.0.1", port);
    const payload = randomBytes(1 * MiB);
    const writer = channel.writable.getWriter();
    const received = sha256Of(
      channel.readable
        .pipeThrough(
          new TransformStream({
            transform(chunk, controller) {
              controller.enqueue(chunk);
            },
          }),
        )
        .pipeThrough(takeBytes(payload.length)),
    );
    await writer.write(payload);
    expect((await received).hex).toBe(createHash("sha256").update(payload).digest("hex"));
    await channel.close();
    await client.close();
    echo.close();
  }, 30_000);

  it("moves 64 MiB each way through one channel with sha-256 checks", async () => {
    const file = join(dir, "download.bin");
    const data = randomBytes(64 * MiB);
    writeFileSync(file, data);
    chmodSync(dir, 0o755);
    chmodSync(file, 0o644);
    const client = await connectTo(server, core, { keys: [ed25519] });
    const down = await client.connection.openSession();
    await down.exec(`cat ${file}`);
    const got = await sha256Of(down.stdout);
    expect(got).toEqual({
      hex: createHash("sha256").update(data).digest("hex"),
      bytes: data.length,
    });

    const up = await client.connection.openSession();
    await up.exec("sha256sum");
    const out = readAll(up.stdout);
    const writer = up.stdin.getWriter();
    for (let at = 0; at < data.length; at += MiB) await writer.write(data.subarray(at, at + MiB));
    await writer.close();
    expect(text(await out).split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));
    await client.close();
  }, 120_000);

  it("re-keys when the server asks (RekeyLimit 1M) in the middle of transfers", async () => {
    const rekeying = await startSshd({ config: ["RekeyLimit 1M"] });
    try {
      const client = await connectTo(rekeying, core, { keys: [ed25519] });
      const session = await client.connection.openSession();
      await session.exec("head -c 16777216 /dev/zero | sha256sum; head -c 8388608 /dev/zero");
      const out = await readAll(session.stdout);
      expect(out.length).toBe(8 * MiB + "0123456789abcdef".repeat(4).length + "  -\n".length);
      const upload = await client.connection.openSession();
      await upload.exec("wc -c");
      const counted = readAll(upload.stdout);
      const writer = upload.stdin.getWriter();
      for (let i = 0; i < 16; i++) await writer.write(new Uint8Array(MiB));
      await writer.close();
      expect(text(await counted).trim()).toBe(String(16 * MiB));
      expect(client.transport.stats.keyExchanges).toBeGreaterThan(10);
      await client.close();
    } finally {
      await rekeying.stop();
    }
  }, 60_000);

  it("re-keys by itself after its byte limit, and keeps idle connections alive both ways", async () => {
    const client = await connectTo(server, core, { keys: [ed25519], rekeyBytes: 1 * MiB });
    const session = await client.connection.openSession();
    await session.exec("head -c 33554432 /dev/zero");
    expect((await readAll(session.stdout)).length).toBe(32 * MiB);
    // A re-key starts at 1 MiB, but up to a channel window (4 MiB) is already on its way.
    expect(client.transport.stats.keyExchanges).toBeGreaterThanOrEqual(1 + 32 / (1 + 4));
    await client.close();

    // sshd probes every second and drops us after 2 unanswered probes; we probe too.
    const strict = await startSshd({ config: ["ClientAliveInterval 1", "ClientAliveCountMax 2"] });
    try {
      const idle = await connectTo(strict, core, {
        keys: [ed25519],
        connection: { keepaliveIntervalMs: 300, keepaliveCountMax: 3 },
      });
      const { packetsSent, packetsReceived } = idle.transport.stats;
      // Ten keepalives (each after 300 ms of silence) span more than sshd's limit of two
      // unanswered 1 s probes, and each needs an answer (three unanswered would end it here).
      await waitUntil(
        () =>
          idle.transport.stats.packetsSent - packetsSent >= 10 &&
          idle.transport.stats.packetsReceived - packetsReceived >= 10,
        "ten keepalives sent and answered",
      );
      expect(idle.transport.error).toBeNull();
      expect(text((await idle.exec("echo still-here")).stdout)).toBe("still-here\n");
      await idle.close();
    } finally {
      await strict.stop();
    }
  }, 60_000);

  it("uploads and downloads 16 MiB files over SFTP with checksums", async () => {
    const client = await connectTo(server, core, { keys: [ed25519] });
    const sftp = await client.sftp();
    const home = await sftp.realpath(".");
    const data = randomBytes(16 * MiB);
    await sftp.writeFile(`${home}/upload.bin`, data);
    expect((await sftp.stat(`${home}/upload.bin`)).size).toBe(data.length);
    const back = await sftp.readFile(`${home}/upload.bin`);
    expect(createHash("sha256").update(back).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    const onServer = execFileSync("sha256sum", [`${home}/upload.bin`])
      .toString()
      .split(" ")[0];
    expect(onServer).toBe(createHash("sha256").update(data).digest("hex"));
    await sftp.remove(`${home}/upload.bin`);
    await expect(sftp.stat(`${home}/upload.bin`)).rejects.toThrow(/No such file/);
    await sftp.end();
    await client.close();
  }, 60_000);

  it("refuses a changed host key, showing both fingerprints", async () => {
    const knownHosts = KnownHosts.parse("");
    const impostor = generateUserKey("ssh-ed25519");
    knownHosts.add(server.host, server.port, "ssh-ed25519", impostor.publicBlob);
    const attempt = connectTo(server, core, {
      password: () => TEST_PASSWORD,
      algorithms: { hostKey: ["ssh-ed25519"] },
      verifyHostKey: hostKeyVerifier({
        host: server.host,
        port: server.port,
        knownHosts,
        policy: "accept-new",
      }),
    });
    await expect(attempt).rejects.toBeInstanceOf(HostKeyError);
    const realFingerprint = execFileSync("ssh-keygen", ["-l", "-f", "-"], {
      input: server.hostKeys.get("ssh-ed25519"),
    })
      .toString()
      .split(" ")[1]!;
    const error = (await attempt.catch((e: Error) => e)) as HostKeyError;
    expect(error.message).toContain("HAS CHANGED");
    expect(error.message).toContain(realFingerprint);
    expect(error.message).toMatch(/known key is ssh-ed25519 SHA256:\S+ \(line 1\)/);
    expect(error.code).toBe(9);

    // The same store learns the key of a new host (accept-new) and then matches it.
    const fresh = KnownHosts.parse("");
    const verify = hostKeyVerifier({
      host: server.host,
      port: server.port,
      knownHosts: fresh,
      policy: "accept-new",
    });
    await (await connectTo(server, core, { keys: [ed25519], verifyHostKey: verify })).close();
    expect(fresh.toString()).toContain(`[127.0.0.1]:${server.port} `);
    await (await connectTo(server, core, { keys: [ed25519], verifyHostKey: verify })).close();
  }, 30_000);
});

/** Passes through exactly `n` bytes, then ends (an echo never ends by itself). */
function takeBytes(n: number): TransformStream<Uint8Array, Uint8Array> {
  let left = n;
  return new TransformStream({
    transform(chunk, controller) {
      const part = chunk.subarray(0, left);
      left -= part.length;
      controller.enqueue(part);
      if (left === 0) controller.terminate();
    },
  });
}
