// `corridor keys genkey | pubkey | genpsk`, and against `wg` itself when wireguard-tools is
// installed (it is in CI). The command lines run through `main` in this process (run-main.ts:
// the code the binary runs, stdin given, output captured); `genkey | pubkey` also runs as the
// real binary, a pipe between two processes.

import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { runMain } from "./run-main.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const WG = "/usr/bin/wg";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `corridor ARGS` through `main` in this process with `input` on stdin. */
function corridor(args: string[], input = ""): Promise<Run> {
  return runMain(args, input);
}

/** Runs a command asynchronously (so several can run at once) with `input` on stdin. */
function runAsync(command: string, args: string[], input = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const KEY_LINE = /^[A-Za-z0-9+/]{43}=\n$/;

describe("corridor keys", () => {
  it("genkey prints one clamped private key", async () => {
    const run = await corridor(["keys", "genkey"]);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(KEY_LINE);
    const key = keyFromBase64(run.stdout);
    expect(key[0]! & 7).toBe(0);
    expect(key[31]! & 0xc0).toBe(0x40);
    expect((await corridor(["keys", "genkey"])).stdout).not.toBe(run.stdout);
  });

  it("genpsk prints one 32-byte key", async () => {
    const run = await corridor(["keys", "genpsk"]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(KEY_LINE);
    expect(keyFromBase64(run.stdout)).toHaveLength(32);
  });

  it("genkey | pubkey prints the public key node:crypto computes", async () => {
    const priv = (await corridor(["keys", "genkey"])).stdout;
    const run = await corridor(["keys", "pubkey"], priv);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe(`${keyToBase64(await nodeX25519.publicKey(keyFromBase64(priv)))}\n`);
  });

  it("the real binary: genkey piped into pubkey, as the usage shows", async () => {
    const priv = await runAsync(process.execPath, [bin, "keys", "genkey"]);
    expect(priv).toMatchObject({ status: 0, stderr: "" });
    expect(priv.stdout).toMatch(KEY_LINE);
    const pub = await runAsync(process.execPath, [bin, "keys", "pubkey"], priv.stdout);
    expect(pub).toEqual({
      status: 0,
      stdout: `${keyToBase64(await nodeX25519.publicKey(keyFromBase64(priv.stdout)))}\n`,
      stderr: "",
    });
  });

  it("pubkey reproduces the wg(8) man page example, with or without a trailing newline", async () => {
    for (const input of [
      "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
      "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\r\n \n",
    ]) {
      const run = await corridor(["keys", "pubkey"], input);
      expect(run.status).toBe(0);
      expect(run.stdout).toBe("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\n");
    }
  });

  it("pubkey with garbage on stdin exits 1 saying what is wrong", async () => {
    const cases: [string, string][] = [
      ["not a key at all\n", "stdin: not a WireGuard key: 16 characters, expected 44"],
      ["", "stdin: not a WireGuard key: empty"],
      [`${"A".repeat(42)}B=\n`, "character 43 has trailing bits set"],
      [`${"A".repeat(20)}-${"A".repeat(22)}=`, "character 21 is not base64"],
    ];
    for (const [input, problem] of cases) {
      const run = await corridor(["keys", "pubkey"], input);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^corridor keys pubkey: /);
      expect(run.stderr).toContain(problem);
    }
  });

  it("an unknown subcommand, a missing one or an extra argument exits 2 with the usage", async () => {
    const cases: [string[], string][] = [
      [["keys", "frobnicate"], "corridor keys: unknown subcommand: frobnicate"],
      [["keys"], "corridor keys: a subcommand is needed"],
      [["keys", "genkey", "extra"], "corridor keys: genkey takes no arguments, got: extra"],
      [["keys", "pubkey", "-"], "corridor keys: pubkey takes no arguments, got: -"],
    ];
    for (const [args, message] of cases) {
      const run = await corridor(args);
      expect(run.status).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain("usage: corridor keys genkey | pubkey | genpsk");
    }
  });

  it("is listed in `corridor help`", async () => {
    expect((await corridor(["help"])).stdout).toMatch(/^ {2}keys +WireGuard keys/m);
  });
});

describeWithPrereq(prereq(executable(WG)), "corridor keys against wg (wireguard-tools)", () => {
  it("wg pubkey and corridor keys pubkey agree on 20 keys from corridor keys genkey", async () => {
    const privates = await Promise.all(
      Array.from({ length: 20 }, () => corridor(["keys", "genkey"])),
    );
    const results = await Promise.all(
      privates.map(async ({ stdout: priv }) => {
        const [ours, theirs] = await Promise.all([
          corridor(["keys", "pubkey"], priv),
          runAsync(WG, ["pubkey"], priv),
        ]);
        return { priv, ours, theirs };
      }),
    );
    expect(new Set(results.map((r) => r.priv)).size).toBe(20);
    for (const { ours, theirs } of results) {
      // wg accepting our genkey output is the second half of the claim.
      expect(theirs).toMatchObject({ status: 0, stderr: "" });
      expect(theirs.stdout).toMatch(KEY_LINE);
      expect(ours).toEqual(theirs);
    }
  });

  it("corridor keys pubkey accepts wg genkey and wg genpsk output like wg pubkey does", async () => {
    for (const sub of ["genkey", "genpsk"]) {
      const key = spawnSync(WG, [sub], { encoding: "utf8" }).stdout;
      expect(key).toMatch(KEY_LINE);
      const theirs = spawnSync(WG, ["pubkey"], { input: key, encoding: "utf8" }).stdout;
      expect((await corridor(["keys", "pubkey"], key)).stdout).toBe(theirs);
    }
  });

  it("wg and corridor reject the same malformed keys", async () => {
    const good = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    for (const input of [
      good.slice(1),
      `${good.slice(0, 42)}l=`, // trailing bits set
      `${good.slice(0, 43)}A`,
      good.replace("+", "-"),
      `${good} extra`,
    ]) {
      const theirs = spawnSync(WG, ["pubkey"], { input, encoding: "utf8" });
      const ours = await corridor(["keys", "pubkey"], input);
      expect({ input, wg: theirs.status }).toEqual({ input, wg: 1 });
      expect({ input, corridor: ours.status }).toEqual({ input, corridor: 1 });
    }
  });
});
