// The policy in force: the stored document (or the default one while none is set) compiled
// against the current users, with the shares in force laid over it (shares/overlay.ts: what
// the maps say about a share's recipient and its device). The API asks it to compile
// candidates and for the current policy (tag permissions, who sees a node); the map side
// recompiles when the document or a user changes, and reloads the shares when one changes.

import type { PolicyAccess } from "./api/deps.ts";
import { DEFAULT_POLICY } from "./policy/default.ts";
import type { CompiledPolicy, CompileResult, PolicyUser } from "./policy/types.ts";
import { type ActiveShare, withShares } from "./shares/overlay.ts";
import { loadActiveShares } from "./shares/share-active.ts";
import type { StoreTx, UserRecord } from "./store/types.ts";

/** Compiles a document against users (policy/compile.ts compilePolicy). */
export type CompileFn = (text: string, users: readonly PolicyUser[]) => CompileResult;

/** A user as the policy sees it. */
export function policyUser(user: UserRecord): PolicyUser {
  return { id: user.id, email: user.email, role: user.role };
}

/** The compiled policy in force and how to make a new one. */
export class PolicyHolder implements PolicyAccess {
  /** The document compiled against the users (never asked about a share's recipient). */
  private compiled: CompiledPolicy | undefined;
  private shares: readonly ActiveShare[] = [];
  /** `compiled` with `shares` over it: what current() gives. */
  private inForce: CompiledPolicy | undefined;

  constructor(private readonly compileFn: CompileFn) {}

  compile(text: string, users: PolicyUser[]): CompileResult {
    return this.compileFn(text, users);
  }

  /** The policy in force, shares included (the mapper's, and the API's). */
  current(): CompiledPolicy {
    if (this.inForce === undefined) throw new Error("policy: load() it from the store first");
    return this.inForce;
  }

  /** The shares in force, as last loaded. */
  activeShares(): readonly ActiveShare[] {
    return this.shares;
  }

  /**
   * Reads the shares in force (open acceptances of shares neither revoked nor expired at
   * `now`, with their share nodes' addresses); returns the new policy in force. After load().
   */
  async loadShares(tx: StoreTx, now: number): Promise<CompiledPolicy> {
    this.shares = await loadActiveShares(tx, now);
    return this.overlay();
  }

  /** The document's policy with the shares over it, now in force. */
  private overlay(): CompiledPolicy {
    if (this.compiled === undefined) throw new Error("policy: load() it from the store first");
    this.inForce = withShares(this.compiled, this.shares);
    return this.inForce;
  }

  /**
   * Reads the stored document and the users and compiles them; returns the new policy. A
   * stored document that does not compile (it was checked when set; its `tests` may name users
   * that changed since) keeps the previous policy in force and throws the first error.
   */
  async load(tx: StoreTx): Promise<CompiledPolicy> {
    const stored = await tx.getPolicy();
    const users = (await tx.listUsers()).map(policyUser);
    return this.use(stored?.text ?? DEFAULT_POLICY, users);
  }

  /**
   * The current document bound to the current users (after a user changed): the document is
   * not parsed again, nor its `tests` run (they were checked when it was set, and a sign-in
   * must not fail because a test names a user's old email).
   */
  async reloadUsers(tx: StoreTx): Promise<CompiledPolicy> {
    const users = (await tx.listUsers()).map(policyUser);
    if (this.compiled === undefined) throw new Error("policy: load() it from the store first");
    this.compiled = this.compiled.withUsers(users);
    return this.overlay();
  }

  private use(text: string, users: PolicyUser[]): CompiledPolicy {
    const result = this.compileFn(text, users);
    if (!result.ok) {
      const first = result.errors[0];
      throw new Error(
        `the stored policy does not compile for the current users: line ${first?.line}, column ${first?.column}: ${first?.message}`,
      );
    }
    this.compiled = result.policy;
    return this.overlay();
  }
}
