// `corridor ping`, `nc` and `ssh` warn when the wg-quick config (it holds the WireGuard private
// key) or an SSH private key can be read by other users, as OpenSSH does for keys and wg-quick
// for configs; the command still runs. No peer answers here: the warning comes before the
// connection, which then fails the ordinary way.

import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

function corridor(args: string[]): Promise<{ stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, SSH_ASKPASS: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ stderr, code }));
  });
}

/** A loopback TCP port with nothing listening (the connection is refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address !== null ? address.port : 0;
}

const warningFor = (file: string, what: string, title: string) =>
  `WARNING: ${title}!\nPermissions 0644 for '${file}' are too open: other users of this machine can read the ${what}.\nProtect it with: chmod 600 '${file}'\n`;

describe("warnings for secret files readable by others", () => {
  let dir = "";
  let config = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-unprotected-"));
    config = join(dir, "wg0.conf");
    // The peer's endpoint is a loopback port where no WireGuard listens: nothing answers.
    writeFileSync(
      config,
      [
        "[Interface]",
        `PrivateKey = ${keyToBase64(generatePrivateKey())}`,
        "Address = 100.64.0.1/32",
        "",
        "[Peer]",
        `PublicKey = ${keyToBase64(generatePrivateKey())}`,
        "Endpoint = 127.0.0.1:9",
        "AllowedIPs = 100.64.0.0/24",
        "",
      ].join("\n"),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const configWarning = () =>
    warningFor(config, "private key in this WireGuard config", "UNPROTECTED WIREGUARD CONFIG");

  it("corridor ping: silent for a 0600 config, warns for 0644 and still runs", async () => {
    chmodSync(config, 0o600);
    const quiet = await corridor([
      "ping",
      "-c",
      "1",
      "-W",
      "0.2",
      "--wg-config",
      config,
      "100.64.0.2",
    ]);
    expect([quiet.code, quiet.stderr]).toEqual([1, ""]);
    chmodSync(config, 0o644);
    const loud = await corridor([
      "ping",
      "-c",
      "1",
      "-W",
      "0.2",
      "--wg-config",
      config,
      "100.64.0.2",
    ]);
    expect([loud.code, loud.stderr]).toEqual([1, `corridor ping: ${configWarning()}`]);
  }, 30_000);

  it("corridor nc warns for a 0644 config before trying to connect", async () => {
    chmodSync(config, 0o644);
    const r = await corridor(["nc", "-w", "0.2", "--wg-config", config, "100.64.0.2", "22"]);
    expect(r.code).toBe(1);
    expect(
      r.stderr.startsWith(`corridor nc: ${configWarning()}corridor nc: 100.64.0.2 port 22: `),
    ).toBe(true);
  }, 30_000);

  it("corridor ssh warns for a 0644 identity file and for a 0644 --wg-config", async () => {
    const key = join(dir, "id_ed25519");
    const made = await corridor(["ssh-keygen", "-f", key, "-N", "", "-C", "perm"]);
    expect(made.code).toBe(0);
    const port = await closedPort();
    const args = ["ssh", "-p", String(port), "-i", key, "-o", "StrictHostKeyChecking=yes"];
    const quiet = await corridor([...args, "someone@127.0.0.1", "true"]);
    expect(quiet.code).toBe(255);
    expect(quiet.stderr).not.toContain("WARNING");
    chmodSync(key, 0o644);
    const loud = await corridor([...args, "someone@127.0.0.1", "true"]);
    expect(loud.code).toBe(255);
    expect(
      loud.stderr.startsWith(
        `corridor ssh: ${warningFor(key, "private key", "UNPROTECTED PRIVATE KEY FILE")}`,
      ),
    ).toBe(true);
    chmodSync(key, 0o600);
    const mesh = await corridor([
      "ssh",
      "-i",
      key,
      "--wg-config",
      config,
      "-o",
      "StrictHostKeyChecking=yes",
      // Nothing answers at the peer's endpoint: the warning is what is checked, not the wait.
      "-o",
      "ConnectTimeout=1",
      "someone@100.64.0.2",
      "true",
    ]);
    expect(mesh.stderr.startsWith(`corridor ssh: ${configWarning()}`)).toBe(true);
  }, 60_000);
});
