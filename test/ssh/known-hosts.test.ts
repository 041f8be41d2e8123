// Host keys (worker/ssh/fingerprint.ts, worker/ssh/known-hosts.ts): SHA256 fingerprints and the
// known_hosts format, checked against the real OpenSSH ssh-keygen (fingerprints, hashed names
// both ways, [host]:port), by example (patterns, markers, verdicts, malformed lines) and by a
// seeded fuzz of mutated files.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeBase64,
  encodeBase64,
  fingerprintSha256,
  keyTypeOf,
} from "../../worker/ssh/fingerprint.ts";
import { KnownHosts } from "../../worker/ssh/known-hosts.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const KEYGEN = "/usr/bin/ssh-keygen";

/** A wire-format blob: string type, then string body (enough for known_hosts purposes). */
function blobOf(type: string, body: Uint8Array): Uint8Array {
  const t = new TextEncoder().encode(type);
  const out = new Uint8Array(8 + t.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, t.length);
  out.set(t, 4);
  view.setUint32(4 + t.length, body.length);
  out.set(body, 8 + t.length);
  return out;
}

const bytes = seededBytes(0x5eed_0701);
const ED_A = blobOf("ssh-ed25519", bytes(32));
const ED_B = blobOf("ssh-ed25519", bytes(32));
const EC_A = blobOf("ecdsa-sha2-nistp256", bytes(65));
const RSA_A = blobOf("ssh-rsa", bytes(64));
const line = (hosts: string, blob: Uint8Array): string =>
  `${hosts} ${keyTypeOf(blob)} ${encodeBase64(blob)}`;

describe("fingerprint helpers", () => {
  it("base64 round-trips every length and rejects bad input", () => {
    for (let n = 0; n < 40; n++) {
      const b = bytes(n);
      const text = encodeBase64(b);
      expect(text).toBe(Buffer.from(b).toString("base64"));
      expect(decodeBase64(text)).toEqual(b);
      expect(decodeBase64(encodeBase64(b, false))).toEqual(b);
    }
    for (const bad of ["A", "A===", "AB=C", "ab cd", "ab-_", "AB==", "AAB="]) {
      expect(decodeBase64(bad), bad).toBeUndefined();
    }
  });

  it("keyTypeOf reads the leading string and rejects short or odd blobs", () => {
    expect(keyTypeOf(ED_A)).toBe("ssh-ed25519");
    expect(keyTypeOf(EC_A)).toBe("ecdsa-sha2-nistp256");
    for (const bad of [new Uint8Array(0), new Uint8Array([0, 0, 0]), new Uint8Array(4)]) {
      expect(() => keyTypeOf(bad)).toThrow(TypeError);
    }
    expect(() => keyTypeOf(new Uint8Array([0, 0, 0, 5, 0x61]))).toThrow(TypeError);
    expect(() => keyTypeOf(new Uint8Array([0, 0, 0, 1, 0x20]))).toThrow(TypeError);
  });

  it("fingerprintSha256 is SHA256: plus unpadded base64", () => {
    // SHA-256 of the empty string.
    expect(fingerprintSha256(new Uint8Array(0))).toBe(
      "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
    );
  });
});

describe("KnownHosts by example", () => {
  it("looks up plain names, wildcards, negation and [host]:port", () => {
    const kh = KnownHosts.parse(
      [
        line("alpha.example,10.0.0.1", ED_A),
        line("*.corp.example,!secret.corp.example", EC_A),
        line("h?st", RSA_A),
        line("[alpha.example]:2222", ED_B),
      ].join("\n"),
    );
    expect(kh.warnings).toEqual([]);
    expect(kh.lookup("alpha.example", 22, "ssh-ed25519", ED_A).status).toBe("match");
    expect(kh.lookup("ALPHA.example", 22, "ssh-ed25519", ED_A).status).toBe("match");
    expect(kh.lookup("10.0.0.1", 22, "ssh-ed25519", ED_A).status).toBe("match");
    expect(kh.lookup("alpha.example", 2222, "ssh-ed25519", ED_B).status).toBe("match");
    expect(kh.lookup("alpha.example", 2222, "ssh-ed25519", ED_A).status).toBe("mismatch");
    expect(kh.lookup("alpha.example", 2200, "ssh-ed25519", ED_A).status).toBe("unknown");
    expect(kh.lookup("web.corp.example", 22, "ecdsa-sha2-nistp256", EC_A).status).toBe("match");
    expect(kh.lookup("secret.corp.example", 22, "ecdsa-sha2-nistp256", EC_A).status).toBe(
      "unknown",
    );
    expect(kh.lookup("corp.example", 22, "ecdsa-sha2-nistp256", EC_A).status).toBe("unknown");
    expect(kh.lookup("host", 22, "rsa-sha2-512", RSA_A).status).toBe("match");
    expect(kh.lookup("hoost", 22, "ssh-rsa", RSA_A).status).toBe("unknown");
  });

  it("mismatch reports the known keys; other-type (a changed key) when only other types are known", () => {
    const kh = KnownHosts.parse(`# comment\n${line("alpha", ED_A)}\n${line("alpha", EC_A)}\n`);
    const r = kh.lookup("alpha", 22, "ssh-ed25519", ED_B);
    expect(r.status).toBe("mismatch");
    expect(r.known).toEqual([
      { keyType: "ssh-ed25519", fingerprint: fingerprintSha256(ED_A), line: 2 },
    ]);
    expect(kh.lookup("alpha", 22, "ssh-rsa", RSA_A)).toEqual({
      status: "other-type",
      known: [
        { keyType: "ssh-ed25519", fingerprint: fingerprintSha256(ED_A), line: 2 },
        { keyType: "ecdsa-sha2-nistp256", fingerprint: fingerprintSha256(EC_A), line: 3 },
      ],
    });
    expect(kh.lookup("beta", 22, "ssh-rsa", RSA_A)).toEqual({ status: "unknown" });
    expect(kh.lookup("alpha", 22, "ecdsa-sha2-nistp256", EC_A).known?.[0]?.line).toBe(3);
  });

  it("@revoked refuses a key; @cert-authority is parsed but not a host key", () => {
    const kh = KnownHosts.parse(
      [
        `@revoked * ${keyTypeOf(ED_B)} ${encodeBase64(ED_B)}`,
        line("alpha", ED_B),
        `@cert-authority *.example ${keyTypeOf(EC_A)} ${encodeBase64(EC_A)} ca`,
      ].join("\n"),
    );
    expect(kh.warnings).toEqual([]);
    const r = kh.lookup("alpha", 22, "ssh-ed25519", ED_B);
    expect(r.status).toBe("revoked");
    expect(r.known?.[0]).toEqual({
      keyType: "ssh-ed25519",
      fingerprint: fingerprintSha256(ED_B),
      line: 1,
    });
    expect(kh.lookup("alpha", 22, "ssh-ed25519", ED_A).status).toBe("mismatch");
    expect(kh.lookup("x.example", 22, "ecdsa-sha2-nistp256", EC_A).status).toBe("unknown");
  });

  it("keeps malformed lines verbatim with warnings and round-trips the text", () => {
    const text = [
      "# header",
      "",
      "@bogus host ssh-ed25519 AAAA",
      "onlyhost",
      `host ssh-ed25519 not*base64`,
      `host ssh-rsa ${encodeBase64(ED_A)}`,
      `|1|abc|def ${keyTypeOf(ED_A)} ${encodeBase64(ED_A)}`,
      `a,,b ${keyTypeOf(ED_A)} ${encodeBase64(ED_A)}`,
      `${line("good", ED_A)} trailing comment\r`,
      "   \t  ",
    ].join("\n");
    const kh = KnownHosts.parse(text);
    expect(kh.warnings.map((w) => w.line)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(kh.toString()).toBe(text);
    expect(kh.lookup("good", 22, "ssh-ed25519", ED_A).status).toBe("match");
    kh.add("new", 22, "ssh-ed25519", ED_B);
    expect(kh.toString()).toBe(`${text}\n${line("new", ED_B)}\n`);
    expect(KnownHosts.parse("").toString()).toBe("");
    expect(KnownHosts.parse("x\n").toString()).toBe("x\n");
  });

  it("add() writes plain and hashed lines that lookup() finds, and validates", () => {
    const kh = KnownHosts.parse("");
    kh.add("Plain", 22, "ssh-ed25519", ED_A);
    kh.add("hashed", 2222, "ssh-ed25519", ED_B, { hashed: true, salt: bytes(20) });
    const lines = kh.toString().split("\n");
    expect(lines[0]).toBe(line("plain", ED_A));
    expect(lines[1]).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
    const again = KnownHosts.parse(kh.toString());
    for (const k of [kh, again]) {
      expect(k.lookup("plain", 22, "ssh-ed25519", ED_A).status).toBe("match");
      expect(k.lookup("hashed", 2222, "ssh-ed25519", ED_B).status).toBe("match");
      expect(k.lookup("hashed", 22, "ssh-ed25519", ED_B).status).toBe("unknown");
    }
    expect(() => kh.add("a b", 22, "ssh-ed25519", ED_A)).toThrow(TypeError);
    expect(() => kh.add("a", 0, "ssh-ed25519", ED_A)).toThrow(TypeError);
    expect(() => kh.add("a", 22, "ssh-rsa", ED_A)).toThrow(TypeError);
    expect(() => kh.add("a", 22, "ssh-ed25519", ED_A, { hashed: true, salt: bytes(8) })).toThrow(
      TypeError,
    );
  });
});

const keygen = prereq(executable(KEYGEN));

describeWithPrereq(keygen, "KnownHosts against OpenSSH ssh-keygen", () => {
  let dir = "";
  const keys: { type: string; blob: Uint8Array; pub: string }[] = [];
  const run = (...args: string[]): string =>
    execFileSync(KEYGEN, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  beforeAll(() => {
    keygen.assert();
    dir = mkdtempSync(join(tmpdir(), "corridor-kh-"));
    for (const [t, bits] of [
      ["ed25519", []],
      ["ecdsa", ["-b", "256"]],
      ["rsa", ["-b", "2048"]],
    ] as const) {
      const file = join(dir, t);
      run("-q", "-t", t, ...bits, "-N", "", "-C", `test-${t}`, "-f", file);
      const pub = `${file}.pub`;
      const [type, b64] = readFileSync(pub, "utf8").trim().split(" ");
      const blob = decodeBase64(b64 ?? "");
      if (type === undefined || blob === undefined) throw new Error(`bad ${pub}`);
      keys.push({ type, blob, pub });
    }
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("fingerprintSha256 and keyTypeOf agree with ssh-keygen -lf -E sha256", () => {
    expect(keys.map((k) => k.type)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]);
    for (const k of keys) {
      const printed = run("-lf", k.pub, "-E", "sha256").split(" ")[1];
      expect(fingerprintSha256(k.blob)).toBe(printed);
      expect(keyTypeOf(k.blob)).toBe(k.type);
    }
  });

  it("ssh-keygen -F finds our hashed entries, for port 22 and [host]:2222", () => {
    const kh = KnownHosts.parse("");
    for (const k of keys) {
      kh.add("server.test", 22, k.type, k.blob, { hashed: true });
      kh.add("server.test", 2222, k.type, k.blob, { hashed: true });
    }
    const file = join(dir, "known_hosts_ours");
    writeFileSync(file, kh.toString());
    const found22 = run("-F", "server.test", "-f", file);
    expect(found22).toContain("found: line 1");
    expect(found22).toContain("found: line 3");
    expect(found22).toContain("found: line 5");
    expect(found22).not.toContain("found: line 2");
    const found2222 = run("-F", "[server.test]:2222", "-f", file);
    expect(found2222).toContain("found: line 2");
    expect(found2222).not.toContain("found: line 1");
    expect(() => run("-F", "other.test", "-f", file)).toThrow();
  });

  it("remove() drops the same lines as ssh-keygen -R (plain, hashed, [host]:port)", () => {
    const [ed, ec] = keys;
    const kh = KnownHosts.parse("# my hosts\n");
    kh.add("gone.example", 22, ed!.type, ed!.blob);
    kh.add("gone.example", 22, ec!.type, ec!.blob, { hashed: true });
    kh.add("gone.example", 2222, ed!.type, ed!.blob);
    kh.add("kept.example", 22, ed!.type, ed!.blob, { hashed: true });
    const file = join(dir, "known_hosts_remove");
    writeFileSync(file, kh.toString());
    run("-R", "gone.example", "-f", file);
    const theirs = readFileSync(file, "utf8");
    expect(kh.remove("gone.example", 22)).toBe(2);
    expect(kh.toString()).toBe(theirs);
    expect(kh.lookup("gone.example", 22, ed!.type, ed!.blob).status).toBe("unknown");
    expect(kh.lookup("gone.example", 2222, ed!.type, ed!.blob).status).toBe("match");
    expect(kh.lookup("kept.example", 22, ed!.type, ed!.blob).status).toBe("match");
    expect(kh.remove("nobody.example", 22)).toBe(0);
  });

  it("lookup() matches lines hashed by ssh-keygen -H", () => {
    const [ed, ec, rsa] = keys;
    if (ed === undefined || ec === undefined || rsa === undefined) throw new Error("no keys");
    const file = join(dir, "known_hosts_theirs");
    const plain = [
      line("alpha.test,192.0.2.7", ed.blob),
      line("[alpha.test]:2222", ec.blob),
      line("beta.test", rsa.blob),
    ].join("\n");
    writeFileSync(file, `${plain}\n`);
    run("-q", "-H", "-f", file);
    const hashed = readFileSync(file, "utf8");
    expect(hashed).not.toContain("alpha.test");
    const kh = KnownHosts.parse(hashed);
    expect(kh.warnings).toEqual([]);
    expect(hashed.split("\n").filter((l) => l.startsWith("|1|"))).toHaveLength(4);
    expect(kh.lookup("alpha.test", 22, ed.type, ed.blob).status).toBe("match");
    expect(kh.lookup("192.0.2.7", 22, ed.type, ed.blob).status).toBe("match");
    expect(kh.lookup("alpha.test", 2222, ec.type, ec.blob).status).toBe("match");
    expect(kh.lookup("alpha.test", 22, ec.type, ec.blob).status).toBe("other-type");
    expect(kh.lookup("beta.test", 22, "rsa-sha2-256", rsa.blob).status).toBe("match");
    expect(kh.lookup("beta.test", 22, ed.type, ed.blob).status).toBe("other-type");
    expect(kh.lookup("gamma.test", 22, ed.type, ed.blob).status).toBe("unknown");
    const changed = kh.lookup("alpha.test", 22, ed.type, ED_A);
    expect(changed.status).toBe("mismatch");
    expect(changed.known?.[0]?.fingerprint).toBe(fingerprintSha256(ed.blob));
    expect(kh.toString()).toBe(hashed);
  });
});

describe("KnownHosts fuzz", () => {
  it("10,000 seeded mutations of known_hosts texts parse without throwing", () => {
    const int = seededInts(0x4b_4e_0707);
    const noise = seededBytes(0x4b_4e_0708);
    const base = [
      "# comment",
      line("alpha,!beta,*.gamma,[delta]:2222", ED_A),
      `@revoked * ${keyTypeOf(ED_B)} ${encodeBase64(ED_B)}`,
      `@cert-authority *.ca ${keyTypeOf(EC_A)} ${encodeBase64(EC_A)} comment`,
      "|1|N05/H4kIIdbAXLVZ7BAoWC1CRJ4=|qQ2jpn3kMcUS1frZ/I0Yx0cD+/k= " +
        `${keyTypeOf(RSA_A)} ${encodeBase64(RSA_A)}`,
      "",
    ].join("\n");
    const alphabet = " \t\n\r,!*?|@[]:=#/+Aa1\u00e9\u0000";
    let parsed = 0;
    let warned = 0;
    for (let i = 0; i < 10_000; i++) {
      const chars = [...base];
      const edits = 1 + int(8);
      for (let e = 0; e < edits; e++) {
        const at = int(chars.length + 1);
        const op = int(4);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[int(alphabet.length)] ?? "x");
        else if (op === 2) chars.splice(at, int(20));
        else chars.splice(at, 0, String.fromCharCode(...noise(1 + int(6))));
      }
      const text = chars.join("");
      const kh = KnownHosts.parse(text);
      expect(kh.toString()).toBe(text);
      kh.lookup("alpha", 22, "ssh-ed25519", ED_A);
      kh.lookup("x.gamma", 2222, "ssh-rsa", RSA_A);
      parsed++;
      if (kh.warnings.length > 0) warned++;
    }
    console.log(`known_hosts fuzz: ${parsed} mutated texts parsed, ${warned} with warnings`);
    expect(parsed).toBe(10_000);
  });
});
