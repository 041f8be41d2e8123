// The page's main-thread module: imports worker/crypto directly (the "page's main thread" case)
// and starts module Workers (crypto-worker.ts) for the Worker case. The test drives it through
// window.corridorE2E with page.evaluate; everything crossing that boundary is plain JSON.

import { loadCryptoCore } from "../../../worker/crypto/index.ts";
import type {
  BuildChoice,
  Cases,
  PageApi,
  RunReport,
  WorkerRequest,
  WorkerResponse,
} from "./crypto-cases.ts";
import { runCases } from "./crypto-cases.ts";

async function runMain(build: BuildChoice, cases: Cases): Promise<RunReport> {
  const core = await loadCryptoCore(build === "auto" ? {} : { build });
  return { build: core.build, where: "main", results: runCases(core, cases) };
}

function runWorker(build: BuildChoice, cases: Cases): Promise<RunReport> {
  const worker = new Worker(new URL("./crypto-worker.ts", import.meta.url), { type: "module" });
  return new Promise<RunReport>((resolve, reject) => {
    worker.addEventListener("message", (ev: MessageEvent<WorkerResponse>) => {
      if (ev.data.ok) resolve(ev.data.report);
      else reject(new Error(`worker: ${ev.data.error}`));
    });
    // A module that fails to load or throws at top level arrives here, not as a message.
    worker.addEventListener("error", (ev: ErrorEvent) => {
      ev.preventDefault();
      reject(new Error(`worker error: ${ev.message || "module failed to load"}`));
    });
    worker.addEventListener("messageerror", () => reject(new Error("worker: messageerror")));
    const request: WorkerRequest = { build, cases };
    worker.postMessage(request);
  }).finally(() => worker.terminate());
}

const api: PageApi = { runMain, runWorker };
window.corridorE2E = api;
const status = document.getElementById("status");
if (status) status.textContent = "ready";
