// The page offers the engine its WebRTC (docs/paths.md, "Direct paths from the browser"): a host
// port per page, given with the person's "Direct connections" setting and its changes. Small and
// loaded at start; the code that runs connections (rtc-host.ts) loads at the engine's first
// request, so a page that never goes direct never fetches it.

import { transfer } from "comlink";
import type { Engine } from "../engine.ts";
import { pageId } from "../engine.ts";
import { getSettings, onSettings } from "../settings.ts";

/** Offers this page's WebRTC to `engine` (nothing where the browser has none). */
export function offerWebRtc(engine: Engine): void {
  if (typeof RTCPeerConnection !== "function") return;
  const host = () => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = (event: MessageEvent) => {
      void import("./rtc-host.ts").then(({ runRequest }) => runRequest(event.data));
    };
    port1.start();
    // Gone (closed, or into the back/forward cache): the engine's peers go back to the relay.
    addEventListener("pagehide", () => {
      try {
        port1.postMessage({ t: "gone" });
      } catch {
        // The engine is gone already.
      }
    });
    void engine
      .meshHostDirect(pageId(), transfer(port2, [port2]), getSettings().directPaths)
      .catch(() => undefined);
  };
  host();
  // A page restored from the back/forward cache said "gone" when it was put there.
  addEventListener("pageshow", (event) => {
    if (event.persisted) host();
  });
  let direct = getSettings().directPaths;
  onSettings((settings) => {
    if (settings.directPaths === direct) return;
    direct = settings.directPaths;
    void engine.meshSetDirect(direct).catch(() => undefined);
  });
}
