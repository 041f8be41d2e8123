// App origins on `corridor serve` (server/web/app-origin*.ts, docs/private-urls.md): a Host of
// `<label>.corridor.localhost` (or `<label>.<--apps-domain>`) gets the bootstrap for every path
// and method, never the page, its assets, the API, /control or the relay; a label that names no
// service gets a 400 page; the main host is unchanged; --apps-domain is checked at start.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionClearCookie, sessionSetCookie } from "../../server/control/auth/sessions.ts";
import type { HttpMount } from "../../server/control/http.ts";
import { AppOrigins, checkAppsDomain } from "../../server/web/app-origin.ts";
import { APP_ORIGIN_CSP, appOriginCsp } from "../../server/web/app-origin-http.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";

const BOOTSTRAP_HTML = "<!doctype html><title>bootstrap</title><p>BOOTSTRAP-MARK</p>\n";
const BOOTSTRAP_JS = "/* BOOTSTRAP-JS */\n";
const BOOTSTRAP_CSS = "/* BOOTSTRAP-CSS */\n";
const PAGE_HTML = "<!doctype html><title>corridor</title><p>PAGE-MARK</p>\n";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the server with this Host header (fetch cannot set Host). */
function ask(
  port: number,
  host: string,
  path: string,
  method = "GET",
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, headers: { host, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(method === "POST" ? "a=1" : undefined);
  });
}

/** A WebSocket upgrade with this Host; the status line it got (101 would be an accepted one). */
function askUpgrade(port: number, host: string, path: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path,
      headers: {
        host,
        origin,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-protocol": "corridor-relay.v1",
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("app origins on corridor serve", () => {
  let dir = "";
  let serve: ServeHandle | undefined;
  const mounted: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "corridor-app-origin-"));
    const web = join(dir, "web");
    mkdirSync(join(web, "assets"), { recursive: true });
    mkdirSync(join(web, "app-bootstrap"));
    writeFileSync(join(web, "index.html"), PAGE_HTML);
    writeFileSync(join(web, "assets", "index-abc.js"), "/* PAGE-ASSET */\n");
    writeFileSync(join(web, "download-sw.js"), "/* PAGE-SW */\n");
    writeFileSync(join(web, "app-bootstrap", "index.html"), BOOTSTRAP_HTML);
    writeFileSync(join(web, "app-bootstrap", "bootstrap.js"), BOOTSTRAP_JS);
    writeFileSync(join(web, "app-bootstrap", "bootstrap.css"), BOOTSTRAP_CSS);
    // Stands for the control server: every path it takes is recorded.
    const mount: HttpMount = {
      request(req, res) {
        const path = (req.url ?? "/").split("?")[0]!;
        if (!/^\/(api\/|login|approve\/)/.test(path)) return false;
        mounted.push(`${req.headers.host} ${path}`);
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"mark":"API-MARK"}');
        return true;
      },
      upgrade(req, socket) {
        if ((req.url ?? "").split("?")[0] !== "/control") return false;
        mounted.push(`${req.headers.host} upgrade /control`);
        socket.destroy();
        return true;
      },
    };
    serve = await startServe({
      port: 0,
      webRoot: web,
      mount,
      appsDomains: ["apps.example.com"],
      pageHosts: ["example.com"],
      relay: { auth: { mode: "open" }, relayId: "app-origin-test", log: () => {} },
    });
  });

  afterAll(async () => {
    await serve?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const appHosts = (port: number) => [
    `web-01--3000.corridor.localhost:${port}`,
    "10-8-0-1--8080.corridor.localhost",
    `IP6--FD7A-115C-X-1--80--HTTPS.Corridor.Localhost.:${port}`,
    "web-01--3000.apps.example.com",
  ];

  /** The Corridor origin an app host's bootstrap may frame (the bridge's). */
  const corridorOf = (host: string) => {
    if (host.endsWith("apps.example.com")) return "https://example.com";
    const port = /:(\d+)$/.exec(host)?.[1];
    return `http://corridor.localhost${port === undefined ? "" : `:${port}`}`;
  };

  it("answers every path and method of an app origin with the bootstrap, never the page, API or control", async () => {
    const port = serve!.port;
    const paths = [
      "/",
      "/deep/path?x=1",
      "/tree?x=1#frag",
      "/index.html",
      "/assets/index-abc.js",
      "/download-sw.js",
      "/app-bootstrap/index.html",
      "/api/v1/session",
      "/api/v1/nodes?x=1",
      "/login",
      "/login/owner",
      "/approve/abc",
      "/control",
      "/__corridor/bootstrap",
      "/__corridor/bootstrap?x=1",
      "/%2e%2e/etc/passwd",
      "/..%2f..%2fetc",
    ];
    for (const host of appHosts(port)) {
      for (const path of paths) {
        for (const method of ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]) {
          const reply = await ask(port, host, path, method);
          const what = `${method} ${host} ${path}`;
          expect(reply.status, what).toBe(200);
          expect(reply.headers["content-type"], what).toBe("text/html; charset=utf-8");
          expect(reply.headers["cache-control"], what).toBe("no-store");
          expect(reply.headers["content-security-policy"], what).toBe(
            appOriginCsp(corridorOf(host)),
          );
          expect(reply.headers["set-cookie"], what).toBeUndefined();
          expect(reply.body, what).toBe(method === "HEAD" ? "" : BOOTSTRAP_HTML);
        }
      }
    }
    expect(mounted).toEqual([]);
    expect(APP_ORIGIN_CSP).not.toContain("unsafe");
  });

  it("serves the bootstrap's own script and style on app origins", async () => {
    const port = serve!.port;
    for (const host of appHosts(port)) {
      const js = await ask(port, host, "/__corridor/bootstrap.js?v=1");
      expect(js.status).toBe(200);
      expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
      expect(js.headers["cache-control"]).toBe("no-store");
      expect(js.body).toBe(BOOTSTRAP_JS);
      const css = await ask(port, host, "/__corridor/bootstrap.css");
      expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
      expect(css.body).toBe(BOOTSTRAP_CSS);
    }
  });

  it("keeps the relay's own paths from an app origin: no health, metrics or relay session", async () => {
    const port = serve!.port;
    for (const host of appHosts(port)) {
      // The relay answers these before any fallback; for an app origin's Host it gives nothing.
      const health = await ask(port, host, "/healthz");
      expect(health.status, host).toBe(421);
      expect(health.body).not.toContain("ok");
      const metrics = await ask(port, host, "/metrics");
      expect(metrics.status, host).toBe(421);
      expect(metrics.body).not.toContain("corridor_");
      const relay = await ask(port, host, "/relay");
      expect(relay.status, host).toBe(426);
      const origin = `http://${host.replace(/:\d+$/, "").replace(/\.$/, "")}:${port}`;
      expect(await askUpgrade(port, host, "/relay", origin), host).toBe(403);
      expect(await askUpgrade(port, host, "/control", origin), host).toBe(403);
      expect(await askUpgrade(port, host, "/anything", origin), host).toBe(403);
    }
    expect(mounted).toEqual([]);
  });

  it("answers a label that names no service with a 400 page saying why", async () => {
    const port = serve!.port;
    const cases: [string, string][] = [
      ["web--01--3000.corridor.localhost", "has too many &#34;--&#34; fields"],
      ["web-01.corridor.localhost", "names no port: expected host--port"],
      ["web-01--99999.corridor.localhost", "is not a number from 1 to 65535"],
      ["a.web-01--3000.corridor.localhost", "is more than one label"],
      ["a_b.corridor.localhost", "is not a host name label"],
      ["A_B.Corridor.Localhost.", "is not a host name label"],
      [
        "10-08-0-1--80.apps.example.com",
        "is not canonical: the address is written &#34;10-8-0-1&#34;",
      ],
    ];
    for (const [host, why] of cases) {
      for (const path of ["/", "/api/v1/session", "/deep?x=<script>"]) {
        const reply = await ask(port, `${host}:${port}`, path);
        expect(reply.status, host).toBe(400);
        expect(reply.headers["content-type"]).toBe("text/html; charset=utf-8");
        expect(reply.headers["cache-control"]).toBe("no-store");
        expect(reply.headers["content-security-policy"]).toBe(APP_ORIGIN_CSP);
        expect(reply.body, host).toContain("Not a private URL");
        expect(reply.body, host).toContain(why);
        expect(reply.body).not.toContain("<script");
      }
      // The 400 page's style is there too.
      expect((await ask(port, host, "/__corridor/bootstrap.css")).body).toBe(BOOTSTRAP_CSS);
    }
    expect(mounted).toEqual([]);
  });

  it("leaves the main host as it was: the page, its assets, the API and the relay's paths", async () => {
    const port = serve!.port;
    for (const host of [
      `127.0.0.1:${port}`,
      `corridor.localhost:${port}`,
      `localhost:${port}`,
      "example.com",
      "other.example.org",
    ]) {
      const page = await ask(port, host, "/");
      expect(page.status, host).toBe(200);
      expect(page.body, host).toBe(PAGE_HTML);
      expect(page.headers["content-security-policy"]).toContain("'wasm-unsafe-eval'");
      expect((await ask(port, host, "/assets/index-abc.js")).body).toBe("/* PAGE-ASSET */\n");
      expect((await ask(port, host, "/deep/path")).status).toBe(404);
      const api = await ask(port, host, "/api/v1/session");
      expect(api.body, host).toBe('{"mark":"API-MARK"}');
    }
    expect((await ask(port, `127.0.0.1:${port}`, "/healthz")).body).toContain("ok");
    expect(mounted).toHaveLength(5);
  });

  it("says so when the build has no bootstrap, and keeps serving the page", async () => {
    const web = join(dir, "bare");
    mkdirSync(web);
    writeFileSync(join(web, "index.html"), PAGE_HTML);
    const bare = await startServe({
      port: 0,
      webRoot: web,
      relay: { auth: { mode: "open" }, relayId: "app-origin-bare", log: () => {} },
    });
    try {
      const reply = await ask(bare.port, "web-01--3000.corridor.localhost", "/x");
      expect(reply.status).toBe(503);
      expect(reply.body).toContain("The app bootstrap is not built");
      expect((await ask(bare.port, "corridor.localhost", "/")).body).toBe(PAGE_HTML);
    } finally {
      await bare.close();
    }
  });
});

describe("app origins: the Host and the apps domain", () => {
  it("classifies hosts", () => {
    const origins = new AppOrigins(["apps.example.com"], new Set(["corridor.apps.example.com"]));
    expect(origins.classify("web-01--3000.corridor.localhost:8080")).toEqual({
      kind: "service",
      label: "web-01--3000",
      appsDomain: "corridor.localhost",
      service: { host: "web-01", port: 3000, scheme: "http" },
    });
    expect(origins.classify("corridor.localhost:8080")).toEqual({ kind: "main" });
    expect(origins.classify("corridor.apps.example.com")).toEqual({ kind: "main" });
    expect(origins.classify("xcorridor.localhost")).toEqual({ kind: "main" });
    expect(origins.classify(undefined)).toEqual({ kind: "main" });
    expect(origins.classify("[::1]:8080")).toEqual({ kind: "main" });
    expect(origins.classify("10-8-0-1--8080.apps.example.com").kind).toBe("service");
    expect(origins.classify("x.apps.example.com").kind).toBe("invalid");
  });

  it('fails closed on a Host under an apps domain that is no host name (Chromium sends "_")', () => {
    const origins = new AppOrigins(["apps.example.com"], new Set(["corridor.apps.example.com"]));
    const hosts = [
      "a_b.corridor.localhost",
      "A_B.CORRIDOR.LOCALHOST",
      "a_b.corridor.localhost.",
      "a_b.corridor.localhost..",
      "a_b.corridor.localhost:8080",
      "A_b.Corridor.Localhost.:8080",
      "a_b.corridor.localhost:bad",
      " a_b.corridor.localhost ",
      "x y.corridor.localhost",
      "a_b.apps.example.com:443",
      "web_01--80.APPS.example.com.",
    ];
    for (const host of hosts) {
      const got = origins.classify(host);
      expect(got.kind, host).toBe("invalid");
      if (got.kind === "invalid") expect(got.reason, host).toMatch(/is not a host name label/);
    }
    expect(origins.classify("web-01--3000.corridor.localhost:99999999")).toMatchObject({
      kind: "invalid",
      label: "web-01--3000",
      reason: 'the Host header "web-01--3000.corridor.localhost:99999999" is malformed (its port?)',
    });
    expect(origins.classify("a_b.corridor.localhost")).toMatchObject({
      label: "a_b",
      appsDomain: "corridor.localhost",
    });
    expect(origins.classify("A_B.Apps.Example.Com.:8080")).toMatchObject({
      label: "a_b",
      appsDomain: "apps.example.com",
    });
    // Odd hosts elsewhere stay the page's (the relay's host check answers them).
    for (const host of ["a_b.example.org", "corridor.localhost:bad", "a_bcorridor.localhost"]) {
      expect(origins.classify(host), host).toEqual({ kind: "main" });
    }
    expect(origins.classify("corridor.apps.example.com:bad")).toEqual({ kind: "main" });
  });

  it("checks --apps-domain against the page's site, saying why", () => {
    expect(checkAppsDomain("Apps.Example.com.", "example.com")).toBe("apps.example.com");
    expect(checkAppsDomain("apps.example.com", "corridor.example.com")).toBe("apps.example.com");
    expect(checkAppsDomain("apps.example.co.uk", "corridor.example.co.uk")).toBe(
      "apps.example.co.uk",
    );
    expect(checkAppsDomain("apps.corridor.localhost", "corridor.localhost")).toBe(
      "apps.corridor.localhost",
    );
    const refused: [string, string, string][] = [
      [
        "apps.other.com",
        "example.com",
        "--apps-domain apps.other.com is not under the page's site example.com (page at example.com): the app origins would be cross-site with the page, so the browser would partition the bridge iframe's storage and the app could not reach the engine; use a name under example.com, such as apps.example.com",
      ],
      [
        "apps.co.uk",
        "corridor.example.co.uk",
        "--apps-domain apps.co.uk is not under the page's site example.co.uk (page at corridor.example.co.uk): the app origins would be cross-site with the page, so the browser would partition the bridge iframe's storage and the app could not reach the engine; use a name under example.co.uk, such as apps.example.co.uk",
      ],
      [
        "localhost",
        "corridor.localhost",
        "--apps-domain localhost: not a DNS name with at least two labels (e.g. apps.example.com)",
      ],
      [
        "apps.localhost",
        "corridor.localhost",
        "--apps-domain apps.localhost is not under the page's site corridor.localhost (page at corridor.localhost): the app origins would be cross-site with the page, so the browser would partition the bridge iframe's storage and the app could not reach the engine; use a name under corridor.localhost, such as apps.corridor.localhost",
      ],
      [
        "*.apps.example.com",
        "example.com",
        '--apps-domain *.apps.example.com: give the domain without "*." (apps are at <label>.apps.example.com; the wildcard is for DNS and the certificate)',
      ],
      [
        "apps_x.example.com",
        "example.com",
        "--apps-domain apps_x.example.com: not a DNS name with at least two labels (e.g. apps.example.com)",
      ],
      [
        "apps.example.com",
        "10.0.0.1",
        "--apps-domain apps.example.com: the page is served at 10.0.0.1, which has no registrable site (an IP address or a bare name); app origins must be same-site with the page, so serve it under a name (--public-url https://corridor.example.com/) and put the apps under that site",
      ],
      [
        "example.com",
        "example.com",
        "--apps-domain example.com is the page's own host: use a name below the site for the apps alone, such as apps.example.com",
      ],
    ];
    for (const [domain, page, message] of refused) {
      expect(() => checkAppsDomain(domain, page), domain).toThrow(new Error(message));
    }
  });

  it("keeps the Corridor session cookie host-only, so app origins never get it", () => {
    for (const secure of [false, true]) {
      for (const cookie of [sessionSetCookie("v", secure, 60_000, 0), sessionClearCookie(secure)]) {
        expect(cookie.toLowerCase()).not.toContain("domain");
        expect(cookie).toContain("HttpOnly");
      }
    }
  });
});

describe("corridor serve --apps-domain and its start lines", () => {
  const bin = join(process.cwd(), "cli", "corridor.mjs");

  it("refuses an apps domain the page's site does not hold, with the reason", () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, "serve", "--port", "0", ...args], {
        encoding: "utf8",
        timeout: 30_000,
      });
    const cross = run(
      "--public-url",
      "https://corridor.example.com/",
      "--apps-domain",
      "apps.other.com",
    );
    expect(cross.status).toBe(2);
    expect(cross.stderr).toContain(
      "--apps-domain apps.other.com is not under the page's site example.com",
    );
    expect(cross.stderr).toContain("partition the bridge iframe's storage");
    const loopback = run("--apps-domain", "apps.example.com");
    expect(loopback.status).toBe(2);
    expect(loopback.stderr).toContain(
      "--apps-domain apps.example.com is not under the page's site corridor.localhost",
    );
    const ip = run("--host", "0.0.0.0", "--open", "--apps-domain", "apps.example.com");
    expect(ip.status).toBe(2);
    expect(ip.stderr).toContain("the page is served at 127.0.0.1, which has no registrable site");
  });

  it("prints the page's corridor.localhost address and where private URLs live", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corridor-app-origin-cli-"));
    try {
      const web = join(dir, "web");
      mkdirSync(web);
      writeFileSync(join(web, "index.html"), PAGE_HTML);
      const child = spawn(
        process.execPath,
        [bin, "serve", "--port", "0", "--web", web, "--data", join(dir, "data")],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      const deadline = Date.now() + 30_000;
      while (!stdout.includes("/control") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      const port = /Corridor is running at http:\/\/127\.0\.0\.1:(\d+)\/\n/.exec(stdout)?.[1];
      expect(port, stdout).toBeDefined();
      // The wording around it is the CLI's (cli/serve.ts); the addresses are this server's.
      expect(stdout).toMatch(
        /\nprivate URLs \(.*\) at http:\/\/<host>--<port>\.corridor\.localhost:(\d+)\//,
      );
      expect(stdout).toContain(
        `corridor.localhost:${port}/, e.g. http://web-01--3000.corridor.localhost:${port}/`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
