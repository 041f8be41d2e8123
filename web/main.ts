// The page: starts the engine in a module Web Worker and shows what it reports. The engine
// never runs on this thread; the page talks to it only through the comlink API.

import { wrap } from "comlink";
import type { EngineApi } from "../worker/api.ts";

const statusLine = document.getElementById("engine-status");

async function start(): Promise<void> {
  const worker = new Worker(new URL("../worker/index.ts", import.meta.url), { type: "module" });
  const engine = wrap<EngineApi>(worker);
  const status = await engine.status();
  const build = status.cryptoBuild === "simd" ? "WebAssembly SIMD" : "scalar WebAssembly";
  setStatus("ready", `Engine ready in a Web Worker; crypto core: ${build}.`);
}

function setStatus(state: "ready" | "error", text: string): void {
  if (!statusLine) return;
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

start().catch((error: unknown) => {
  setStatus(
    "error",
    `The engine did not start: ${error instanceof Error ? error.message : String(error)}`,
  );
});
