// SSH user keys held by the engine: generated in the browser or imported from an OpenSSH key
// file, kept in IndexedDB or only for the tab, and handed to SSH sessions. The page sees
// fingerprints and authorized_keys lines, never private halves.
//
// A saved key is stored either as openssh-key-v1 text (no passphrase: the origin's IndexedDB
// is all that guards it) or sealed under the user's passphrase (key-seal.ts). A sealed key is
// opened in this Worker's memory when a session first needs it, and forgotten by lock().
// Keys kept only for the tab never reach the store, so they need no passphrase.

import type { SshKeySummary } from "../api.ts";
import { fingerprintSha256 } from "../ssh/fingerprint.ts";
import {
  exportOpensshPrivateKey,
  parseOpensshPrivateKey,
} from "../ssh/keys/openssh-private-key.ts";
import { parsePublicKeyLine } from "../ssh/keys/public-key.ts";
import { authorizedKeysLine, generateUserKey, type UserKey } from "../ssh/keys/user-key.ts";
import { MAX_KEYS_PER_CHOICE } from "./key-choice.ts";
import {
  checkNewPassphrase,
  openSealedText,
  type SealedKey,
  sealText,
  WrongPassphraseError,
} from "./key-seal.ts";
import { type EngineStore, MemoryStore } from "./store.ts";

/** A key as stored: exactly one of privateKey and sealed is present. */
interface SshKeyRecord {
  id: string;
  /** openssh-key-v1 text, unencrypted (no passphrase set). */
  privateKey?: string;
  /** The openssh-key-v1 text sealed under the user's passphrase. */
  sealed?: SealedKey;
  /** The authorized_keys line: lets a sealed key be listed without its passphrase. */
  publicKey?: string;
  persisted: boolean;
}

/** Asks the person for the passphrase of a sealed key; null skips the key. */
export type AskKeyPassphrase = (key: SshKeySummary, attempt: number) => Promise<string | null>;

/** Passphrase attempts per key and session before the key is skipped. */
const MAX_PASSPHRASE_ATTEMPTS = 3;

/** The engine's SSH keys. */
export class SshKeyRing {
  private readonly tabOnly = new MemoryStore();
  /** Keys open in memory: every plain record once used, sealed ones once unlocked. */
  private readonly parsed = new Map<string, UserKey>();

  constructor(private readonly store: EngineStore) {}

  private async records(): Promise<SshKeyRecord[]> {
    return [
      ...(await this.store.list<SshKeyRecord>("sshKeys")),
      ...(await this.tabOnly.list<SshKeyRecord>("sshKeys")),
    ];
  }

  private async record(id: string): Promise<SshKeyRecord> {
    const found = (await this.records()).find((r) => r.id === id);
    if (found === undefined) throw new Error(`no SSH key with id ${id}`);
    return found;
  }

  /** The open key, parsing a plain record on first use; undefined for a locked sealed one. */
  private openKey(record: SshKeyRecord): UserKey | undefined {
    let key = this.parsed.get(record.id);
    if (key === undefined && record.privateKey !== undefined) {
      key = parseOpensshPrivateKey(record.privateKey);
      this.parsed.set(record.id, key);
    }
    return key;
  }

  private summary(record: SshKeyRecord): SshKeySummary {
    const open = this.openKey(record);
    const line = open ? authorizedKeysLine(open) : (record.publicKey ?? "");
    const { blob, comment } = parsePublicKeyLine(line);
    return {
      id: record.id,
      type: line.split(" ")[0] ?? "",
      comment,
      fingerprint: fingerprintSha256(blob),
      authorizedKey: line,
      persisted: record.persisted,
      encrypted: record.sealed !== undefined,
      locked: record.sealed !== undefined && open === undefined,
    };
  }

  /** Writes `key` as a plain or (with a passphrase) sealed record. */
  private async write(
    id: string,
    key: UserKey,
    persisted: boolean,
    passphrase: string | undefined,
  ): Promise<SshKeyRecord> {
    const publicKey = authorizedKeysLine(key);
    const text = exportOpensshPrivateKey(key);
    const record: SshKeyRecord =
      passphrase === undefined || !persisted
        ? { id, privateKey: text, publicKey, persisted }
        : {
            id,
            sealed: await sealText(text, passphrase, sealContext(id, publicKey)),
            publicKey,
            persisted,
          };
    await (persisted ? this.store : this.tabOnly).put("sshKeys", record);
    this.parsed.set(id, key);
    return record;
  }

  async list(): Promise<SshKeySummary[]> {
    return (await this.records()).map((r) => this.summary(r));
  }

  /** A new ed25519 key made here; with a passphrase a saved key is sealed under it. */
  async generate(comment: string, persist: boolean, passphrase?: string): Promise<SshKeySummary> {
    if (passphrase !== undefined) checkNewPassphrase(passphrase);
    const key = generateUserKey("ssh-ed25519", comment.trim() || "corridor");
    const persisted = persist && this.store.persistent;
    return this.summary(await this.write(crypto.randomUUID(), key, persisted, passphrase));
  }

  /**
   * An OpenSSH private key file; errors say what is wrong (passphrase, type). With a
   * passphrase (the file's own), a saved key is sealed under that same passphrase.
   */
  async import(
    text: string,
    passphrase: string | undefined,
    persist: boolean,
  ): Promise<SshKeySummary> {
    const given = passphrase === "" ? undefined : passphrase;
    const key = parseOpensshPrivateKey(text, given);
    const persisted = persist && this.store.persistent;
    return this.summary(await this.write(crypto.randomUUID(), key, persisted, given));
  }

  async remove(id: string): Promise<void> {
    await this.store.delete("sshKeys", id);
    await this.tabOnly.delete("sshKeys", id);
    this.parsed.delete(id);
  }

  /**
   * Sets, changes or (with null) removes the passphrase of a saved key. A locked key is
   * opened with `current` first.
   */
  async setPassphrase(
    id: string,
    passphrase: string | null,
    current?: string,
  ): Promise<SshKeySummary> {
    const record = await this.record(id);
    if (!record.persisted) {
      throw new Error(
        "a key kept in memory only (not saved) is never written to storage: it needs no passphrase",
      );
    }
    if (passphrase !== null) checkNewPassphrase(passphrase);
    let key = this.openKey(record);
    if (key === undefined) {
      if (current === undefined || current === "") {
        throw new Error("the key is locked: enter its current passphrase");
      }
      key = await this.unsealed(record, current);
    }
    return this.summary(await this.write(id, key, true, passphrase ?? undefined));
  }

  /** Opens a sealed key in memory for this Worker's life (or until lock()). */
  async unlock(id: string, passphrase: string): Promise<SshKeySummary> {
    const record = await this.record(id);
    if (this.openKey(record) === undefined) {
      this.parsed.set(id, await this.unsealed(record, passphrase));
    }
    return this.summary(record);
  }

  /** Forgets every opened sealed key; returns how many were locked. */
  async lock(): Promise<number> {
    let locked = 0;
    for (const record of await this.records()) {
      if (record.sealed !== undefined && this.parsed.delete(record.id)) locked++;
    }
    return locked;
  }

  private async unsealed(record: SshKeyRecord, passphrase: string): Promise<UserKey> {
    if (record.sealed === undefined) throw new Error(`SSH key ${record.id} has no passphrase`);
    const publicKey = record.publicKey ?? "";
    let text: string;
    try {
      text = await openSealedText(record.sealed, passphrase, sealContext(record.id, publicKey));
    } catch (error) {
      if (error instanceof WrongPassphraseError) {
        throw new WrongPassphraseError(
          `wrong passphrase for the key ${this.summary(record).comment || record.id}`,
        );
      }
      throw error;
    }
    const key = parseOpensshPrivateKey(text);
    if (authorizedKeysLine(key) !== publicKey) {
      throw new Error(`SSH key ${record.id}: the sealed key does not match its public key`);
    }
    return key;
  }

  /**
   * The keys to offer a session, in the order of `ids` (unknown ids are skipped). A locked
   * key is opened with a passphrase from `ask` (three tries); without an answer it is skipped.
   */
  async keysFor(ids: readonly string[], ask?: AskKeyPassphrase): Promise<UserKey[]> {
    if (ids.length > MAX_KEYS_PER_CHOICE) {
      throw new Error(`choose at most ${MAX_KEYS_PER_CHOICE} keys for one host`);
    }
    const records = await this.records();
    const keys: UserKey[] = [];
    for (const id of ids) {
      const record = records.find((r) => r.id === id);
      if (record === undefined) continue;
      let key = this.openKey(record);
      for (
        let attempt = 1;
        key === undefined && ask && attempt <= MAX_PASSPHRASE_ATTEMPTS;
        attempt++
      ) {
        const passphrase = await ask(this.summary(record), attempt);
        if (passphrase === null) break;
        try {
          key = await this.unsealed(record, passphrase);
          this.parsed.set(id, key);
        } catch (error) {
          if (!(error instanceof WrongPassphraseError)) throw error;
        }
      }
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }

  /** The ids of every key held (saved and tab-only). */
  async ids(): Promise<string[]> {
    return (await this.records()).map((r) => r.id);
  }
}

/** Associated data of a seal: the record it belongs to. */
function sealContext(id: string, publicKey: string): string {
  return `corridor ssh key v1\n${id}\n${publicKey}`;
}
