// The Worker side of idb-store-page.ts: opens the engine's store once and runs the operations
// the test sends, answering in plain JSON.

import { openIdbStore } from "../../../worker/engine/idb-store.ts";
import type { EngineStore, StoreKind } from "../../../worker/engine/store.ts";

/** One operation on the store. `unclonable` puts a value holding a function. */
export type IdbOp =
  | { op: "persistent" }
  | { op: "list"; kind: StoreKind }
  | { op: "put"; kind: StoreKind; value: { id: string } & Record<string, unknown> }
  | { op: "putUnclonable"; kind: StoreKind; id: string }
  | { op: "delete"; kind: StoreKind; id: string };

/** The answer: a result, or the error's name and message. */
export type IdbReply = { ok: unknown } | { error: string };

let store: Promise<EngineStore> | null = null;

async function run(op: IdbOp): Promise<unknown> {
  store ??= openIdbStore();
  const s = await store;
  switch (op.op) {
    case "persistent":
      return s.persistent;
    case "list":
      return await s.list(op.kind);
    case "put":
      return await s.put(op.kind, op.value);
    case "putUnclonable":
      return await s.put(op.kind, { id: op.id, callback: () => undefined });
    case "delete":
      return await s.delete(op.kind, op.id);
  }
}

self.addEventListener("message", (event: MessageEvent<{ seq: number; op: IdbOp }>) => {
  const { seq, op } = event.data;
  run(op).then(
    (ok) => self.postMessage({ seq, reply: { ok: ok ?? null } }),
    (error: unknown) =>
      self.postMessage({
        seq,
        reply: {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        },
      }),
  );
});
