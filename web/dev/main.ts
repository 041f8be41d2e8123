// Development page: the real app over a fake engine (web/dev/fake-engine.ts), joined by comlink
// over a MessageChannel exactly as the Worker would be. ?networks=1 starts with two networks.

import { expose, wrap } from "comlink";
import type { EngineApi } from "../../worker/api.ts";
import { createApp } from "../app.ts";
import { createFakeEngine } from "./fake-engine.ts";

const channel = new MessageChannel();
expose(
  createFakeEngine({ withNetworks: new URL(location.href).searchParams.has("networks") }),
  channel.port1,
);
const engine = wrap<EngineApi>(channel.port2);
const root = document.getElementById("app");
if (!root) throw new Error("no #app");
const app = createApp(root, engine);
void engine.status().then(() => {
  app.setEngineStatus("ready", "Engine ready in a Web Worker; crypto core: WebAssembly SIMD.");
  return app.refreshNetworks();
});
