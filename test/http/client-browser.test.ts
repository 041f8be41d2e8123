// The client in a Web Worker of Debian's Chromium (where the engine runs it): the bundle of
// worker/http loads without Node, streams and DecompressionStream work, and br is confirmed
// missing from DecompressionStream (docs/http-client.md). The server side is an in-memory
// duplex stream answering a chunked, gzip-encoded response.

import { build } from "esbuild";
import { expect, it } from "vitest";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";

const WORKER_TEST = `
(async () => {
  const { HttpPool, httpRequest } = CorridorHttp;
  const enc = (s) => new TextEncoder().encode(s);
  const plain = "browser ".repeat(1000);
  const gz = new Uint8Array(
    await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  const parts = [enc("HTTP/1.1 200 OK\\r\\nContent-Encoding: gzip\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"),
    enc(gz.length.toString(16) + "\\r\\n"), gz, enc("\\r\\n0\\r\\n\\r\\n")];
  let sent = "";
  const dial = async (host, port) => ({
    readable: new ReadableStream({ pull(c) { const p = parts.shift(); if (p) c.enqueue(p); } }),
    writable: new WritableStream({ write(chunk) { sent += new TextDecoder().decode(chunk); } }),
    close() {},
  });
  const pool = new HttpPool({ dial });
  const r = await httpRequest(pool, { method: "GET", url: "http://web-01:3000/x?y=1" });
  const text = await new Response(r.body).text();
  const formats = {};
  for (const f of ["gzip", "deflate", "deflate-raw", "br", "brotli"]) {
    try { new DecompressionStream(f); formats[f] = true; } catch { formats[f] = false; }
  }
  postMessage({ status: r.status, decoded: text === plain, sent, formats, headers: r.headers });
})().catch((e) => postMessage({ error: String(e) }));
`;

describeWithPrereq(chromiumPrereq(), "HTTP client in a Chromium Web Worker", () => {
  it("decodes a chunked gzip response through the pool, in a Worker", async () => {
    const bundle = await build({
      entryPoints: ["worker/http/index.ts"],
      bundle: true,
      format: "iife",
      globalName: "CorridorHttp",
      platform: "browser",
      write: false,
    });
    const source = bundle.outputFiles[0]!.text + WORKER_TEST;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const result = await page.evaluate(
        (src) =>
          new Promise((resolve) => {
            const w = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
            w.onmessage = (e) => resolve(e.data);
            w.onerror = (e) => resolve({ error: e.message });
          }),
        source,
      );
      expect(result).toEqual({
        status: 200,
        decoded: true,
        sent: "GET /x?y=1 HTTP/1.1\r\nHost: web-01:3000\r\nAccept-Encoding: gzip, deflate\r\n\r\n",
        formats: { gzip: true, deflate: true, "deflate-raw": true, br: false, brotli: false },
        headers: [["Transfer-Encoding", "chunked"]],
      });
    } finally {
      await browser.close();
    }
  });
});
