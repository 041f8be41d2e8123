// cli/files.ts: atomic writes (temp file in the same directory, fsync, rename or link) and the
// "readable by others" warning for private keys and wg-quick configs.

import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unprotectedFileWarning, writeFileAtomic } from "../../cli/files.ts";

describe("writeFileAtomic", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-files-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates a new file 0600 by default, with no temporary file left", () => {
    const file = join(dir, "known_hosts");
    writeFileAtomic(file, "alpha ssh-ed25519 AAAA\n");
    expect(readFileSync(file, "utf8")).toBe("alpha ssh-ed25519 AAAA\n");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["known_hosts"]);
  });

  it("replaces by rename (a new inode, never the old one truncated) and keeps the old mode", () => {
    const file = join(dir, "replace");
    writeFileSync(file, "old contents that are longer than the new ones\n");
    chmodSync(file, 0o640);
    const before = statSync(file).ino;
    writeFileAtomic(file, new TextEncoder().encode("new\n"));
    expect(readFileSync(file, "utf8")).toBe("new\n");
    expect(statSync(file).ino).not.toBe(before);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    writeFileAtomic(file, "newer\n", { mode: 0o644 });
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it("exclusive: refuses an existing file with EEXIST, leaving it and no temporary file", () => {
    const sub = join(dir, "exclusive");
    mkdirSync(sub);
    const file = join(sub, "id_ed25519");
    writeFileAtomic(file, "first\n", { exclusive: true });
    expect(() => writeFileAtomic(file, "second\n", { exclusive: true })).toThrow(
      expect.objectContaining({ code: "EEXIST" }),
    );
    expect(readFileSync(file, "utf8")).toBe("first\n");
    expect(readdirSync(sub)).toEqual(["id_ed25519"]);
  });

  it("a rename that fails removes its temporary file and leaves the target alone", () => {
    const sub = join(dir, "failing");
    mkdirSync(sub);
    // The target is a non-empty directory: the temporary file is written, the rename fails.
    const target = join(sub, "known_hosts");
    mkdirSync(target);
    writeFileSync(join(target, "inside"), "kept\n");
    expect(() => writeFileAtomic(target, "y\n")).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(sub)).toEqual(["known_hosts"]);
    expect(readFileSync(join(target, "inside"), "utf8")).toBe("kept\n");
  });

  it("replaces a symbolic link with the file, as ssh-keygen -R does", () => {
    const target = join(dir, "link-target");
    const link = join(dir, "link");
    writeFileSync(target, "target\n");
    symlinkSync(target, link);
    writeFileAtomic(link, "via link\n");
    expect(readFileSync(target, "utf8")).toBe("target\n");
    expect(readFileSync(link, "utf8")).toBe("via link\n");
  });
});

describe("unprotectedFileWarning", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-perm-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is silent for 0600 and 0400, a directory and a missing file", () => {
    const file = join(dir, "id_ed25519");
    writeFileSync(file, "secret");
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(file, mode);
      expect(unprotectedFileWarning(file, "private key")).toBeNull();
    }
    expect(unprotectedFileWarning(dir, "private key")).toBeNull();
    expect(unprotectedFileWarning(join(dir, "none"), "WireGuard config")).toBeNull();
  });

  it("warns for any group or other bit, naming the mode, the file and the fix", () => {
    const file = join(dir, "wg0.conf");
    writeFileSync(file, "[Interface]\n");
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o601, 0o660]) {
      chmodSync(file, mode);
      const octal = mode.toString(8).padStart(4, "0");
      expect(unprotectedFileWarning(file, "WireGuard config")).toBe(
        [
          "WARNING: UNPROTECTED WIREGUARD CONFIG!",
          `Permissions ${octal} for '${file}' are too open: other users of this machine can read the private key in this WireGuard config.`,
          `Protect it with: chmod 600 '${file}'`,
        ].join("\n"),
      );
    }
    chmodSync(file, 0o644);
    expect(unprotectedFileWarning(file, "private key")).toMatch(
      /^WARNING: UNPROTECTED PRIVATE KEY FILE!\nPermissions 0644 for '.*' are too open: other users of this machine can read the private key\./,
    );
  });
});
