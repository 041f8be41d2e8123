// Issue 12, item 3 in a real browser: a page of another web site (here a server on another
// port of the same machine: another origin) opens a WebSocket to the user's `corridor serve`
// relay. Chromium sends the page's Origin; the relay refuses the upgrade, so the page never
// sees SERVER_HELLO and can neither say hello nor use the UDP bridge. The page corridor serve
// itself serves, at 127.0.0.1 and at localhost, opens the relay and gets SERVER_HELLO.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const TIMEOUT = 120_000;

/** What a page saw when it opened the relay: its first frame's type, or the close code. */
type Outcome = { opened: true; firstType: number } | { opened: false; code: number };

/** Runs in the page: opens the relay and reports the first frame or the close. */
function tryRelay(page: Page, relayUrl: string): Promise<Outcome> {
  return page.evaluate(
    (url) =>
      new Promise<Outcome>((resolve) => {
        const ws = new WebSocket(url, "corridor-relay.v1");
        ws.binaryType = "arraybuffer";
        ws.onmessage = (event) => {
          resolve({ opened: true, firstType: new Uint8Array(event.data as ArrayBuffer)[0]! });
          ws.close();
        };
        ws.onclose = (event) => resolve({ opened: false, code: event.code });
      }),
    relayUrl,
  );
}

describeWithPrereq(chromiumPrereq(), "the relay and web pages of other sites (Chromium)", () => {
  let web = "";
  let serve: ServeHandle | undefined;
  let evil: Server | undefined;
  let evilOrigin = "";
  let browser: Browser | undefined;

  beforeAll(async () => {
    web = mkdtempSync(join(tmpdir(), "corridor-origin-e2e-"));
    writeFileSync(join(web, "index.html"), "<!doctype html><title>corridor</title>\n");
    serve = await startServe({
      port: 0,
      webRoot: web,
      relay: { auth: { mode: "open" }, relayId: "origin-e2e", log: () => {} },
    });
    evil = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>evil.example</title>\n");
    });
    await new Promise<void>((resolve) => evil!.listen(0, "127.0.0.1", resolve));
    evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    browser = await launchChromium(TIMEOUT);
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await serve?.close();
    await new Promise((resolve) => (evil ? evil.close(resolve) : resolve(undefined)));
    if (web) rmSync(web, { recursive: true, force: true });
  }, TIMEOUT);

  it(
    "refuses another site's page and serves its own page, under 127.0.0.1 and localhost",
    async () => {
      const page = await browser!.newPage();
      try {
        await page.goto(`${evilOrigin}/`);
        expect(await tryRelay(page, serve!.relayUrl)).toEqual({ opened: false, code: 1006 });
        expect(
          await serve!.relay.metrics.value("corridor_relay_upgrades_rejected_total", {
            reason: "origin",
          }),
        ).toBe(1);

        await page.goto(serve!.url);
        expect(await tryRelay(page, serve!.relayUrl)).toEqual({ opened: true, firstType: 0x01 });
        const localhost = `http://localhost:${serve!.port}`;
        await page.goto(`${localhost}/`);
        expect(await tryRelay(page, `ws://localhost:${serve!.port}/relay`)).toEqual({
          opened: true,
          firstType: 0x01,
        });
        expect(
          await serve!.relay.metrics.value("corridor_relay_upgrades_rejected_total", {
            reason: "origin",
          }),
        ).toBe(1);
      } finally {
        await page.close();
      }
    },
    TIMEOUT,
  );
});
