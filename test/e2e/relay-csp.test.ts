// A page reaches the maps' other relays (`corridor serve --relay-url`, scale-out across hosts) in
// a real browser. The page's CSP names its own relay only by default; serve now adds each other
// relay's scheme and host (server/web/headers.ts relayConnectSources). Here the second relay
// is another origin of this machine (another port), started as `corridor relay --origin PAGE`
// would be: the page served with it among its sources opens it and gets SERVER_HELLO; the same
// page served without it is stopped by the browser (a connect-src violation), never reaching
// the relay. Both from the document and from a SharedWorker, where the engine opens its relays
// (a worker's CSP comes from its own script's response, which serve sends with the same policy).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type RelayServer, startRelay } from "../../server/relay/relay-server.ts";
import { relayConnectSources } from "../../server/web/headers.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const TIMEOUT = 120_000;

/**
 * What a page saw opening a relay: its first frame's type; or the browser's CSP report (Chromium
 * 156 fires no close for a socket its CSP blocks); or the close code (null: neither came).
 */
type Outcome =
  | { opened: true; firstType: number }
  | { opened: false; violated: string }
  | { opened: false; code: number | null };

/** Runs in the page: opens `url` and reports the first frame, a CSP violation or the close. */
function tryRelay(page: Page, url: string): Promise<Outcome> {
  return page.evaluate(
    (target) =>
      new Promise<Outcome>((resolve) => {
        document.addEventListener("securitypolicyviolation", (event) =>
          resolve({ opened: false, violated: event.effectiveDirective }),
        );
        setTimeout(() => resolve({ opened: false, code: null }), 10_000);
        const ws = new WebSocket(target, "corridor-relay.v1");
        ws.binaryType = "arraybuffer";
        ws.onmessage = (event) => {
          resolve({ opened: true, firstType: new Uint8Array(event.data as ArrayBuffer)[0]! });
          ws.close();
        };
        ws.onclose = (event) => resolve({ opened: false, code: event.code });
      }),
    url,
  );
}

/**
 * A SharedWorker that opens the URL each message names and answers as tryRelay does: its first
 * frame's type, a CSP report, a throw, or the close.
 */
const WORKER_PROBE = `
onconnect = (connected) => {
  const port = connected.ports[0];
  port.onmessage = ({ data: target }) => {
    let answered = false;
    const answer = (outcome) => {
      if (!answered) port.postMessage(outcome);
      answered = true;
    };
    self.addEventListener("securitypolicyviolation", (event) =>
      answer({ opened: false, violated: event.effectiveDirective }),
    );
    setTimeout(() => answer({ opened: false, code: null }), 10000);
    let ws;
    try {
      ws = new WebSocket(target, "corridor-relay.v1");
    } catch (error) {
      answer({ opened: false, thrown: error.name });
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => {
      answer({ opened: true, firstType: new Uint8Array(event.data)[0] });
      ws.close();
    };
    ws.onclose = (event) => answer({ opened: false, code: event.code });
  };
};
`;

/** Runs in the page: asks a SharedWorker of the page's origin to open `url` (WORKER_PROBE). */
function tryRelayFromWorker(page: Page, url: string): Promise<Outcome | { thrown: string }> {
  return page.evaluate(
    (target) =>
      new Promise<Outcome | { thrown: string }>((resolve) => {
        const worker = new SharedWorker(`/probe.js?${Math.random()}`);
        worker.port.onmessage = (event) => resolve(event.data);
        worker.port.postMessage(target);
      }),
    url,
  );
}

/** A port nothing listens on now (the second relay takes it a moment later). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describeWithPrereq(chromiumPrereq(), "a page and the maps' other relays (Chromium)", () => {
  let web = "";
  let withSource: ServeHandle | undefined;
  let withoutSource: ServeHandle | undefined;
  let other: RelayServer | undefined;
  let otherUrl = "";
  let browser: Browser | undefined;

  beforeAll(async () => {
    web = mkdtempSync(join(tmpdir(), "corridor-relay-csp-e2e-"));
    writeFileSync(join(web, "index.html"), "<!doctype html><title>corridor</title>\n");
    writeFileSync(join(web, "probe.js"), WORKER_PROBE);
    const relay = { auth: { mode: "open" as const }, log: () => {} };
    withoutSource = await startServe({
      port: 0,
      webRoot: web,
      relay: { ...relay, relayId: "csp-plain" },
    });
    const pageOrigin = (serve: ServeHandle) => new URL(serve.url).origin;
    // The page served with the second relay's source must know its port before that relay
    // listens (it accepts the page's origin): a port is picked first, and picked again in the
    // rare case something else took it meanwhile.
    for (let attempt = 1; other === undefined; attempt++) {
      const otherPort = await unusedPort();
      otherUrl = `ws://127.0.0.1:${otherPort}/relay`;
      withSource = await startServe({
        port: 0,
        webRoot: web,
        relaySources: relayConnectSources([otherUrl]).sources,
        relay: { ...relay, relayId: "csp-page" },
      });
      try {
        other = await startRelay({
          ...relay,
          relayId: "csp-other",
          host: "127.0.0.1",
          port: otherPort,
          origins: [pageOrigin(withSource), pageOrigin(withoutSource)],
        });
      } catch (error) {
        await withSource.close();
        withSource = undefined;
        if (attempt === 3 || !String(error).includes("EADDRINUSE")) throw error;
      }
    }
    browser = await launchChromium(TIMEOUT);
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await withSource?.close();
    await withoutSource?.close();
    await other?.close();
    if (web) rmSync(web, { recursive: true, force: true });
  }, TIMEOUT);

  it(
    "opens a relay the CSP names, and is stopped by the browser at one it does not",
    async () => {
      const page = await browser!.newPage();
      try {
        await page.goto(withSource!.url);
        // SERVER_HELLO is frame type 1 of the relay's wire format (DESIGN §5).
        expect(await tryRelay(page, otherUrl)).toEqual({ opened: true, firstType: 1 });
        expect(await tryRelayFromWorker(page, otherUrl)).toEqual({ opened: true, firstType: 1 });
        // Its own relay still opens beside it.
        expect(await tryRelay(page, withSource!.relayUrl)).toEqual({ opened: true, firstType: 1 });

        await page.goto(withoutSource!.url);
        const sent = () => other!.metrics.value("corridor_relay_bytes_out_total");
        const before = await sent();
        expect(await tryRelay(page, otherUrl)).toEqual({ opened: false, violated: "connect-src" });
        expect(await tryRelayFromWorker(page, otherUrl)).toEqual({
          opened: false,
          violated: "connect-src",
        });
        // A socket let through late would show here: not even its SERVER_HELLO was sent.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(await sent()).toBe(before);
        expect(await tryRelay(page, withoutSource!.relayUrl)).toEqual({
          opened: true,
          firstType: 1,
        });
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );
});
