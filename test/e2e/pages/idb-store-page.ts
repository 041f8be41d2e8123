// Drives worker/engine/idb-store.ts in a module Worker (where the engine runs it) for
// test/e2e/idb-store.test.ts: window.idbStoreE2E.call(op) posts one operation and resolves
// with the Worker's answer (plain JSON; errors as { error: name + message }).

import type { IdbOp, IdbReply } from "./idb-store-worker.ts";

const worker = new Worker(new URL("./idb-store-worker.ts", import.meta.url), { type: "module" });
let next = 0;
const waiting = new Map<number, (reply: IdbReply) => void>();
worker.addEventListener("message", (event: MessageEvent<{ seq: number; reply: IdbReply }>) => {
  waiting.get(event.data.seq)?.(event.data.reply);
  waiting.delete(event.data.seq);
});

declare global {
  interface Window {
    idbStoreE2E?: { call(op: IdbOp): Promise<IdbReply> };
  }
}

window.idbStoreE2E = {
  call: (op) =>
    new Promise<IdbReply>((resolve) => {
      const seq = next++;
      waiting.set(seq, resolve);
      worker.postMessage({ seq, op });
    }),
};
const status = document.getElementById("status");
if (status) status.textContent = "ready";
