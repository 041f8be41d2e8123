// The page's entry: starts the engine in a module Web Worker at once and hands it to the app.
// The engine never runs on this thread; the page talks to it only through the comlink API.

import { wrap } from "comlink";
import type { EngineApi } from "../worker/api.ts";
import { createApp } from "./app.ts";
import { errorText } from "./dom.ts";

const worker = new Worker(new URL("../worker/index.ts", import.meta.url), { type: "module" });
const engine = wrap<EngineApi>(worker);
const root = document.getElementById("app");
if (!root) throw new Error("index.html lacks #app");
const app = createApp(root, engine);

engine
  .status()
  .then((status) => {
    const build = status.cryptoBuild === "simd" ? "WebAssembly SIMD" : "scalar WebAssembly";
    app.setEngineStatus("ready", `Engine ready in a Web Worker; crypto core: ${build}.`);
    return app.refreshNetworks();
  })
  .catch((error: unknown) => {
    app.setEngineStatus("error", `The engine did not start: ${errorText(error)}`);
  });
