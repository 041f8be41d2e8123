// The relay's static X25519 key kept in a file, so that it survives a restart: clients pin it
// (`#key=` in a relay URL, docs/relay.md), and a relay that made a new key at each start would
// break every pin. `corridor relay --key-file FILE` and `corridor serve --data DIR` (the file
// DIR/relay.key) use it; the file is made on first use.

import { readFileSync } from "node:fs";
import { nodeX25519 } from "../server/crypto/x25519-node.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../worker/wireguard/keys.ts";
import { unprotectedFileWarning, writeFileAtomic } from "./files.ts";

/** The relay's key pair as read from (or written to) its key file. */
export interface RelayKeyFile {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** True when the file did not exist and was made now. */
  created: boolean;
  /** OpenSSH-style warning when others may read the file, else null. */
  warning: string | null;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}

function isAlreadyThere(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "EEXIST";
}

/** Reads the base64 private key in `file`; throws an Error naming the file and the problem. */
function readKey(file: string): Uint8Array {
  return keyFromBase64(readFileSync(file, "utf8"), file);
}

/**
 * The relay key in `file` (base64, as `wg genkey` writes it). A missing file gets a new key,
 * written atomically with mode 0600 and never over a file made meanwhile by another process
 * (then that one's key is used). Throws when the file cannot be read or holds no key: a relay
 * must not silently start with another key than the one its clients pinned.
 */
export async function loadOrCreateRelayKey(file: string): Promise<RelayKeyFile> {
  let privateKey: Uint8Array;
  let created = false;
  try {
    privateKey = readKey(file);
  } catch (error) {
    if (!isMissing(error)) throw error;
    const fresh = generatePrivateKey();
    try {
      writeFileAtomic(file, `${keyToBase64(fresh)}\n`, { mode: 0o600, exclusive: true });
      privateKey = fresh;
      created = true;
    } catch (writeError) {
      if (!isAlreadyThere(writeError)) {
        throw new Error(`${file}: cannot write the relay key: ${(writeError as Error).message}`);
      }
      fresh.fill(0);
      privateKey = readKey(file);
    }
  }
  return {
    privateKey,
    publicKey: await nodeX25519.publicKey(privateKey),
    created,
    warning: unprotectedFileWarning(file, "private key"),
  };
}
