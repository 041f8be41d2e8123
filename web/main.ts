// The page's entry: starts (or joins) the engine, in the browser's SharedWorker where there is
// one, else in a module Web Worker of this page (web/engine.ts), and hands it to the app.
// The engine never runs on this thread; the page talks to it only through the comlink API.

import type { EngineStatus } from "../worker/api.ts";
import { type App, createApp } from "./app.ts";
import { offerWebRtc } from "./direct/rtc-offer.ts";
import { errorText } from "./dom.ts";
import { connectEngine, sessionsLostSince } from "./engine.ts";
import { isSharePath, takeShareLocation } from "./share/share-link.ts";

const engine = connectEngine(location.search);
// The engine's direct paths run their WebRTC here (a Worker has none), under the setting.
offerWebRtc(engine);
const root = document.getElementById("app");
if (!root) throw new Error("index.html lacks #app");
// A share link (/s/<id>#<secret>) is the recipient's page: that one device, nothing else. Its
// secret leaves the address bar before anything else runs; the page's code loads on demand
// (outside every other page's first load).
const appReady: Promise<App> = isSharePath(location.pathname)
  ? ((where) =>
      import("./share/share-page.ts").then(({ createSharePage }) =>
        createSharePage(root, engine, where),
      ))(takeShareLocation())
  : Promise.resolve(createApp(root, engine));

/** The header's line about the engine: where it runs, its crypto core, lost sessions. */
function engineText(status: EngineStatus): string {
  const build = status.cryptoBuild === "simd" ? "WebAssembly SIMD" : "scalar WebAssembly";
  const where = status.shared
    ? "Engine ready, shared by this browser's tabs"
    : "Engine ready in this tab's Web Worker";
  const lost = sessionsLostSince(status.instanceId);
  const ended =
    lost > 0
      ? ` The engine restarted since the last page: its ${lost === 1 ? "session" : `${lost} sessions`} ended.`
      : "";
  return `${where}; crypto core: ${build}.${ended}`;
}

void appReady.then((app) =>
  engine
    .status()
    .then((status) => {
      app.setEngineStatus("ready", engineText(status));
      return app.refreshNetworks();
    })
    .catch((error: unknown) => {
      app.setEngineStatus("error", `The engine did not start: ${errorText(error)}`);
    }),
);
