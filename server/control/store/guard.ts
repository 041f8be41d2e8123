// What both adapters put around every store call: an async mutex (SQLite serializes every
// transaction and makes single calls wait for a running one; PostgreSQL serializes the calls
// made on one transaction's connection) and two misuse checks that turn silent corruption or a
// deadlock into an error naming the mistake:
// - a call on the Store itself from inside its own `transaction(work)` (it would wait for the
//   transaction that waits for it on SQLite, and escape the transaction on PostgreSQL);
// - a call on a StoreTx after its transaction ended (it would write outside any transaction).

import { AsyncLocalStorage } from "node:async_hooks";
import type { StoreTx } from "./types.ts";

/** A FIFO async mutex: `run` calls execute one at a time in the order they were made. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await before;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/** One running transaction, as seen from inside its `work`. */
export interface TxState {
  /** The Store the transaction belongs to. */
  readonly owner: object;
  active: boolean;
}

const running = new AsyncLocalStorage<TxState>();

/** Runs `work` marked as inside `state`'s transaction. */
export function insideTransaction<T>(state: TxState, work: () => Promise<T>): Promise<T> {
  return running.run(state, work);
}

/** Throws when called from inside an active transaction of `owner` (see the file comment). */
export function refuseInsideOwnTransaction(owner: object): void {
  const state = running.getStore();
  if (state !== undefined && state.owner === owner && state.active) {
    throw new Error(
      "store: called on the Store from inside its own transaction(work): use the tx that work receives",
    );
  }
}

/** Throws when `state`'s transaction has ended. */
export function refuseEnded(state: TxState): void {
  if (!state.active) {
    throw new Error("store: this transaction has ended; its tx can no longer be used");
  }
}

/** Every StoreTx method, so that wrapStoreTx cannot miss one (the type demands each key). */
const TX_METHODS: Record<keyof StoreTx, true> = {
  userById: true,
  userByIdentity: true,
  listUsers: true,
  createUser: true,
  updateUser: true,
  nodeById: true,
  nodesByIds: true,
  nodeByKey: true,
  listNodes: true,
  createNode: true,
  updateNode: true,
  deleteNode: true,
  nextNodeName: true,
  freeIpv4: true,
  createAuthKey: true,
  authKeyByHash: true,
  listAuthKeys: true,
  revokeAuthKey: true,
  useAuthKey: true,
  useAuthKeyAtCommit: true,
  createApiKey: true,
  apiKeyByHash: true,
  listApiKeys: true,
  revokeApiKey: true,
  touchApiKey: true,
  createSession: true,
  sessionByHash: true,
  deleteSession: true,
  deleteUserSessions: true,
  deleteExpiredSessions: true,
  createLink: true,
  consumeLink: true,
  getPolicy: true,
  setPolicy: true,
  getSettings: true,
  initSettings: true,
  putMapCheckpoint: true,
  takeMapCheckpoint: true,
  createShare: true,
  shareById: true,
  listShares: true,
  revokeShare: true,
  useShare: true,
  createAcceptance: true,
  acceptanceById: true,
  acceptancesOfShare: true,
  endAcceptance: true,
  listOpenAcceptances: true,
  addAudit: true,
  listAudit: true,
};

/** A StoreTx whose every method runs `target`'s inside `around`. */
export function wrapStoreTx(
  target: StoreTx,
  around: <T>(call: () => Promise<T>) => Promise<T>,
): StoreTx {
  const wrapped: Partial<Record<keyof StoreTx, unknown>> = {};
  for (const name of Object.keys(TX_METHODS) as (keyof StoreTx)[]) {
    const method = target[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (...args: unknown[]) => around(() => method.apply(target, args));
  }
  return wrapped as StoreTx;
}
