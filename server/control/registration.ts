// Who a proven node key is (docs/control.md, "Registration"). After the hello proof, a login
// is one of: a known node (its key must not have expired); a rotation (`rotateFrom`, both keys
// proven: the node keeps its id, name and addresses); a new agent with an auth key (one-off or
// reusable, ephemeral or not, tags); a new browser node through the upgrade's session cookie
// (always ephemeral); or a new agent with neither, which waits for a person's approval.
// Registration writes the node, the auth key's use and the allocated name and addresses in one
// transaction: all of it, or nothing. The auth key's use is its last statement, sent with the
// COMMIT (store: useAuthKeyAtCommit), so concurrent registrations with one key queue on the
// key's row only while the database commits.

import type { IncomingMessage } from "node:http";
import type { LoginMessage } from "../../worker/control/messages.ts";
import { checkAuthKey } from "./auth/authkeys.ts";
import { RecentAuthKeys } from "./auth/recent-keys.ts";
import { hashSecret } from "./auth/secrets.ts";
import type { SessionUser } from "./auth/sessions.ts";
import { hostFields } from "./host-fields.ts";
import type { CompiledPolicy } from "./policy/types.ts";
import { createNodeAllocated, type NodeToAllocate } from "./store/allocate.ts";
import {
  type NodeRecord,
  type Store,
  StoreConflictError,
  type StoreTx,
  type UserRecord,
} from "./store/types.ts";

/** Node keys of user nodes expire after 180 days unless rotated; tagged nodes' never do. */
export const USER_KEY_EXPIRY_MS = 180 * 24 * 60 * 60 * 1000;

/** What a login comes to. */
export type LoginOutcome =
  | {
      kind: "node";
      node: NodeRecord;
      /** Created or updated: the mapper must hear of it. */
      changed: boolean;
      via: "known" | "rotated" | "registered";
    }
  | { kind: "refused"; code: string; message: string }
  | { kind: "approval" };

/** What registration needs. */
export interface RegistrarOptions {
  store: Store;
  /** The mesh's IPv6 /48 (MeshSettings.ipv6Prefix). */
  ipv6Prefix: string;
  /** The policy in force (tag permissions). */
  policy: () => CompiledPolicy;
  /** The user signed in through the upgrade's session cookie (auth/sessions.ts). */
  sessionUser?: SessionUser;
  now: () => number;
  /** Key lifetime of user nodes (default 180 days). */
  userKeyExpiryMs?: number;
}

const refused = (code: string, message: string): LoginOutcome => ({
  kind: "refused",
  code,
  message,
});

/** Resolves logins to nodes, registering new ones. */
export class Registrar {
  private readonly recentKeys = new RecentAuthKeys();

  constructor(private readonly options: RegistrarOptions) {}

  /**
   * The outcome of a login whose proofs (nodeKey, and rotateFrom's) were checked. `unknown`:
   * the caller's map does not hold the key (the hub's view), so a login with an auth key most
   * likely registers and goes straight to its transaction, without a lookup first; a node that
   * exists after all (registered through another server a moment ago) fails the insert on its
   * key and is then looked up, and an auth key refusal is checked against the nodes first.
   */
  async login(
    login: LoginMessage,
    req: IncomingMessage,
    hint: { unknown?: boolean } = {},
  ): Promise<LoginOutcome> {
    try {
      if (hint.unknown === true && login.rotateFrom === undefined && login.authKey !== undefined) {
        const outcome = await this.withAuthKey(login, login.authKey, this.options.now());
        if (outcome.kind !== "refused") return outcome;
        // A node known after all logs in whatever its auth key says now (used, expired).
        if ((await this.options.store.nodeByKey(login.nodeKey)) === null) return outcome;
      }
      return await this.resolve(login, req);
    } catch (error) {
      // Two streams of one new key registered at once: the other won, so this one is known now.
      if (!(error instanceof StoreConflictError) || error.field !== "nodeKey") throw error;
      return this.resolve(login, req);
    }
  }

  private async resolve(login: LoginMessage, req: IncomingMessage): Promise<LoginOutcome> {
    const { store } = this.options;
    const now = this.options.now();
    if (login.rotateFrom !== undefined) return this.rotate(login, now);
    const known = await store.nodeByKey(login.nodeKey);
    if (known !== null) {
      if (known.keyExpiry !== null && known.keyExpiry <= now) {
        return refused(
          "key_expired",
          `this node's key expired at ${new Date(known.keyExpiry).toISOString()}: rotate it or register again`,
        );
      }
      return { kind: "node", via: "known", ...(await this.refreshHostinfo(known, login)) };
    }
    if (login.authKey !== undefined) return this.withAuthKey(login, login.authKey, now);
    const user = this.options.sessionUser ? await this.options.sessionUser(req) : null;
    if (user !== null) return this.forSession(login, user, now);
    return { kind: "approval" };
  }

  /**
   * Registers an agent a person approved, for `userId` or with `tags` (which that user must be
   * allowed to use). Throws a sentence when it cannot.
   */
  async approve(login: LoginMessage, userId: number, tags: string[] = []): Promise<NodeRecord> {
    const policy = this.options.policy();
    const denied = tags.filter((tag) => !policy.mayUseTag(userId, tag));
    if (denied.length > 0) throw new Error(`you may not put ${denied.join(", ")} on nodes`);
    const now = this.options.now();
    try {
      return await this.options.store.transaction(async (tx) => {
        const user = await tx.userById(userId);
        if (user === null) throw new Error(`user ${userId} does not exist`);
        return this.create(tx, login, { userId, tags, ephemeral: login.ephemeral === true, now });
      });
    } catch (error) {
      if (error instanceof StoreConflictError && error.field === "nodeKey") {
        throw new Error("this node key is registered already");
      }
      throw error;
    }
  }

  private async rotate(login: LoginMessage, now: number): Promise<LoginOutcome> {
    const from = login.rotateFrom!;
    return this.options.store.transaction(async (tx) => {
      const old = await tx.nodeByKey(from.nodeKey);
      if (old === null) return refused("unknown_node", "the key to rotate from is not registered");
      if (old.keyExpiry !== null && old.keyExpiry <= now) {
        return refused("key_expired", "the key to rotate from has expired: register again");
      }
      if ((await tx.nodeByKey(login.nodeKey)) !== null) {
        return refused("key_in_use", "the new key is registered already");
      }
      // A share node (no user, no tags) keeps its expiry: it is the backstop that ends it with
      // its share, and rotating must not turn it into a key that never expires.
      const keyExpiry =
        old.shareAcceptanceId !== null
          ? old.keyExpiry
          : old.userId === null
            ? null
            : now + this.keyLife();
      await tx.updateNode(old.id, { nodeKey: login.nodeKey, keyExpiry });
      const node = { ...old, nodeKey: login.nodeKey, keyExpiry };
      return {
        kind: "node",
        via: "rotated",
        node: (await this.refreshHostinfo(node, login, tx)).node,
        changed: true,
      };
    });
  }

  private async withAuthKey(login: LoginMessage, key: string, now: number): Promise<LoginOutcome> {
    try {
      return await this.options.store.transaction(async (tx): Promise<LoginOutcome> => {
        const check = await checkAuthKey(this.recentKeys.through(tx, now), key, now);
        if (!check.ok) return refused(check.code, check.message);
        const record = check.key;
        const asked = login.tags ?? [];
        let tags = record.tags;
        if (record.tags.length > 0) {
          const extra = asked.filter((tag) => !record.tags.includes(tag));
          if (extra.length > 0) {
            return refused("tags_not_allowed", `the auth key does not allow ${extra.join(", ")}`);
          }
        } else if (asked.length > 0) {
          const policy = this.options.policy();
          const denied = asked.filter((tag) => !policy.mayUseTag(record.userId, tag));
          if (denied.length > 0) {
            return refused(
              "tags_not_allowed",
              `the auth key's owner may not use ${denied.join(", ")}`,
            );
          }
          tags = asked;
        }
        const node = await this.create(tx, login, {
          userId: tags.length > 0 ? null : record.userId,
          tags,
          ephemeral: record.ephemeral || login.ephemeral === true,
          authKeyId: record.id,
          now,
        });
        // The key's use comes last, with the COMMIT: its row lock, which every registration
        // with this key queues on (on PostgreSQL), is then held while the database commits
        // only, not through the allocation above nor a round trip. Refused there, the commit
        // fails and the node goes with the rollback.
        await tx.useAuthKeyAtCommit(record.id);
        return { kind: "node", via: "registered", node, changed: true };
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError) || error.field !== "authKey") throw error;
      // Checked fine, then refused at its use: a one-off key another registration used first,
      // or a key revoked meanwhile (perhaps after a recent read this check reused). Its state
      // now says which.
      this.recentKeys.forget(hashSecret(key));
      const again = await checkAuthKey(this.options.store, key, now);
      return again.ok
        ? refused("authkey_used", `auth key ${again.key.prefix}… was used already`)
        : refused(again.code, again.message);
    }
  }

  private async forSession(
    login: LoginMessage,
    user: UserRecord,
    now: number,
  ): Promise<LoginOutcome> {
    if ((login.tags ?? []).length > 0) {
      return refused("tags_not_allowed", "a browser node belongs to its user and carries no tags");
    }
    const node = await this.options.store.transaction((tx) =>
      this.create(tx, login, { userId: user.id, tags: [], ephemeral: true, now }),
    );
    return { kind: "node", via: "registered", node, changed: true };
  }

  private create(
    tx: StoreTx,
    login: LoginMessage,
    how: {
      userId: number | null;
      tags: string[];
      ephemeral: boolean;
      now: number;
      authKeyId?: number;
    },
  ): Promise<NodeRecord> {
    const tagged = how.tags.length > 0;
    const node: NodeToAllocate = {
      nodeKey: login.nodeKey,
      userId: tagged ? null : how.userId,
      tags: tagged ? [...how.tags] : [],
      hostname: login.hostinfo.hostname,
      os: login.hostinfo.os,
      ephemeral: how.ephemeral,
      keyExpiry: tagged ? null : how.now + this.keyLife(),
      sshHostKeys: login.hostinfo.sshHostKeys ?? [],
      sshUsers: login.hostinfo.sshUsers ?? null,
      lastSeen: null,
      authKeyId: how.authKeyId ?? null,
    };
    return createNodeAllocated(tx, node, this.options.ipv6Prefix);
  }

  /** Stores what the node now reports about its host, when it differs. */
  private async refreshHostinfo(
    node: NodeRecord,
    login: LoginMessage,
    tx?: StoreTx,
  ): Promise<{ node: NodeRecord; changed: boolean }> {
    const fields = hostFields(node, login.hostinfo);
    if (fields === null) return { node, changed: false };
    await (tx ?? this.options.store).updateNode(node.id, fields);
    return { node: { ...node, ...fields }, changed: true };
  }

  private keyLife(): number {
    return this.options.userKeyExpiryMs ?? USER_KEY_EXPIRY_MS;
  }
}
