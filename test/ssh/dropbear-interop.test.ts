// Our SSH client against Dropbear 2022.83 on loopback TCP: every key exchange x host key x
// cipher x MAC combination Dropbear and we share (Dropbear cannot restrict its lists, so the
// client offers one of each and the negotiated set is checked), password and public key
// logins and their failures, pty size and window-change, exit codes, 64 MiB each way.

import { createHash, randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { authorizedKeysLine, generateUserKey } from "../../worker/ssh/keys/index.ts";
import { SshAuthError } from "../../worker/ssh/userauth.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { connectTo, readAll, readUntil, sha256Of } from "./fixtures/client.ts";
import {
  dropbearPrereq,
  ensureTestUser,
  type SshServer,
  startDropbear,
  TEST_PASSWORD,
} from "./fixtures/servers.ts";

const MiB = 1024 * 1024;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describeWithPrereq(dropbearPrereq, "SSH client against Dropbear", () => {
  let core: CryptoCore;
  let server: SshServer;
  const ed25519 = generateUserKey("ssh-ed25519");
  const ecdsa = generateUserKey("ecdsa-sha2-nistp256");

  beforeAll(async () => {
    core = await loadCryptoCore();
    ensureTestUser([authorizedKeysLine(ed25519), authorizedKeysLine(ecdsa)]);
    server = await startDropbear();
  }, 60_000);

  afterEach((context) => {
    // Dropbear's own log explains a refused or closed channel.
    if (context.task.result?.state === "fail")
      console.log(`dropbear log:\n${server?.log().slice(-4000)}`);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("connects with every combination both sides support", async () => {
    const kexes = [
      "curve25519-sha256",
      "curve25519-sha256@libssh.org",
      "ecdh-sha2-nistp256",
      "diffie-hellman-group14-sha256",
    ];
    const hostKeys = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256"];
    const suites = [
      ["chacha20-poly1305@openssh.com", null],
      ["aes128-ctr", "hmac-sha2-256"],
      ["aes256-ctr", "hmac-sha2-256"],
    ] as const;
    let n = 0;
    for (const kex of kexes) {
      for (const hostKey of hostKeys) {
        for (const [cipher, mac] of suites) {
          const client = await connectTo(server, core, {
            keys: [ed25519],
            algorithms: {
              kex: [kex],
              hostKey: [hostKey],
              ciphers: [cipher],
              macs: mac === null ? undefined : [mac],
            },
          });
          const chosen = client.transport.negotiated;
          expect([
            chosen.kex,
            chosen.hostKey,
            chosen.cipherClientToServer,
            chosen.macClientToServer,
          ]).toEqual([kex, hostKey, cipher, mac]);
          expect(text((await client.exec(`echo dropbear-${n}`)).stdout)).toBe(`dropbear-${n}\n`);
          await client.close();
          n++;
        }
      }
    }
    expect(n).toBe(36);
  }, 120_000);

  it("logs in with a password, an ed25519 key and an ecdsa key; refuses wrong ones clearly", async () => {
    for (const options of [
      { password: () => TEST_PASSWORD },
      { keys: [ed25519] },
      { keys: [ecdsa] },
    ]) {
      const client = await connectTo(server, core, options);
      expect(text((await client.exec("id -un")).stdout)).toBe("corridor-ssh\n");
      await client.close();
    }
    const wrong = connectTo(server, core, { password: () => "wrong", maxAttempts: 1 });
    await expect(wrong).rejects.toBeInstanceOf(SshAuthError);
    await expect(wrong).rejects.toThrow(/tried password; the server accepts publickey,password/);
    const stranger = connectTo(server, core, { keys: [generateUserKey("ecdsa-sha2-nistp256")] });
    await expect(stranger).rejects.toThrow(
      /tried publickey ecdsa-sha2-nistp256 SHA256:\S+; the server accepts/,
    );
  }, 60_000);

  it("sizes the pty, follows window-change, and returns exit codes", async () => {
    const client = await connectTo(server, core, { keys: [ed25519] });
    const session = await client.connection.openSession();
    expect(await session.requestPty({ cols: 132, rows: 43 })).toBe(true);
    await session.exec(
      `stty size; trap 'stty size; exit 7' WINCH; echo trap-set; while :; do sleep 0.05; done`,
    );
    const reader = session.stdout.getReader();
    // window-change only after the trap is set, or the shell would ignore SIGWINCH.
    expect(await readUntil(reader, /trap-set/)).toMatch(/^43 132\r?\n/);
    await session.windowChange({ cols: 90, rows: 30 });
    expect(await readUntil(reader, /30 90/)).toMatch(/30 90/);
    expect((await session.exit).code).toBe(7);
    expect((await client.exec("exit 3")).code).toBe(3);
    await client.close();
  }, 30_000);

  it("moves 64 MiB each way with sha-256 checks", async () => {
    const data = randomBytes(64 * MiB);
    const digest = createHash("sha256").update(data).digest("hex");
    const client = await connectTo(server, core, { keys: [ed25519] });
    const up = await client.connection.openSession();
    await up.exec(
      "cat > /tmp/corridor-dropbear-64m.bin && sha256sum /tmp/corridor-dropbear-64m.bin",
    );
    const out = readAll(up.stdout);
    const writer = up.stdin.getWriter();
    for (let at = 0; at < data.length; at += MiB) await writer.write(data.subarray(at, at + MiB));
    await writer.close();
    expect(text(await out).split(" ")[0]).toBe(digest);
    // The upload's channel is closed before the next one opens (one session at a time).
    expect((await up.exit).code).toBe(0);
    const down = await client.connection.openSession();
    await down.exec("cat /tmp/corridor-dropbear-64m.bin; rm /tmp/corridor-dropbear-64m.bin");
    expect(await sha256Of(down.stdout)).toEqual({ hex: digest, bytes: data.length });
    await client.close();
  }, 120_000);
});
