// `corridor serve`: the static page handler (headers, caching, compression, ETags, hostile
// paths, a seeded fuzz of request targets), the relay on the same port, and the real CLI.
// The web root is a tiny fixture in a temp dir, not the real build, with a secret beside it
// and a symbolic link out of it, so any escape from the root would show in a body.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { StaticSite, sitePath } from "../../server/web/static.ts";
import { seededInts } from "../helpers/seeded.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;
const SECRET = "TOP-SECRET-MARKER-7f3a";
const INDEX =
  '<!doctype html><title>t</title><script type="module" src="/assets/app-abc123.js"></script>\n';
const APP = `export const greeting = ${JSON.stringify("hello corridor ".repeat(200))};\n`;
const WASM = Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), Buffer.alloc(2048)]);
const FONT = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) & 0xff));

let dir: string;
let web: string;
let server: ServeHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-serve-"));
  web = join(dir, "web");
  mkdirSync(join(web, "assets"), { recursive: true });
  writeFileSync(join(dir, "secret.txt"), SECRET);
  writeFileSync(join(web, ".env"), SECRET);
  writeFileSync(join(web, "index.html"), INDEX);
  writeFileSync(join(web, "favicon.svg"), "<svg xmlns='http://www.w3.org/2000/svg'></svg>\n");
  writeFileSync(join(web, "assets", "app-abc123.js"), APP);
  writeFileSync(join(web, "assets", "core-def456.wasm"), WASM);
  writeFileSync(join(web, "assets", "font-0a1b2c.woff2"), FONT);
  symlinkSync(join(dir, "secret.txt"), join(web, "assets", "link.txt"));
  server = await startServe({
    port: 0,
    webRoot: web,
    relay: { auth: { mode: "open" }, relayId: "serve-test", log: () => {} },
  });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** One raw HTTP request: the path goes on the wire as written (fetch would normalize it). */
function get(path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const CSP_PARTS = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
];

function expectSecurityHeaders(reply: Reply): void {
  const csp = String(reply.headers["content-security-policy"]);
  for (const part of CSP_PARTS) expect(csp).toContain(part);
  expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port} wss://127.0.0.1:`);
  expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  expect(reply.headers["x-content-type-options"]).toBe("nosniff");
  expect(reply.headers["referrer-policy"]).toBe("no-referrer");
  expect(reply.headers["cross-origin-opener-policy"]).toBe("same-origin");
}

describe("corridor serve: the page", () => {
  it("serves index.html for / and /index.html, no-cache, with the security headers", async () => {
    for (const path of ["/", "/index.html", "/?x=1"]) {
      const reply = await get(path);
      expect(reply.status).toBe(200);
      expect(reply.body.toString()).toBe(INDEX);
      expect(reply.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(reply.headers["cache-control"]).toBe("no-cache");
      expectSecurityHeaders(reply);
    }
  });

  it("caches hashed assets for a year and gives each type its Content-Type", async () => {
    const types: Record<string, string> = {
      "/assets/app-abc123.js": "text/javascript; charset=utf-8",
      "/assets/core-def456.wasm": "application/wasm",
      "/assets/font-0a1b2c.woff2": "font/woff2",
    };
    for (const [path, type] of Object.entries(types)) {
      const reply = await get(path);
      expect(reply.status).toBe(200);
      expect(reply.headers["content-type"]).toBe(type);
      expect(reply.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expectSecurityHeaders(reply);
    }
    const svg = await get("/favicon.svg");
    expect(svg.headers["content-type"]).toBe("image/svg+xml");
    expect(svg.headers["cache-control"]).toBe("no-cache");
    expect((await get("/assets/core-def456.wasm")).body.equals(WASM)).toBe(true);
  });

  it("compresses when the request accepts it, and only then", async () => {
    const gz = await get("/assets/app-abc123.js", { "accept-encoding": "gzip" });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.headers.vary).toBe("Accept-Encoding");
    expect(gunzipSync(gz.body).toString()).toBe(APP);
    expect(gz.body.length).toBeLessThan(APP.length / 4);
    const br = await get("/assets/app-abc123.js", { "accept-encoding": "gzip, deflate, br" });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(br.body).toString()).toBe(APP);
    const wasm = await get("/assets/core-def456.wasm", { "accept-encoding": "gzip" });
    expect(gunzipSync(wasm.body).equals(WASM)).toBe(true);
    for (const accept of [undefined, "identity", "gzip;q=0", "br;q=0, gzip;q=0"]) {
      const plain = await get("/assets/app-abc123.js", accept ? { "accept-encoding": accept } : {});
      expect(plain.headers["content-encoding"]).toBeUndefined();
      expect(plain.body.toString()).toBe(APP);
    }
    const font = await get("/assets/font-0a1b2c.woff2", { "accept-encoding": "gzip, br" });
    expect(font.headers["content-encoding"]).toBeUndefined();
  });

  it("answers If-None-Match with 304, per representation", async () => {
    const first = await get("/");
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[^"]+"$/);
    for (const tag of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]) {
      const again = await get("/", { "if-none-match": tag });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
      expect(again.headers.etag).toBe(etag);
      expectSecurityHeaders(again);
    }
    expect((await get("/", { "if-none-match": '"other"' })).status).toBe(200);
    const gz = await get("/assets/app-abc123.js", { "accept-encoding": "gzip" });
    expect(gz.headers.etag).not.toBe((await get("/assets/app-abc123.js")).headers.etag);
    const gz304 = await get("/assets/app-abc123.js", {
      "accept-encoding": "gzip",
      "if-none-match": String(gz.headers.etag),
    });
    expect(gz304.status).toBe(304);
  });

  it("answers HEAD with the headers alone; 404 for missing files, 405 for other methods", async () => {
    const head = await get("/assets/app-abc123.js", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(APP)));
    expect(head.body.length).toBe(0);
    const missing = await get("/assets/nothing-123.js");
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing);
    expect((await get("/some/deep/link")).status).toBe(404);
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const reply = await get("/", {}, method);
      expect(reply.status).toBe(405);
      expect(reply.headers.allow).toBe("GET, HEAD");
    }
  });

  it("never serves anything outside the root: traversal, encodings, NUL, dot files, links", async () => {
    const attempts = [
      "/../package.json",
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/assets/..%2f..%2fpackage.json",
      "/assets/..%2F..%2Fsecret.txt",
      "/%2e%2e/secret.txt",
      "/assets/%2E%2E/%2e%2e/secret.txt",
      "/..%5csecret.txt",
      "/index.html%00.js",
      "/%00",
      "/%zz",
      "//etc/passwd",
      "/.env",
      "/assets/link.txt",
      "/assets/./app-abc123.js",
      "http://127.0.0.1/../secret.txt",
    ];
    for (const path of attempts) {
      const reply = await get(path);
      expect([400, 404], path).toContain(reply.status);
      expect(reply.body.toString(), path).not.toContain(SECRET);
      expect(reply.body.toString(), path).not.toContain('"name": "corridor"');
    }
  });

  it("keeps a hostile Host header out of the CSP", async () => {
    const reply = await get("/", { host: "evil.example; script-src *" });
    const csp = String(reply.headers["content-security-policy"]);
    expect(csp).toContain("connect-src 'self';");
    expect(csp).not.toContain("evil");
  });

  it("picks up a rebuilt page (index.html changed on disk)", async () => {
    const site = await StaticSite.load(web);
    const rebuilt = `${INDEX}<!-- rebuilt -->\n`;
    writeFileSync(join(web, "assets", "app-new999.js"), "export {};\n");
    writeFileSync(join(web, "index.html"), rebuilt);
    expect(site.paths).not.toContain("/assets/app-new999.js");
    expect((await get("/")).body.toString()).toBe(rebuilt);
    expect((await get("/assets/app-new999.js")).status).toBe(200);
  });
});

describe("corridor serve: the relay on the same port", () => {
  it("accepts a relay WebSocket on /relay and sends SERVER_HELLO; /healthz and /metrics answer", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/relay`, "corridor-relay.v1");
    const first = await new Promise<Buffer>((resolve, reject) => {
      ws.once("message", (data: Buffer) => resolve(data));
      ws.once("error", reject);
    });
    expect(first[0]).toBe(0x01);
    expect(server.relayUrl).toBe(`ws://127.0.0.1:${server.port}/relay`);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    ws.terminate();
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(health.body.toString()).toBe("ok\n");
    expect((await get("/metrics")).body.toString()).toContain("corridor_relay_");
  });
});

/** A request straight to the handler (no HTTP parser in front), for the fuzz. */
function direct(site: StaticSite, url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve) => {
    let status = 0;
    const req = { method: "GET", url, headers: { host: "127.0.0.1:8080" } };
    const res = {
      headersSent: false,
      writeHead(code: number) {
        status = code;
        this.headersSent = true;
        return this;
      },
      end(body?: Buffer | string) {
        resolve({ status, body: Buffer.from(body ?? "") });
      },
      destroy() {
        resolve({ status: 599, body: Buffer.alloc(0) });
      },
    };
    site.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
}

describe("corridor serve: fuzzed request paths", () => {
  it("6,000 seeded paths: never a 5xx, never a byte from outside the root", async () => {
    const site = await StaticSite.load(web);
    const tokens = [
      "",
      "..",
      ".",
      "%2e",
      "%2E%2e",
      "%2f",
      "%5C",
      "%00",
      "%",
      "%zz",
      "%25",
      "%252e",
      "%c0%ae",
      "\\",
      "\0",
      "/",
      "?",
      "#",
      ";",
      "assets",
      "index.html",
      "app-abc123.js",
      "secret.txt",
      ".env",
      "link.txt",
      "package.json",
      "\u2025",
      "~",
      " ",
      "\t",
      "é",
      "%ff",
    ];
    const chars = "/.%25afAF0\\?#;:~ \0\n\u00e9";
    const rand = seededInts(0x5e7e);
    const pick = <T>(list: readonly T[]): T => list[rand(list.length)]!;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 6000; i++) {
      let path: string;
      if (i % 2 === 0) {
        const parts = Array.from({ length: 1 + rand(7) }, () => pick(tokens));
        path = (rand(10) > 0 ? "/" : "") + parts.join(rand(4) > 0 ? "/" : "");
      } else {
        const chars2 = [...pick(["/", "/index.html", "/assets/app-abc123.js", "/favicon.svg"])];
        for (let m = 1 + rand(4); m > 0; m--) {
          const at = rand(chars2.length + 1);
          const op = rand(3);
          if (op === 0) chars2.splice(at, 0, pick([...chars]));
          else if (op === 1) chars2.splice(at, 1);
          else chars2.splice(at, 0, pick(tokens));
        }
        path = chars2.join("");
      }
      const reply = await direct(site, path);
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      expect(reply.status, path).toBeLessThan(500);
      expect(reply.body.toString(), path).not.toContain(SECRET);
      if (reply.status === 200) {
        // A 200 is one of the snapshot's files, byte for byte as it lies under the root.
        const verdict = sitePath(path);
        if (!verdict.ok) throw new Error(`200 for a refused path: ${JSON.stringify(path)}`);
        expect(site.paths, path).toContain(verdict.path);
        expect(reply.body.equals(readFileSync(join(web, verdict.path))), path).toBe(true);
      }
    }
    // The generator reaches every outcome, not just refusals.
    for (const status of [200, 400, 404]) expect(statuses.get(status) ?? 0).toBeGreaterThan(100);
  });
});

describe("corridor serve: the command", () => {
  it("prints the URL, serves / with the CSP, and exits 0 on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [bin, "serve", "--port", "0", "--web", web, "--data", join(dir, "data")],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!stdout.includes("/relay") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const match = /Corridor is running at (http:\/\/127\.0\.0\.1:(\d+)\/)\n/.exec(stdout);
    expect(match, stdout).not.toBeNull();
    expect(stdout).toMatch(/relay \S+ at ws:\/\/127\.0\.0\.1:\d+\/relay \(auth: open;/);
    const res = await fetch(match![1]!);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain(
      "script-src 'self' 'wasm-unsafe-eval'",
    );
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("names the --public-url origin as the Corridor origin in an app origin's config.json", async () => {
    const child = spawn(
      process.execPath,
      [
        bin,
        "serve",
        "--port",
        "0",
        "--web",
        web,
        "--data",
        join(dir, "data-public"),
        "--public-url",
        "http://corridor.example.com:8443/",
        "--apps-domain",
        "apps.example.com",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let stdout = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      const deadline = Date.now() + 30_000;
      let port: string | undefined;
      while (port === undefined && Date.now() < deadline) {
        port = /ws:\/\/127\.0\.0\.1:(\d+)\/relay/.exec(stdout)?.[1];
        if (port === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(port, stdout).toBeDefined();
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: Number(port),
            path: "/__corridor/config.json",
            headers: { Host: "web-01--3000.apps.example.com" },
          },
          (res) => {
            let text = "";
            res.on("data", (d: Buffer) => {
              text += d.toString();
            });
            res.on("end", () => resolve(text));
          },
        );
        req.on("error", reject);
        req.end();
      });
      // Not https://corridor.example.com: the scheme and port come from --public-url.
      expect(JSON.parse(body)).toEqual({ corridorOrigin: "http://corridor.example.com:8443" });
    } finally {
      const exited = new Promise((resolve) => child.on("close", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });

  it("refuses a non-loopback address without an auth choice, and a --web without index.html", () => {
    const open = spawnSync(process.execPath, [bin, "serve", "--host", "0.0.0.0", "--web", web], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(open.status).toBe(2);
    expect(open.stderr).toContain("not a loopback address");
    const empty = spawnSync(
      process.execPath,
      [bin, "serve", "--port", "0", "--web", join(dir, "none")],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain("no index.html");
  });
});
