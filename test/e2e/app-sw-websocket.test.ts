// The injected script's WebSocket (web/app-inject/websocket.ts) against the browser's own, in
// Debian's Chromium: each scenario of app-sw-websocket-page.ts (echo of text, ArrayBuffer, view
// and Blob in order with binaryType switched midway; the constructor's, send's and close's
// exceptions; close during CONNECTING; a server close with a code; a refused handshake; a
// dropped connection; on* handlers against addEventListener order; constants, toStringTag,
// instanceof) runs once with window.WebSocket as Chromium has it and once with the class,
// carried by a stand-in engine over the real SocketCommand/SocketEvent messages, against the
// same Node `ws` server; the two logs must be equal. The whole chain (service worker, bridge,
// engine) is tested by the private-URL tests once it exists.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const PAGE = fileURLToPath(new URL("./app-sw-websocket-page.ts", import.meta.url));

interface PageApi {
  run(name: string, which: "native" | "corridor"): Promise<string[]>;
  crossOrigin(host: string): Promise<string[]>;
  names: string[];
}

describeWithPrereq(chromiumPrereq(), "app origin WebSocket replacement in Chromium", () => {
  let server: Server;
  let port: number;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [PAGE],
      bundle: true,
      write: false,
      format: "iife",
      target: "es2022",
    });
    const script = bundle.outputFiles[0]?.text ?? "";
    server = createServer((req, res) => {
      if (req.url === "/page.js") {
        res.writeHead(200, { "Content-Type": "text/javascript" });
        res.end(script);
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(
        '<!doctype html><html><head><script src="/page.js"></script></head><body></body></html>',
      );
    });
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => [...protocols][1] ?? [...protocols][0] ?? false,
    });
    wss.on("connection", (ws, req) => {
      if (req.url?.startsWith("/drop")) {
        setTimeout(() => ws.terminate(), 50);
        return;
      }
      ws.on("message", (data, isBinary) => {
        if (!isBinary && data.toString() === "close-me") {
          ws.close(4001, "server says bye");
          return;
        }
        ws.send(data, { binary: isBinary });
      });
    });
    server.on("upgrade", (req, socket, head) => {
      if (req.url?.startsWith("/reject")) {
        socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => "corridorWs" in window);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const names = ["echo", "exceptions", "serverClose", "refused", "dropped", "handlers", "shape"];
  for (const name of names) {
    it(`${name}: the same as Chromium's own WebSocket`, async () => {
      const run = (which: "native" | "corridor") =>
        page.evaluate(
          ([n, w]) => (window as unknown as { corridorWs: PageApi }).corridorWs.run(n, w),
          [name, which] as [string, "native" | "corridor"],
        );
      const native = await run("native");
      const corridor = await run("corridor");
      console.log(`${name}:\n  ${corridor.join("\n  ")}`);
      expect(native).not.toContain("timeout");
      expect(corridor).toEqual(native);
    });
  }

  it("sends sockets to other origins to the browser's own WebSocket", async () => {
    const log = await page.evaluate(
      (host) => (window as unknown as { corridorWs: PageApi }).corridorWs.crossOrigin(host),
      `localhost:${port}`,
    );
    expect(log[0]).toBe("native=true ours=true proto=true");
    expect(log).toContain(`message text hi origin=ws://localhost:${port} event=MessageEvent`);
    expect(log.at(-1)).toMatch(/^close code=1005 .*clean=true/);
  });
});
