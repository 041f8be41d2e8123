// `corridor ssh` and a host pinned with one key type (issue 12, item 2): OpenSSH's sshd that
// offers only an ECDSA host key, for a host whose known_hosts line is ed25519, is refused as a
// changed key (both type+fingerprints shown, known_hosts untouched) under every
// StrictHostKeyChecking mode, accept-new included; and against an sshd holding several key
// types, the known type is preferred in KEXINIT, so the known ECDSA key is what it checks.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type SshServer, sshdPrereq, startSshd } from "../ssh/fixtures/servers.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

function corridor(args: string[]): Promise<{ stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      // Nobody to ask: no SSH_ASKPASS, and setsid-like detachment keeps /dev/tty away.
      env: { ...process.env, SSH_ASKPASS: "" },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ stderr, code }));
  });
}

/** "SHA256:…" of an OpenSSH public key line, as OpenSSH's ssh-keygen prints it. */
function fingerprintOf(publicLine: string): string {
  return execFileSync("ssh-keygen", ["-l", "-f", "-"], { input: publicLine })
    .toString()
    .split(" ")[1]!;
}

/** "TYPE BASE64" of a public key line (what follows the host in known_hosts). */
const keyPart = (publicLine: string) => publicLine.trim().split(" ").slice(0, 2).join(" ");

describeWithPrereq(
  sshdPrereq,
  "corridor ssh: a host key of another type than the known one",
  () => {
    let dir = "";
    let ecdsaOnly: SshServer;
    let allTypes: SshServer;
    let pinnedEd25519 = "";

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "corridor-cli-keytype-"));
      // The real host's ed25519 key, pinned in known_hosts.
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "real_host")]);
      pinnedEd25519 = readFileSync(join(dir, "real_host.pub"), "utf8");
      // A real sshd started with only an ECDSA host key.
      ecdsaOnly = await startSshd({ hostKeyTypes: ["ecdsa"] });
      allTypes = await startSshd();
    }, 60_000);

    afterAll(async () => {
      await ecdsaOnly?.stop();
      await allTypes?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("refuses an ECDSA-only server for a host pinned with ed25519, in every mode", async () => {
      const known = join(dir, "known_hosts_pinned");
      const text = `[127.0.0.1]:${ecdsaOnly.port} ${keyPart(pinnedEd25519)}\n`;
      writeFileSync(known, text, { mode: 0o600 });
      const presented = fingerprintOf(ecdsaOnly.hostKeys.get("ecdsa-sha2-nistp256")!);
      const trusted = fingerprintOf(pinnedEd25519);
      for (const mode of ["accept-new", "no", "yes", "ask"]) {
        const r = await corridor([
          "ssh",
          "-p",
          String(ecdsaOnly.port),
          "-o",
          `UserKnownHostsFile=${known}`,
          "-o",
          `StrictHostKeyChecking=${mode}`,
          "someone@127.0.0.1",
          "true",
        ]);
        expect(r.code).toBe(255);
        expect(r.stderr).toBe(
          `corridor ssh: 127.0.0.1 port ${ecdsaOnly.port}: HOST KEY FOR [127.0.0.1]:${ecdsaOnly.port} HAS CHANGED: the server sent ecdsa-sha2-nistp256 ${presented}, but the known key is ssh-ed25519 ${trusted} (line 1), and the server offered no key of the known type. Someone could be intercepting the connection (or the host key was replaced). Refusing to connect.\n`,
        );
        // Nothing learned: the impostor's key is not added beside the pinned one.
        expect(readFileSync(known, "utf8")).toBe(text);
      }
    }, 60_000);

    it("prefers the known type in KEXINIT: a known ECDSA key passes on a server that also has ed25519", async () => {
      const known = join(dir, "known_hosts_ecdsa");
      const text = `[127.0.0.1]:${allTypes.port} ${keyPart(allTypes.hostKeys.get("ecdsa-sha2-nistp256")!)}\n`;
      writeFileSync(known, text, { mode: 0o600 });
      const r = await corridor([
        "ssh",
        "-p",
        String(allTypes.port),
        "-o",
        `UserKnownHostsFile=${known}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "nobody-here@127.0.0.1",
        "true",
      ]);
      // Past the host key (it matched): sshd saw the login attempt, which our client makes
      // only after verifying the key; the login itself fails (no key, no password to give).
      expect(r.code).toBe(255);
      expect(r.stderr).not.toMatch(/HOST KEY|host key/);
      await expect
        .poll(() => allTypes.log(), { timeout: 10_000 })
        .toMatch(/Invalid user nobody-here from 127\.0\.0\.1/);
      expect(readFileSync(known, "utf8")).toBe(text);
    }, 60_000);
  },
);
