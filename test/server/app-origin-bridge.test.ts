// The bridge and the bootstrap's files on `corridor serve` (server/web/app-origin-http.ts,
// bridge-http.ts, web/app-bridge/origin-check.ts; docs/private-urls.md, "Bridge and
// bootstrap"): app origins get the service worker with `Service-Worker-Allowed: /`, the
// injected script, config.json naming the Corridor origin and /__corridor/bootstrap, never the
// bridge; the Corridor origin gets the bridge with the apps domains written in and
// frame-ancestors naming only their wildcards; the build's own directories stay hidden there.
// The bridge's origin check is tested here too (pure).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bridgeFrameAncestors, corridorOriginFor } from "../../server/web/app-origin.ts";
import { appOriginCsp } from "../../server/web/app-origin-http.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { checkAppOrigin } from "../../web/app-bridge/origin-check.ts";

const BRIDGE_HTML =
  '<!doctype html><meta name="corridor-apps-domains" content=""><p>BRIDGE-MARK</p>\n';
const SW_JS = "/* SW-MARK */\n";
const INJECT_JS = "/* INJECT-MARK */\n";
const BOOTSTRAP_HTML = "<!doctype html><p>BOOTSTRAP-MARK</p>\n";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function ask(port: number, host: string, path: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the bridge's origin check", () => {
  const domains = ["apps.example.com", "corridor.localhost"];
  const bridge = "http://corridor.localhost:8080";

  it("accepts one service label under an apps domain, on the bridge's scheme and port", () => {
    const ok = checkAppOrigin("http://web-01--3000.corridor.localhost:8080", bridge, domains);
    expect(ok).toEqual({
      ok: true,
      service: { host: "web-01", port: 3000, scheme: "http" },
    });
    const https = checkAppOrigin(
      "https://10-8-0-1--443--https.apps.example.com",
      "https://example.com",
      domains,
    );
    expect(https.ok && https.service).toEqual({ host: "10.8.0.1", port: 443, scheme: "https" });
  });

  it("refuses every other origin, saying why", () => {
    const refused = [
      "http://web-01--3000.corridor.localhost:8081", // another port
      "https://web-01--3000.corridor.localhost:8080", // another scheme
      "http://web-01--3000.corridor.localhost", // no port
      "http://a.web-01--3000.corridor.localhost:8080", // two labels
      "http://corridor.localhost:8080", // the Corridor origin itself
      "http://web-01--3000.localhost:8080", // another loopback name
      "http://localhost:8080",
      "http://127.0.0.1:8080",
      "http://web-01--3000.corridor.localhost.evil.com:8080",
      "http://web-01--3000.evilcorridor.localhost:8080",
      "http://web--01--3000.corridor.localhost:8080", // no service
      "http://web-01--03000.corridor.localhost:8080", // not canonical
      "null",
      "",
      "http://web-01--3000.corridor.localhost:8080/path",
    ];
    for (const origin of refused) {
      const verdict = checkAppOrigin(origin, bridge, domains);
      expect(verdict.ok, origin).toBe(false);
      if (!verdict.ok) expect(verdict.reason.length, origin).toBeGreaterThan(10);
    }
    expect(checkAppOrigin("http://web-01--3000.corridor.localhost:8080", bridge, [])).toEqual({
      ok: false,
      reason: `http://web-01--3000.corridor.localhost:8080 is not an app origin of ${bridge}`,
    });
  });

  it("names the Corridor origin and the bridge's framers from the Host", () => {
    expect(corridorOriginFor("corridor.localhost", "x--1.corridor.localhost:8080", {})).toBe(
      "http://corridor.localhost:8080",
    );
    expect(corridorOriginFor("corridor.localhost", "x--1.corridor.localhost", {})).toBe(
      "http://corridor.localhost",
    );
    expect(
      corridorOriginFor("apps.example.com", "x--1.apps.example.com", {
        publicUrl: "https://example.com:8443/corridor/",
      }),
    ).toBe("https://example.com:8443");
    expect(
      corridorOriginFor("apps.example.com", "x--1.apps.example.com", {
        pageHosts: ["example.com"],
      }),
    ).toBe("https://example.com");
    expect(corridorOriginFor("apps.example.com", "x--1.apps.example.com", {})).toBeUndefined();
    expect(bridgeFrameAncestors(["apps.example.com", "corridor.localhost"], "example.com:99")).toBe(
      "*.apps.example.com:99 *.corridor.localhost:99",
    );
  });
});

describe("the bridge and the bootstrap's files on corridor serve", () => {
  let dir = "";
  let serve: ServeHandle | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-app-bridge-"));
    const web = join(dir, "web");
    mkdirSync(join(web, "app-bootstrap"), { recursive: true });
    mkdirSync(join(web, "app-bridge"));
    writeFileSync(join(web, "index.html"), "<!doctype html><p>PAGE-MARK</p>\n");
    writeFileSync(join(web, "app-bootstrap", "index.html"), BOOTSTRAP_HTML);
    writeFileSync(join(web, "app-bootstrap", "bootstrap.js"), "/* BOOTSTRAP-JS */\n");
    writeFileSync(join(web, "app-bootstrap", "bootstrap.css"), "/* BOOTSTRAP-CSS */\n");
    writeFileSync(join(web, "app-bootstrap", "sw.js"), SW_JS);
    writeFileSync(join(web, "app-bootstrap", "inject.js"), INJECT_JS);
    writeFileSync(join(web, "app-bridge", "bridge.html"), BRIDGE_HTML);
    serve = await startServe({
      port: 0,
      webRoot: web,
      appsDomains: ["apps.example.com"],
      pageHosts: ["example.com"],
      publicUrl: "https://example.com/",
      relay: { auth: { mode: "open" }, relayId: "app-bridge-test", log: () => {} },
    });
  });

  afterAll(async () => {
    await serve?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves the service worker, for the whole origin, and the injected script", async () => {
    const port = serve!.port;
    for (const host of [
      `web-01--3000.corridor.localhost:${port}`,
      "web-01--3000.apps.example.com",
    ]) {
      const sw = await ask(port, host, "/__corridor/sw.js");
      expect(sw.status).toBe(200);
      expect(sw.body).toBe(SW_JS);
      expect(sw.headers["service-worker-allowed"]).toBe("/");
      expect(sw.headers["cache-control"]).toBe("no-store");
      expect(sw.headers["content-type"]).toBe("text/javascript; charset=utf-8");
      const inject = await ask(port, host, "/__corridor/inject.js");
      expect(inject.body).toBe(INJECT_JS);
      expect(inject.headers["service-worker-allowed"]).toBeUndefined();
      const page = await ask(port, host, "/__corridor/bootstrap");
      expect(page.body).toBe(BOOTSTRAP_HTML);
      expect(page.headers["content-security-policy"]).toContain("worker-src 'self'");
    }
  });

  it("names the Corridor origin in config.json and lets the bootstrap frame only it", async () => {
    const port = serve!.port;
    const local = await ask(
      port,
      `web-01--3000.corridor.localhost:${port}`,
      "/__corridor/config.json",
    );
    expect(local.status).toBe(200);
    expect(local.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(local.body)).toEqual({ corridorOrigin: `http://corridor.localhost:${port}` });
    expect(local.headers["content-security-policy"]).toBe(appOriginCsp());
    const page = await ask(port, `web-01--3000.corridor.localhost:${port}`, "/x");
    expect(page.headers["content-security-policy"]).toContain(
      `frame-src http://corridor.localhost:${port};`,
    );
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    const prod = await ask(port, "web-01--3000.apps.example.com", "/__corridor/config.json");
    expect(JSON.parse(prod.body)).toEqual({ corridorOrigin: "https://example.com" });
  });

  it("never serves the bridge on an app origin, nor other /__corridor/ paths", async () => {
    const port = serve!.port;
    for (const host of [
      `web-01--3000.corridor.localhost:${port}`,
      "web-01--3000.apps.example.com",
    ]) {
      for (const path of [
        "/__corridor/bridge",
        "/__corridor/bridge?x",
        "/__corridor/",
        "/__corridor/x.js",
      ]) {
        const reply = await ask(port, host, path);
        expect(reply.status, `${host} ${path}`).toBe(404);
        expect(reply.body).not.toContain("BRIDGE-MARK");
      }
    }
  });

  it("serves the bridge on the Corridor origin with the apps domains and their framers only", async () => {
    const port = serve!.port;
    for (const host of [`corridor.localhost:${port}`, `127.0.0.1:${port}`, "example.com"]) {
      const reply = await ask(port, host, "/__corridor/bridge");
      expect(reply.status, host).toBe(200);
      expect(reply.body).toContain(
        '<meta name="corridor-apps-domains" content="corridor.localhost apps.example.com">',
      );
      expect(reply.body).toContain("BRIDGE-MARK");
      expect(reply.headers["cache-control"]).toBe("no-store");
      const csp = String(reply.headers["content-security-policy"]);
      const portPart = host.includes(":") ? `:${port}` : "";
      expect(csp).toContain(
        `frame-ancestors *.corridor.localhost${portPart} *.apps.example.com${portPart}`,
      );
      expect(csp).not.toContain("frame-ancestors 'none'");
      expect(csp.match(/frame-ancestors/g)).toHaveLength(1);
      expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    }
    const head = await ask(port, `corridor.localhost:${port}`, "/__corridor/bridge", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(
      (await ask(port, `corridor.localhost:${port}`, "/__corridor/bridge", "POST")).status,
    ).toBe(405);
  });

  it("hides the build's bootstrap and bridge directories on the Corridor origin", async () => {
    const port = serve!.port;
    for (const path of [
      "/app-bridge/bridge.html",
      "/app-bootstrap/sw.js",
      "/app-bootstrap/index.html",
      "/app-bootstrap/inject.js",
    ]) {
      const reply = await ask(port, `corridor.localhost:${port}`, path);
      expect(reply.status, path).toBe(404);
    }
    expect((await ask(port, `corridor.localhost:${port}`, "/")).body).toContain("PAGE-MARK");
  });

  it("says so when the build has no bridge, or no service worker", async () => {
    const web = join(dir, "bare");
    mkdirSync(join(web, "app-bootstrap"), { recursive: true });
    writeFileSync(join(web, "index.html"), "<!doctype html><p>PAGE-MARK</p>\n");
    writeFileSync(join(web, "app-bootstrap", "index.html"), BOOTSTRAP_HTML);
    writeFileSync(join(web, "app-bootstrap", "bootstrap.js"), "/* BOOTSTRAP-JS */\n");
    writeFileSync(join(web, "app-bootstrap", "bootstrap.css"), "/* BOOTSTRAP-CSS */\n");
    const bare = await startServe({
      port: 0,
      webRoot: web,
      relay: { auth: { mode: "open" }, relayId: "app-bridge-bare", log: () => {} },
    });
    try {
      const port = bare.port;
      const bridge = await ask(port, `corridor.localhost:${port}`, "/__corridor/bridge");
      expect(bridge.status).toBe(503);
      expect(bridge.body).toContain("not built");
      const sw = await ask(port, `web-01--3000.corridor.localhost:${port}`, "/__corridor/sw.js");
      expect(sw.status).toBe(503);
      const page = await ask(port, `web-01--3000.corridor.localhost:${port}`, "/");
      expect(page.body).toBe(BOOTSTRAP_HTML);
    } finally {
      await bare.close();
    }
  });
});
