// SSH user keys held by the engine: generated in the browser or imported from an OpenSSH key
// file, kept (as openssh-key-v1 text) in IndexedDB or only for the tab, and handed to SSH
// sessions. The page sees fingerprints and authorized_keys lines, never private halves.

import type { SshKeySummary } from "../api.ts";
import { fingerprintSha256 } from "../ssh/fingerprint.ts";
import {
  exportOpensshPrivateKey,
  parseOpensshPrivateKey,
} from "../ssh/keys/openssh-private-key.ts";
import { authorizedKeysLine, generateUserKey, type UserKey } from "../ssh/keys/user-key.ts";
import { type EngineStore, MemoryStore } from "./store.ts";

interface SshKeyRecord {
  id: string;
  /** openssh-key-v1 text, unencrypted: the store is the browser's own. */
  privateKey: string;
  persisted: boolean;
}

function summary(record: SshKeyRecord, key: UserKey): SshKeySummary {
  return {
    id: record.id,
    type: key.type,
    comment: key.comment,
    fingerprint: fingerprintSha256(key.publicBlob),
    authorizedKey: authorizedKeysLine(key),
    persisted: record.persisted,
  };
}

/** The engine's SSH keys. */
export class SshKeyRing {
  private readonly tabOnly = new MemoryStore();
  private readonly parsed = new Map<string, UserKey>();

  constructor(private readonly store: EngineStore) {}

  private async records(): Promise<SshKeyRecord[]> {
    return [
      ...(await this.store.list<SshKeyRecord>("sshKeys")),
      ...(await this.tabOnly.list<SshKeyRecord>("sshKeys")),
    ];
  }

  private keyOf(record: SshKeyRecord): UserKey {
    let key = this.parsed.get(record.id);
    if (key === undefined) {
      key = parseOpensshPrivateKey(record.privateKey);
      this.parsed.set(record.id, key);
    }
    return key;
  }

  private async add(key: UserKey, persist: boolean): Promise<SshKeySummary> {
    const record: SshKeyRecord = {
      id: crypto.randomUUID(),
      privateKey: exportOpensshPrivateKey(key),
      persisted: persist && this.store.persistent,
    };
    await (record.persisted ? this.store : this.tabOnly).put("sshKeys", record);
    this.parsed.set(record.id, key);
    return summary(record, key);
  }

  async list(): Promise<SshKeySummary[]> {
    return (await this.records()).map((r) => summary(r, this.keyOf(r)));
  }

  /** A new ed25519 key made here. */
  async generate(comment: string, persist: boolean): Promise<SshKeySummary> {
    return await this.add(generateUserKey("ssh-ed25519", comment.trim() || "corridor"), persist);
  }

  /** An OpenSSH private key file; errors say what is wrong (passphrase, type). */
  async import(
    text: string,
    passphrase: string | undefined,
    persist: boolean,
  ): Promise<SshKeySummary> {
    return await this.add(
      parseOpensshPrivateKey(text, passphrase === "" ? undefined : passphrase),
      persist,
    );
  }

  async remove(id: string): Promise<void> {
    await this.store.delete("sshKeys", id);
    await this.tabOnly.delete("sshKeys", id);
    this.parsed.delete(id);
  }

  /** The keys to offer: those named, or all. */
  async userKeys(ids?: readonly string[]): Promise<UserKey[]> {
    const records = await this.records();
    return records.filter((r) => ids === undefined || ids.includes(r.id)).map((r) => this.keyOf(r));
  }
}
