// The bridge (docs/private-urls.md, "Bridge and bootstrap"; DESIGN §9.4): a page on the Corridor
// origin, served at /__corridor/bridge and framed only by app origins (the server's
// frame-ancestors). An app origin's page (client.ts) posts it a corridor-bridge-request with one
// end of a MessageChannel; the bridge checks the message's origin (set by the browser) against
// the apps domains the server wrote into this page, and hands the port to the engine, which
// binds it to the service that origin names. Because the iframe is same-site with its parent,
// it shares the Corridor origin's storage and joins the same SharedWorker engine as the page.

import { transfer } from "comlink";
import { connectEngine, type Engine } from "../engine.ts";
import { type BridgeAnswer, type BridgeReady, isBridgeRequest } from "./messages.ts";
import { APPS_DOMAINS_META, checkAppOrigin } from "./origin-check.ts";

/** The apps domains the server wrote into this page (lowercase, space-separated). */
function appsDomains(): string[] {
  const meta = document.querySelector<HTMLMetaElement>(`meta[name="${APPS_DOMAINS_META}"]`);
  return (meta?.content ?? "")
    .split(/\s+/)
    .map((d) => d.toLowerCase())
    .filter((d) => d !== "");
}

let engine: Engine | undefined;

/** The engine, joined on the first accepted request (a refused origin never starts it). */
function theEngine(): Engine {
  engine ??= connectEngine("");
  return engine;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function main(): void {
  const domains = appsDomains();
  addEventListener("message", (event: MessageEvent) => {
    // Only the page that frames this one: not another frame, not a window it opened.
    if (window.parent === window || event.source !== window.parent) return;
    if (!isBridgeRequest(event.data)) return;
    const { id } = event.data;
    const parent = window.parent;
    const answer = (message: BridgeAnswer) => parent.postMessage(message, event.origin);
    const port = event.ports[0];
    if (port === undefined || event.ports.length !== 1) {
      answer({ type: "corridor-bridge-error", id, error: "the request carried no port" });
      return;
    }
    const verdict = checkAppOrigin(event.origin, location.origin, domains);
    if (!verdict.ok) {
      port.close();
      // The refusal goes to the origin that asked, which knows its own origin anyway.
      answer({ type: "corridor-bridge-error", id, error: `Corridor refused: ${verdict.reason}` });
      return;
    }
    theEngine()
      .openAppPort(event.origin, transfer(port, [port]))
      .then(
        () => answer({ type: "corridor-bridge-ready-port", id }),
        (error: unknown) => answer({ type: "corridor-bridge-error", id, error: errorText(error) }),
      );
  });
  if (window.parent !== window) {
    // "*": the parent's origin is not known yet, and this message says nothing but "ready".
    const ready: BridgeReady = { type: "corridor-bridge-ready" };
    window.parent.postMessage(ready, "*");
  }
}

main();
