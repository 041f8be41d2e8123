// The SSH test servers leave the host alone (test-account.ts): the test user logs in to sshd
// and Dropbear with the per-process password and with a key, while the host's passwd, shadow
// and group stay byte for byte the same, no account of that name appears on the host, /run/sshd
// is not created there, and stop() removes the server's home. A port that is taken is reported
// as such (the retry in servers.ts relies on it).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type CryptoCore, loadCryptoCore } from "../../worker/crypto/index.ts";
import { authorizedKeysLine, generateUserKey } from "../../worker/ssh/keys/index.ts";
import { listenOnLoopback, PortInUseError } from "../helpers/ports.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { connectTo } from "./fixtures/client.ts";
import {
  dropbearPrereq,
  ensureTestUser,
  type SshServer,
  sshdPrereq,
  startDropbear,
  startSshd,
  TEST_PASSWORD,
  TEST_USER,
} from "./fixtures/servers.ts";

const need = prereq(
  ...[...sshdPrereq.missing, ...dropbearPrereq.missing].map((what) => check(what, false)),
);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const HOST_FILES = ["/etc/passwd", "/etc/shadow", "/etc/group"];
const digest = () =>
  HOST_FILES.map((f) => createHash("sha256").update(readFileSync(f)).digest("hex"));
const hostHasUser = () => {
  try {
    execFileSync("id", [TEST_USER], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

describeWithPrereq(need, "SSH test servers and the host", () => {
  let core: CryptoCore;
  const before = { digest: [] as string[], runSshd: false };
  const servers: SshServer[] = [];
  beforeAll(async () => {
    core = await loadCryptoCore();
    before.digest = digest();
    before.runSshd = existsSync("/run/sshd");
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("logs in to sshd and Dropbear by password and key; the host's accounts do not change", async () => {
    expect(TEST_PASSWORD).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const key = generateUserKey("ssh-ed25519", "account-test");
    ensureTestUser([authorizedKeysLine(key)]);
    const sshd = await startSshd();
    const dropbear = await startDropbear();
    servers.push(sshd, dropbear);
    // A key added while the servers run reaches them too.
    const later = generateUserKey("ssh-ed25519", "added-later");
    ensureTestUser([authorizedKeysLine(later)]);
    for (const server of [sshd, dropbear]) {
      for (const login of [{ password: () => TEST_PASSWORD }, { keys: [key] }, { keys: [later] }]) {
        const client = await connectTo(server, core, login);
        const who = text((await client.exec("id -un; echo $HOME")).stdout);
        expect(who, `${server.kind}`).toBe(`${TEST_USER}\n${server.home}\n`);
        await client.close();
      }
    }
    expect(digest()).toEqual(before.digest);
    expect(hostHasUser()).toBe(false);
    expect(existsSync("/run/sshd")).toBe(before.runSshd);
    for (const server of servers.splice(0)) {
      await server.stop();
      expect(existsSync(server.home)).toBe(false);
    }
  }, 60_000);

  it("reports a taken port as PortInUseError", async () => {
    const squatter = createServer();
    const port = await listenOnLoopback(squatter);
    try {
      await expect(startSshd({ port })).rejects.toBeInstanceOf(PortInUseError);
      await expect(startDropbear({ port })).rejects.toBeInstanceOf(PortInUseError);
    } finally {
      squatter.close();
    }
  });
});
