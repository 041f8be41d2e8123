// The engine's API, SSH user keys: generated or imported keys the engine holds, optionally
// saved encrypted (part of EngineApi, re-exported by worker/api.ts).

/** An SSH user key held by the engine. */
export interface SshKeySummary {
  id: string;
  type: string;
  comment: string;
  fingerprint: string;
  /** The authorized_keys line to paste on hosts. */
  authorizedKey: string;
  persisted: boolean;
  /** Saved sealed under a passphrase (no plaintext private key in IndexedDB). */
  encrypted: boolean;
  /** Encrypted and not opened in the engine's memory yet (or locked again). */
  locked: boolean;
}

/** The SSH key calls of EngineApi. */
export interface SshKeysApi {
  listSshKeys(): Promise<SshKeySummary[]>;
  /** A new Ed25519 key; with a passphrase (8+ characters) a saved key is stored encrypted. */
  generateSshKey(comment: string, persist: boolean, passphrase?: string): Promise<SshKeySummary>;
  /**
   * Imports an OpenSSH private key file; throws a clear error (wrong passphrase, RSA…). A
   * key file's passphrase also protects the saved copy.
   */
  importSshKey(
    text: string,
    passphrase: string | undefined,
    persist: boolean,
  ): Promise<SshKeySummary>;
  removeSshKey(id: string): Promise<void>;
  /**
   * Sets (8+ characters), changes or with null removes the passphrase that encrypts a saved
   * key; a locked key needs `current`. Throws "wrong passphrase for the key …".
   */
  setSshKeyPassphrase(
    id: string,
    passphrase: string | null,
    current?: string,
  ): Promise<SshKeySummary>;
  /** Opens an encrypted key in the engine's memory; throws "wrong passphrase for the key …". */
  unlockSshKey(id: string, passphrase: string): Promise<SshKeySummary>;
  /** Forgets every opened encrypted key (they ask again); returns how many were locked. */
  lockSshKeys(): Promise<number>;
  /** The keys chosen for `username` at `host` on a network, or null when never chosen. */
  sshKeyChoice(networkId: string, host: string, username: string): Promise<string[] | null>;
}
