// Reusable auth keys read in the last two seconds, for registration storms: a fleet that boots
// with one key (an autoscaling group, a rollout) registers hundreds of nodes a second, and each
// registration would otherwise read the same key row again, a database round trip inside its
// transaction. A cached record is safe because what can change about a key is checked again
// where it counts: a revocation, or the one use of a one-off key (never cached), fails the
// registration's COMMIT (StoreTx.useAuthKeyAtCommit), and the registrar then reads the key
// fresh for its refusal and forgets the cached one. Expiry is a field of the record and does not
// change; keys are revoked, never deleted.

import type { AuthKeyRecord, StoreTx } from "../store/types.ts";

/** How long a read key is reused: 2 s. */
export const RECENT_KEY_TTL_MS = 2000;

/** Reusable, unrevoked auth key records by hash, each for RECENT_KEY_TTL_MS. */
export class RecentAuthKeys {
  private readonly byHash = new Map<string, { record: AuthKeyRecord; at: number }>();

  constructor(
    private readonly ttlMs = RECENT_KEY_TTL_MS,
    private readonly max = 1024,
  ) {}

  /** `tx`'s key lookup, answered from the recent reads when one is fresh. */
  through(tx: Pick<StoreTx, "authKeyByHash">, now: number): Pick<StoreTx, "authKeyByHash"> {
    return {
      authKeyByHash: async (hash) => {
        const hit = this.byHash.get(hash);
        if (hit !== undefined && now - hit.at < this.ttlMs && hit.at <= now) {
          return { ...hit.record, tags: [...hit.record.tags] };
        }
        const record = await tx.authKeyByHash(hash);
        if (record?.reusable && record.revokedAt === null) {
          if (this.byHash.size >= this.max) this.byHash.clear();
          this.byHash.set(hash, { record, at: now });
        } else {
          this.byHash.delete(hash);
        }
        return record;
      },
    };
  }

  /** The key was refused at its use: the next registration reads it again. */
  forget(hash: string): void {
    this.byHash.delete(hash);
  }
}
