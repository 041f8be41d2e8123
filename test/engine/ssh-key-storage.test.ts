// SSH keys at rest (issue 12, item 9), in Node on the engine's own code: a key saved with a
// passphrase leaves no private key bytes in the stored record (searched for raw, hex, base64
// and as the OpenSSH file's text); a new engine (a reload) lists it locked and opens it only
// with the passphrase; lock forgets it; keys saved before passphrases existed keep working;
// a record tampered with does not open. And which keys a host is offered (key-choice.ts).

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import type { EngineApi, SshKeySummary } from "../../worker/api.ts";
import { chosenKeys, MAX_KEY_CHOICES, rememberKeys } from "../../worker/engine/key-choice.ts";
import { SshKeyRing } from "../../worker/engine/ssh-keys.ts";
import type { EngineStore, StoreKind } from "../../worker/engine/store.ts";
import { createEngine } from "../../worker/engine.ts";
import { parseOpensshPrivateKey } from "../../worker/ssh/keys/openssh-private-key.ts";
import { userKeySecret } from "../../worker/ssh/keys/user-key.ts";
import { check, describeWithPrereq, onPath, prereq } from "../helpers/prereq.ts";

/** A store that survives "reloads" (new engines) and lets the test read the raw records. */
class DiskLikeStore implements EngineStore {
  readonly persistent = true;
  readonly records = new Map<StoreKind, Map<string, unknown>>();

  private kind(kind: StoreKind): Map<string, unknown> {
    const map = this.records.get(kind) ?? new Map<string, unknown>();
    this.records.set(kind, map);
    return map;
  }
  async list<T extends { id: string }>(kind: StoreKind): Promise<T[]> {
    return [...this.kind(kind).values()].map((v) => structuredClone(v) as T);
  }
  async put<T extends { id: string }>(kind: StoreKind, value: T): Promise<void> {
    this.kind(kind).set(value.id, structuredClone(value));
  }
  async delete(kind: StoreKind, id: string): Promise<void> {
    this.kind(kind).delete(id);
  }
  /** Every string in every record, as stored. */
  dump(): string {
    return JSON.stringify([...this.records.values()].map((m) => [...m.values()]));
  }
  raw(id: string): { id: string } & Record<string, unknown> {
    return this.kind("sshKeys").get(id) as { id: string } & Record<string, unknown>;
  }
}

const newEngine = (store: EngineStore): EngineApi =>
  createEngine({
    store,
    connect: nodeRelayConnect(),
    x25519: nodeX25519,
    defaultRelayUrl: "ws://127.0.0.1:1/relay",
  });

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** Asserts `dump` holds none of the ways a private key could be written down. */
function expectNoSecret(dump: string, secret: Uint8Array, fileText: string): void {
  const body = fileText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  expect(dump).not.toContain("PRIVATE KEY");
  expect(dump).not.toContain(body.slice(0, 60));
  expect(dump).not.toContain(hex(secret));
  expect(dump).not.toContain(b64(secret).replace(/=+$/, ""));
  expect(dump).not.toContain(b64(secret.subarray(1, 31)).replace(/=+$/, ""));
  // Raw bytes inside any base64 field (the ciphertext included) must not be the secret either.
  for (const field of dump.match(/[A-Za-z0-9+/]{20,}={0,2}/g) ?? []) {
    expect(hex(Buffer.from(field, "base64"))).not.toContain(hex(secret));
  }
}

const sshKeygen = prereq(check("ssh-keygen", onPath("ssh-keygen").ok));

describeWithPrereq(sshKeygen, "SSH keys saved with a passphrase", () => {
  let dir = "";
  let plainFile = "";
  let secret: Uint8Array;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "corridor-keyseal-"));
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "laptop",
      "-f",
      join(dir, "plain"),
    ]);
    plainFile = readFileSync(join(dir, "plain"), "utf8");
    secret = userKeySecret(parseOpensshPrivateKey(plainFile))!.secret.slice();
    expect(secret.length).toBe(32);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stores no private key bytes once a passphrase is set, and a reload finds the key locked", async () => {
    const store = new DiskLikeStore();
    const engine = newEngine(store);
    const key = await engine.importSshKey(plainFile, undefined, true);
    expect(key).toMatchObject({ persisted: true, encrypted: false, locked: false });
    // Before: the saved record is the key file itself (what issue 12 found).
    expect(store.dump()).toContain("BEGIN OPENSSH PRIVATE KEY");

    await expect(engine.setSshKeyPassphrase(key.id, "short")).rejects.toThrow(
      "a passphrase needs at least 8 characters",
    );
    const sealed = await engine.setSshKeyPassphrase(key.id, "correct horse battery");
    expect(sealed).toMatchObject({ encrypted: true, locked: false, fingerprint: key.fingerprint });
    expectNoSecret(store.dump(), secret, plainFile);
    expect(Object.keys(store.raw(key.id)).sort()).toEqual([
      "id",
      "persisted",
      "publicKey",
      "sealed",
    ]);

    const reloaded = newEngine(store);
    const [listed] = await reloaded.listSshKeys();
    expect(listed).toEqual({ ...key, encrypted: true, locked: true });
    await expect(reloaded.unlockSshKey(key.id, "Correct horse battery")).rejects.toThrow(
      "wrong passphrase for the key laptop",
    );
    expect((await reloaded.listSshKeys())[0]!.locked).toBe(true);
    expect((await reloaded.unlockSshKey(key.id, "correct horse battery")).locked).toBe(false);
    expect(await reloaded.lockSshKeys()).toBe(1);
    expect((await reloaded.listSshKeys())[0]!.locked).toBe(true);
    expect(await reloaded.lockSshKeys()).toBe(0);

    // Changing it needs the current passphrase while locked; removing it writes the key
    // back in the clear (the person's choice).
    await expect(reloaded.setSshKeyPassphrase(key.id, "another long one")).rejects.toThrow(
      "the key is locked: enter its current passphrase",
    );
    await expect(reloaded.setSshKeyPassphrase(key.id, null, "not the passphrase")).rejects.toThrow(
      "wrong passphrase for the key laptop",
    );
    const cleared = await reloaded.setSshKeyPassphrase(key.id, null, "correct horse battery");
    expect(cleared).toMatchObject({ encrypted: false, locked: false });
    expect(store.dump()).toContain("BEGIN OPENSSH PRIVATE KEY");
  }, 60_000);

  it("generates a key straight into a sealed record, and an imported key keeps its file's passphrase", async () => {
    const store = new DiskLikeStore();
    const engine = newEngine(store);
    const made = await engine.generateSshKey("fresh", true, "a long passphrase");
    expect(made).toMatchObject({ encrypted: true, locked: false, comment: "fresh" });
    expect(store.dump()).not.toContain("PRIVATE KEY");

    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "file pass",
      "-C",
      "work",
      "-f",
      join(dir, "locked"),
    ]);
    const fileText = readFileSync(join(dir, "locked"), "utf8");
    const fileSecret = userKeySecret(parseOpensshPrivateKey(fileText, "file pass"))!.secret;
    const imported = await engine.importSshKey(fileText, "file pass", true);
    expect(imported).toMatchObject({ encrypted: true, locked: false, comment: "work" });
    expectNoSecret(store.dump(), fileSecret, fileText);
    const reloaded = newEngine(store);
    await expect(reloaded.unlockSshKey(imported.id, "file pass")).resolves.toMatchObject({
      locked: false,
    });

    // Kept in memory only: never stored, so no passphrase to set.
    const tabOnly = await engine.generateSshKey("tab", false);
    await expect(engine.setSshKeyPassphrase(tabOnly.id, "a long passphrase")).rejects.toThrow(
      "a key kept in memory only (not saved) is never written to storage: it needs no passphrase",
    );
    expect(store.dump()).not.toContain(tabOnly.id);
  }, 60_000);

  it("keeps a key saved before passphrases existed working, and refuses a tampered record", async () => {
    const store = new DiskLikeStore();
    // The record format of the previous release: the file text, no public key field.
    await store.put("sshKeys", { id: "old-1", privateKey: plainFile, persisted: true });
    const ring = new SshKeyRing(store);
    const [old] = await ring.list();
    expect(old).toMatchObject({ id: "old-1", comment: "laptop", encrypted: false, locked: false });
    const [offered] = await ring.keysFor(["old-1"]);
    expect(hex(userKeySecret(offered!)!.secret)).toBe(hex(secret));

    await ring.setPassphrase("old-1", "correct horse battery");
    const sealedRecord = store.raw("old-1");
    expect(sealedRecord.privateKey).toBeUndefined();

    // The seal is bound to its record: another key's public line makes it fail to open.
    const other = readFileSync(join(dir, "locked.pub"), "utf8").trim();
    await store.put("sshKeys", { ...sealedRecord, publicKey: other });
    await expect(new SshKeyRing(store).unlock("old-1", "correct horse battery")).rejects.toThrow(
      /^wrong passphrase for the key/,
    );
    // A damaged iteration count is refused before any work is done (no hang).
    const sealed = sealedRecord.sealed as Record<string, unknown>;
    await store.put("sshKeys", { ...sealedRecord, sealed: { ...sealed, iterations: 1e12 } });
    await expect(new SshKeyRing(store).unlock("old-1", "correct horse battery")).rejects.toThrow(
      "sealed key: iteration count 1000000000000 out of bounds",
    );
    await store.put("sshKeys", { ...sealedRecord, sealed: { ...sealed, iv: "%%%" } });
    await expect(new SshKeyRing(store).unlock("old-1", "correct horse battery")).rejects.toThrow(
      "sealed key: iv is not base64",
    );
  }, 60_000);

  it("asks a session's passphrase for locked chosen keys only, three tries, and skips on cancel", async () => {
    const store = new DiskLikeStore();
    const first = new SshKeyRing(store);
    const a = await first.import(plainFile, undefined, true);
    await first.setPassphrase(a.id, "correct horse battery");
    const b = await first.generate("plain-b", true);

    const ring = new SshKeyRing(store);
    const asked: [string, number][] = [];
    const answers = ["nope", "still nope", "correct horse battery"];
    const keys = await ring.keysFor(
      [a.id, b.id, "removed-key"],
      async (key: SshKeySummary, attempt) => {
        asked.push([key.comment, attempt]);
        return answers[attempt - 1] ?? null;
      },
    );
    expect(asked).toEqual([
      ["laptop", 1],
      ["laptop", 2],
      ["laptop", 3],
    ]);
    expect(keys.map((k) => k.comment)).toEqual(["laptop", "plain-b"]);
    // Opened for the Worker's life: the next session does not ask.
    expect(await ring.keysFor([a.id], async () => "never asked")).toHaveLength(1);

    await ring.lock();
    let cancelAsked = 0;
    const skipped = await ring.keysFor([a.id, b.id], async () => {
      cancelAsked++;
      return null;
    });
    expect(cancelAsked).toBe(1);
    expect(skipped.map((k) => k.comment)).toEqual(["plain-b"]);
    expect(await ring.keysFor([])).toEqual([]);
    await expect(ring.keysFor(Array.from({ length: 17 }, (_, i) => `k${i}`))).rejects.toThrow(
      "choose at most 16 keys for one host",
    );
  }, 60_000);
});

describe("which keys a host is offered", () => {
  it("is null until chosen, per user and host, with IPv6 spellings alike", () => {
    const record = {};
    expect(chosenKeys(record, "100.64.0.2", "root")).toBeNull();
    rememberKeys(record, "fd00:0:0::1", "root", ["k1"]);
    expect(chosenKeys(record, "fd00::1", "root")).toEqual(["k1"]);
    expect(chosenKeys(record, "FD00::0001", "root")).toEqual(["k1"]);
    expect(chosenKeys(record, "fd00::1", "admin")).toBeNull();
    rememberKeys(record, "fd00::1", "root", []);
    expect(chosenKeys(record, "fd00::1", "root")).toEqual([]);
  });

  it("keeps at most MAX_KEY_CHOICES entries, dropping the oldest", () => {
    const record: { keyChoices?: Record<string, string[]> } = {};
    for (let i = 0; i <= MAX_KEY_CHOICES; i++)
      rememberKeys(record, `10.0.${i >> 8}.${i & 255}`, "u", ["k"]);
    expect(Object.keys(record.keyChoices!)).toHaveLength(MAX_KEY_CHOICES);
    expect(chosenKeys(record, "10.0.0.0", "u")).toBeNull();
    expect(
      chosenKeys(record, `10.0.${MAX_KEY_CHOICES >> 8}.${MAX_KEY_CHOICES & 255}`, "u"),
    ).toEqual(["k"]);
  });

  it("ignores a stored choice that is not a list", () => {
    expect(
      chosenKeys({ keyChoices: { "u@10.0.0.1": "k" as unknown as string[] } }, "10.0.0.1", "u"),
    ).toBeNull();
  });
});
