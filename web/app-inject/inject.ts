// The script the app origin's service worker puts into every HTML page it carries
// (docs/private-urls.md, "Service worker and injected script"), served at /__corridor/inject.js
// and run first, before the app's own scripts. It does what the service worker cannot:
// WebSockets carried by the engine (web/app-inject/websocket.ts), document.cookie over the
// engine's jar (cookie.ts), a port for the worker when it restarted without one
// ("corridor-need-port", answered with requestAppPort from the bridge client), keep-alive pings
// while a response body streams, and a refusal of the app's own service worker (it would replace
// Corridor's and cut the tab off from the engine). Built by vite.config.ts as one script.

import { requestAppPort } from "../app-bridge/client.ts";
import { installDocumentCookie } from "./cookie.ts";
import { makeWebSocketClass } from "./websocket.ts";

/** Pings to the service worker while it streams a body, so the browser keeps it running. */
const KEEPALIVE_MS = 10_000;
const INSTALLED = Symbol.for("corridor.inject");

function controller(): ServiceWorker | null {
  return navigator.serviceWorker?.controller ?? null;
}

function install(): void {
  const script = document.currentScript;
  const initialCookie = script?.getAttribute("data-cookie") ?? "";
  // Out of the DOM again: the app's page is what its server sent (frameworks that hydrate the
  // head compare it).
  script?.remove();

  const cookies = installDocumentCookie(document, initialCookie, (assignment) => {
    const worker = controller();
    if (worker === null) return false;
    worker.postMessage({ type: "corridor-cookie-set", url: location.href, value: assignment });
    return true;
  });

  const native = window.WebSocket as typeof WebSocket | undefined;
  Object.defineProperty(window, "WebSocket", {
    configurable: true,
    writable: true,
    enumerable: false,
    value: makeWebSocketClass({
      baseUrl: () => document.baseURI,
      origin: () => location.origin,
      native,
      open(url, protocols, port) {
        const worker = controller();
        if (worker === null) return false;
        worker.postMessage({ type: "corridor-websocket", url, protocols, port }, [port]);
        return true;
      },
    }),
  });

  const container = navigator.serviceWorker;
  if (container === undefined) return;

  // The app's own service worker would take this origin's scope from Corridor's.
  const register = container.register;
  ServiceWorkerContainer.prototype.register = function (
    this: ServiceWorkerContainer,
    url,
    options,
  ) {
    const path = new URL(String(url), document.baseURI).pathname;
    if (path.startsWith("/__corridor/")) return register.call(this, url, options);
    return Promise.reject(
      new DOMException(
        "This app runs through Corridor, whose service worker carries every request of this origin; an app's own service worker cannot be registered here.",
        "SecurityError",
      ),
    );
  };

  let givingPort = false;
  let keepalive: ReturnType<typeof setInterval> | undefined;
  const hold = (on: boolean) => {
    clearInterval(keepalive);
    keepalive = undefined;
    if (on) {
      keepalive = setInterval(() => {
        controller()?.postMessage({ type: "corridor-keepalive" });
      }, KEEPALIVE_MS);
    }
  };
  container.addEventListener("message", (event: MessageEvent) => {
    const data = event.data as { type?: unknown; value?: unknown; set?: unknown; on?: unknown };
    switch (data?.type) {
      case "corridor-cookies":
        if (typeof data.value === "string") cookies.refresh(data.value, data.set === true);
        return;
      case "corridor-hold":
        hold(data.on === true);
        return;
      case "corridor-need-port": {
        if (givingPort) return;
        givingPort = true;
        const worker = event.source instanceof ServiceWorker ? event.source : controller();
        requestAppPort().then(
          (port) => {
            givingPort = false;
            worker?.postMessage({ type: "corridor-port", port }, [port]);
          },
          (error: unknown) => {
            givingPort = false;
            console.warn(`Corridor: no engine port for the service worker: ${String(error)}`);
          },
        );
        return;
      }
    }
  });
  container.startMessages();
}

const marker = globalThis as { [INSTALLED]?: boolean };
if (marker[INSTALLED] !== true) {
  marker[INSTALLED] = true;
  install();
}
