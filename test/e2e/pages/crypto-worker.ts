// Module Worker entry: initCrypto({ build }) then the module-level one-shot functions, the way
// the engine's Worker uses them. One request per Worker (the page starts a fresh one per build).

import * as crypto from "../../../worker/crypto/index.ts";
import type { WorkerRequest, WorkerResponse } from "./crypto-cases.ts";
import { runCases } from "./crypto-cases.ts";

self.addEventListener("message", async (ev: MessageEvent<WorkerRequest>) => {
  let response: WorkerResponse;
  try {
    const { build, cases } = ev.data;
    const core = await crypto.initCrypto({ build });
    response = {
      ok: true,
      report: { build: core.build, where: "worker", results: runCases(crypto, cases) },
    };
  } catch (err) {
    response = {
      ok: false,
      error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ""}` : String(err),
    };
  }
  self.postMessage(response);
});
