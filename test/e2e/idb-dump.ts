// Reading what the engine stored in the page's IndexedDB (database "corridor", one object
// store per kind), from the page's own origin as any script there could; and the ways a
// private key could appear in such a dump, to assert it does not.

import type { Page } from "playwright-core";
import { parseOpensshPrivateKey } from "../../worker/ssh/keys/openssh-private-key.ts";
import { userKeySecret } from "../../worker/ssh/keys/user-key.ts";

/** Every record of every store of the engine's database. */
export interface CorridorDb {
  networks: Record<string, unknown>[];
  sshKeys: Record<string, unknown>[];
}

/**
 * The engine's database as stored. Call it only once the engine has opened the database
 * (engine ready): opening it first would create it without its stores.
 */
export async function readCorridorDb(page: Page): Promise<CorridorDb> {
  return await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open("corridor");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const all = (kind: string) =>
      new Promise<Record<string, unknown>[]>((resolve, reject) => {
        if (!db.objectStoreNames.contains(kind)) {
          resolve([]);
          return;
        }
        const request = db.transaction(kind, "readonly").objectStore(kind).getAll();
        request.onsuccess = () => resolve(request.result as Record<string, unknown>[]);
        request.onerror = () => reject(request.error);
      });
    try {
      return { networks: await all("networks"), sshKeys: await all("sshKeys") };
    } finally {
      db.close();
    }
  });
}

/**
 * Strings that would betray an OpenSSH private key file's secret in a JSON dump: the end of
 * the file's base64 body, and the secret scalar/seed in hex and base64 (whole, and shifted by a byte so
 * a different base64 alignment is caught too).
 */
export function secretTraces(opensshText: string): string[] {
  const secret = userKeySecret(parseOpensshPrivateKey(opensshText))!.secret;
  const body = opensshText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64").replace(/=+$/, "");
  // The body's start is the same for every unencrypted key of a type; its end holds the
  // private section (secret, then the comment).
  return [
    body.slice(-80, -16),
    Buffer.from(secret).toString("hex"),
    b64(secret),
    b64(secret.subarray(1)).slice(0, 40),
    b64(secret.subarray(2)).slice(0, 40),
  ];
}
