// `corridor serve` answering a request whose headers outgrow Node's limit (server/web/
// header-overflow.ts): a cookie bomb (cookies a hostile private app wrote for the whole site)
// gets 431 with `Clear-Site-Data: "cookies"` and a page that says what happened, instead of a
// bare 431 on every load; a malformed request still gets Node's own 400; the server keeps
// serving normal requests after both. Chromium honouring the header is checked in
// test/e2e/private-urls-isolation.test.ts.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";

/** Sends raw bytes, reads until the server closes (or 5 s), returns what came back. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    socket.write(text);
  });
}

describe("corridor serve: request headers over the limit", () => {
  let dir = "";
  let serve: ServeHandle | undefined;
  let port = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-header-overflow-"));
    const web = join(dir, "web");
    mkdirSync(join(web, "app-bootstrap"), { recursive: true });
    writeFileSync(join(web, "index.html"), "<!doctype html><p>PAGE-MARK</p>\n");
    for (const file of ["index.html", "bootstrap.js", "bootstrap.css", "sw.js", "inject.js"]) {
      writeFileSync(join(web, "app-bootstrap", file), "x\n");
    }
    serve = await startServe({
      port: 0,
      webRoot: web,
      relay: { auth: { mode: "open" }, relayId: "header-overflow-test", log: () => {} },
    });
    port = serve.port;
  });

  afterAll(async () => {
    await serve?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a cookie bomb gets 431 with Clear-Site-Data and a page saying what to do", async () => {
    const cookies = Array.from({ length: 40 }, (_, i) => `bomb${i}=${"x".repeat(1000)}`);
    const answer = await raw(
      port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookies.join("; ")}\r\n\r\n`,
    );
    const [head, body] = answer.split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(head).toContain('Clear-Site-Data: "cookies"');
    expect(head).toContain("Cache-Control: no-store");
    expect(body).toContain("This browser sent too many cookies");
    expect(body).toContain("sign in again");
    const length = /Content-Length: (\d+)/.exec(head ?? "")?.[1];
    expect(Number(length)).toBe(Buffer.byteLength(body ?? "", "utf8"));
  });

  it("a malformed request still gets Node's 400; normal requests are served after both", async () => {
    const answer = await raw(port, "NOT A REQUEST\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).not.toContain("Clear-Site-Data");
    const page = await raw(
      port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    );
    expect(page).toMatch(/^HTTP\/1\.1 200 /);
    expect(page).toContain("PAGE-MARK");
  });
});
