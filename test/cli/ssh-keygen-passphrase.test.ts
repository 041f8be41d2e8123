// `corridor ssh-keygen`'s passphrase and file handling (issue 12, item 8): no passphrase on
// the command line (-N '' only), the passphrase from the terminal (asked twice, not echoed) or
// from a file descriptor, key files written whole and never over an existing one, and a
// private key readable by others warned about. OpenSSH's ssh-keygen is the oracle that the
// key really is encrypted with the passphrase given.

import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pty from "node-pty";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const need = prereq(executable("/usr/bin/ssh-keygen"));

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs corridor with `fd3` as its file descriptor 3 (a string is written into a pipe). */
function corridor(
  args: string[],
  options: { fd3?: string | number; env?: Record<string, string | undefined> } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const fd3 = options.fd3;
    const child = spawn(process.execPath, [bin, ...args], {
      // No SSH_ASKPASS and no controlling terminal unless a test gives one.
      env: { ...process.env, SSH_ASKPASS: "", ...options.env },
      stdio: ["ignore", "pipe", "pipe", typeof fd3 === "number" ? fd3 : "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const pipe = child.stdio[3];
    if (pipe && "end" in pipe && typeof pipe.end === "function") {
      pipe.on("error", () => undefined);
      pipe.end(typeof fd3 === "string" ? fd3 : "");
    }
    child.on("close", (code) => resolve({ stdout, stderr, code }));
  });
}

/** OpenSSH decrypts `file` with `passphrase` and prints its public key, or throws. */
function opensshPublicKey(file: string, passphrase: string): string {
  return execFileSync("ssh-keygen", ["-y", "-P", passphrase, "-f", file], {
    stdio: ["ignore", "pipe", "pipe"],
  })
    .toString()
    .trim();
}

const firstTwo = (line: string) => line.trim().split(" ").slice(0, 2).join(" ");

describeWithPrereq(need, "corridor ssh-keygen passphrases and key files", () => {
  let dir = "";
  let n = 0;
  const fresh = () => join(dir, `key${++n}`);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-keygen-pass-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a passphrase on the command line, naming the alternatives, and writes nothing", async () => {
    const file = fresh();
    const r = await corridor(["ssh-keygen", "-f", file, "-N", "hunter2"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(
      "corridor ssh-keygen: -N takes no passphrase on the command line (other users can read it in the process list): leave -N out to be asked on the terminal, or use --passphrase-fd N; -N '' makes a key without a passphrase",
    );
    expect(r.stderr).toContain("usage: corridor ssh-keygen");
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.pub`)).toBe(false);
  });

  it("-N '' still makes a key without a passphrase (0600 private, 0644 public)", async () => {
    const file = fresh();
    const r = await corridor(["ssh-keygen", "-f", file, "-N", "", "-C", "plain"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.pub`).mode & 0o777).toBe(0o644);
    expect(firstTwo(opensshPublicKey(file, ""))).toBe(
      firstTwo(readFileSync(`${file}.pub`, "utf8")),
    );
    // Nothing but the two files: the temporary files went away.
    expect(readdirSync(dir).filter((f) => f.startsWith(`.key${n}`))).toEqual([]);
  });

  it("--passphrase-fd reads the first line of a pipe; OpenSSH opens the key with it", async () => {
    const file = fresh();
    const r = await corridor(["ssh-keygen", "-t", "ecdsa", "-f", file, "--passphrase-fd", "3"], {
      fd3: "correct horse battery\nnot this line\n",
    });
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const pub = readFileSync(`${file}.pub`, "utf8");
    expect(firstTwo(opensshPublicKey(file, "correct horse battery"))).toBe(firstTwo(pub));
    expect(() => opensshPublicKey(file, "")).toThrow();
    expect(() => opensshPublicKey(file, "correct horse battery\nnot this line")).toThrow();
    // The same descriptor unlocks the key for -y.
    const y = await corridor(["ssh-keygen", "-y", "-f", file, "--passphrase-fd", "3"], {
      fd3: "correct horse battery\r\n",
    });
    expect([y.code, y.stderr, firstTwo(y.stdout)]).toEqual([0, "", firstTwo(pub)]);
  });

  it("--passphrase-fd reads a regular file too, and refuses a bad descriptor", async () => {
    const secret = join(dir, "secret.txt");
    writeFileSync(secret, "from-a-file", { mode: 0o600 });
    const fd = openSync(secret, "r");
    const file = fresh();
    try {
      const r = await corridor(["ssh-keygen", "-f", file, "--passphrase-fd", "3"], { fd3: fd });
      expect([r.code, r.stderr]).toEqual([0, ""]);
    } finally {
      closeSync(fd);
    }
    expect(firstTwo(opensshPublicKey(file, "from-a-file"))).toBe(
      firstTwo(readFileSync(`${file}.pub`, "utf8")),
    );
    const bad = await corridor(["ssh-keygen", "-f", fresh(), "--passphrase-fd", "three"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n")[0]).toBe(
      "corridor ssh-keygen: --passphrase-fd needs a file descriptor number, got three",
    );
    const both = await corridor(["ssh-keygen", "-f", fresh(), "-N", "", "--passphrase-fd", "3"]);
    expect(both.code).toBe(2);
    expect(both.stderr.split("\n")[0]).toBe(
      "corridor ssh-keygen: give either -N '' or --passphrase-fd, not both",
    );
    const closed = await corridor(["ssh-keygen", "-f", fresh(), "--passphrase-fd", "250"]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/^corridor ssh-keygen: --passphrase-fd 250: EBADF/);
  });

  it("without -N and with nobody to ask, fails instead of making an unencrypted key", async () => {
    const file = fresh();
    const r = await corridor(["ssh-keygen", "-f", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "corridor ssh-keygen: no passphrase was entered (no terminal, or cancelled); use -N '' for a key without one, or --passphrase-fd N\n",
    );
    expect(existsSync(file)).toBe(false);
  });

  it("asks twice on the terminal without echoing; a mismatch makes no key", async () => {
    const ask = (file: string, answers: [string, string]) =>
      new Promise<{ code: number; screen: string }>((resolve) => {
        const term = pty.spawn(process.execPath, [bin, "ssh-keygen", "-f", file], {
          cols: 100,
          rows: 30,
          env: { ...process.env, SSH_ASKPASS: "" } as Record<string, string>,
        });
        let screen = "";
        let asked = 0;
        term.onData((d) => {
          screen += d;
          // Answer each prompt when it appears (the event, not a timer).
          const prompts = (screen.match(/passphrase[^\n]*: /g) ?? []).length;
          while (asked < prompts && asked < 2) term.write(`${answers[asked++]}\r`);
        });
        term.onExit(({ exitCode }) => resolve({ code: exitCode, screen }));
      });
    const file = fresh();
    const good = await ask(file, ["typed secret", "typed secret"]);
    expect(good.screen).toContain("Enter passphrase (empty for no passphrase): ");
    expect(good.screen).toContain("Enter same passphrase again: ");
    expect(good.screen).not.toContain("typed secret");
    expect(good.code).toBe(0);
    expect(firstTwo(opensshPublicKey(file, "typed secret"))).toBe(
      firstTwo(readFileSync(`${file}.pub`, "utf8")),
    );
    const other = fresh();
    const bad = await ask(other, ["one", "two"]);
    expect(bad.code).toBe(1);
    expect(bad.screen).toContain("corridor ssh-keygen: passphrases do not match");
    expect(existsSync(other)).toBe(false);
  }, 30_000);

  it("warns, like OpenSSH, when the private key is readable by others", async () => {
    const file = fresh();
    expect((await corridor(["ssh-keygen", "-f", file, "-N", ""])).code).toBe(0);
    const quiet = await corridor(["ssh-keygen", "-y", "-f", file]);
    expect([quiet.code, quiet.stderr]).toEqual([0, ""]);
    chmodSync(file, 0o644);
    const loud = await corridor(["ssh-keygen", "-y", "-f", file]);
    expect(loud.code).toBe(0);
    expect(loud.stderr).toBe(
      `corridor ssh-keygen: WARNING: UNPROTECTED PRIVATE KEY FILE!\nPermissions 0644 for '${file}' are too open: other users of this machine can read the private key.\nProtect it with: chmod 600 '${file}'\n`,
    );
    expect(firstTwo(loud.stdout)).toBe(firstTwo(readFileSync(`${file}.pub`, "utf8")));
  });
});
