// The answers on an app origin (DESIGN §9.4, docs/private-urls.md). A request reaching this
// server for an app origin's path means the origin's service worker is not in charge (first
// visit, Shift+Reload, a worker the browser stopped with no tab to ask for a port): every such
// path gets the bootstrap, a small static HTML page whose script installs the service worker,
// links it to the engine through the bridge (web/app-bridge/) and reloads. Whatever the path
// (a deep link such as /tree?x=1 lands on the bootstrap, which reloads it once the service
// worker carries it), whatever the method. Under /__corridor/ are the bootstrap's own files:
// its script and style, the service worker (`Service-Worker-Allowed: /`), the script the
// worker injects into the app's pages, config.json naming the Corridor origin (where the
// bridge lives), and the bootstrap page itself at /__corridor/bootstrap (the service worker
// fetches it when it has no port). Any other /__corridor/ path is 404, the bridge included: it
// lives on the Corridor origin only. Nothing of the Corridor origin is ever answered here: not
// the page or its assets, not the API, not /control. A Host under an apps domain that names no
// service gets a 400 page saying why.
//
// The files come from the build (dist/app-bootstrap/, written by vite.config.ts); nothing is
// injected into them (the label is read from location.hostname), so they hold no secret and can
// be static. Every answer is `no-store`: a bootstrap or worker kept in a cache would outlive the
// link it is meant to make.

import { promises as fs } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { type AppHost, type AppOrigins, corridorOriginFor } from "./app-origin.ts";
import { type FileStamp, indexStamp, sameStamp } from "./site.ts";

/** Where the build puts the bootstrap, under the web root. */
export const BOOTSTRAP_DIR = "app-bootstrap";

/** A file of the bootstrap's build served at a fixed path of every app origin. */
interface BootstrapFile {
  file: string;
  type: string;
  /** Extra headers (the service worker's scope). */
  headers?: Record<string, string>;
}

const JS = "text/javascript; charset=utf-8";

/** The URL paths of the bootstrap's own files on an app origin. */
export const BOOTSTRAP_FILES: Readonly<Record<string, BootstrapFile>> = {
  "/__corridor/bootstrap.js": { file: "bootstrap.js", type: JS },
  "/__corridor/bootstrap.css": { file: "bootstrap.css", type: "text/css; charset=utf-8" },
  // Its URL is under /__corridor/, its scope the whole origin.
  "/__corridor/sw.js": { file: "sw.js", type: JS, headers: { "Service-Worker-Allowed": "/" } },
  "/__corridor/inject.js": { file: "inject.js", type: JS },
};

/** The bootstrap page at a fixed path, for the service worker to fetch when it has no port. */
export const BOOTSTRAP_PAGE_PATH = "/__corridor/bootstrap";
/** The JSON naming the Corridor origin (web/app-bridge/client.ts reads it). */
export const CONFIG_PATH = "/__corridor/config.json";

/**
 * The Content-Security-Policy of every app-origin answer: nothing but this origin's own script,
 * style and service worker; frames of the Corridor origin only (the bridge), when known; no
 * inline code, no framing of it elsewhere, no forms.
 */
export function appOriginCsp(corridorOrigin?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "worker-src 'self'",
    ...(corridorOrigin === undefined ? [] : [`frame-src ${corridorOrigin}`]),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The policy without a Corridor origin (no frames at all). */
export const APP_ORIGIN_CSP = appOriginCsp();

/** The headers of every app-origin answer. */
export function appOriginHeaders(
  contentType: string,
  length: number,
  corridorOrigin?: string,
): Record<string, string> {
  return {
    "Content-Type": contentType,
    "Content-Length": String(length),
    "Cache-Control": "no-store",
    "Content-Security-Policy": appOriginCsp(corridorOrigin),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  };
}

/** The bootstrap's files as read from the build. */
interface Bootstrap {
  stamp: FileStamp;
  html: Buffer;
  /** By URL path; the service worker and injected script are absent from an older build. */
  files: Map<string, Buffer>;
}

async function readBootstrap(dir: string): Promise<Bootstrap | undefined> {
  const stamp = await indexStamp(dir);
  if (stamp === undefined) return undefined;
  try {
    const html = await fs.readFile(join(dir, "index.html"));
    const files = new Map<string, Buffer>();
    for (const [path, { file }] of Object.entries(BOOTSTRAP_FILES)) {
      const bytes = await fs.readFile(join(dir, file)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT" && (file === "sw.js" || file === "inject.js")) return undefined;
        throw error;
      });
      if (bytes !== undefined) files.set(path, bytes);
    }
    return { stamp, html, files };
  } catch {
    return undefined; // a build without the bootstrap's script or style, or mid-rebuild
  }
}

/** Where the page is, for config.json (corridorOriginFor). */
export interface PageLocation {
  /** `corridor serve --public-url`. */
  publicUrl?: string | undefined;
  /** Names that are the page (the public URL's host). */
  pageHosts?: readonly string[];
}

/** Text for HTML, escaped. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The 400 page for a Host under an apps domain that names no service. */
export function invalidLabelPage(host: Extract<AppHost, { kind: "invalid" }>): string {
  const domain = escapeHtml(host.appsDomain);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not a private URL</title>
<link rel="stylesheet" href="/__corridor/bootstrap.css">
</head>
<body>
<main class="card">
<h1>Not a private URL</h1>
<p><code>${escapeHtml(host.label)}.${domain}</code> names no private service.</p>
<p class="problem">${escapeHtml(host.reason)}</p>
<p>A private URL names a host of the mesh and a port: <code>web-01--3000.${domain}</code>
(IPv4 <code>10-8-0-1--8080.${domain}</code>; IPv6 <code>ip6--fd7a-115c-x-1--80.${domain}</code>;
add <code>--https</code> after the port for a service that speaks TLS).
Open services from the Corridor page to get their URL.</p>
</main>
</body>
</html>
`;
}

/** Answers the requests of app origins; hands back those of the Corridor origin. */
export class AppOriginServer {
  private bootstrap: Bootstrap | undefined;
  private reloading: Promise<Bootstrap | undefined> | undefined;

  private constructor(
    private readonly dir: string,
    /** Which Host names an app origin. */
    readonly origins: AppOrigins,
    private readonly page: PageLocation,
    bootstrap: Bootstrap | undefined,
  ) {
    this.bootstrap = bootstrap;
  }

  /**
   * Reads the bootstrap under `webRoot`/app-bootstrap. A build without it does not fail: app
   * origins then answer 503 saying so (the page and everything else are unaffected). `page`
   * says where the Corridor page is, for config.json and the bootstrap's frame-src.
   */
  static async load(
    webRoot: string,
    origins: AppOrigins,
    page: PageLocation = {},
  ): Promise<AppOriginServer> {
    const dir = join(webRoot, BOOTSTRAP_DIR);
    return new AppOriginServer(dir, origins, page, await readBootstrap(dir));
  }

  /** Answers `req` when its Host is an app origin (true); false: the Corridor origin's. */
  request(req: IncomingMessage, res: ServerResponse): boolean {
    const host = this.origins.classify(req.headers.host);
    if (host.kind === "main") return false;
    this.respond(req, res, host).catch(() => {
      if (!res.headersSent)
        this.send(req, res, 500, "text/plain; charset=utf-8", "internal error\n");
      else res.destroy();
    });
    return true;
  }

  /**
   * Refuses a WebSocket upgrade to an app origin (true): the app's WebSockets are carried by
   * the engine, never by this server. False: the Corridor origin's upgrade.
   */
  upgrade(req: IncomingMessage, socket: Duplex): boolean {
    if (this.origins.classify(req.headers.host).kind === "main") return false;
    const text = "an app origin's WebSockets are carried by the engine, not by this server\n";
    socket.end(
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\n` +
        `Connection: close\r\n\r\n${text}`,
    );
    return true;
  }

  private async respond(
    req: IncomingMessage,
    res: ServerResponse,
    host: Exclude<AppHost, { kind: "main" }>,
  ): Promise<void> {
    const path = (req.url ?? "/").split(/[?#]/)[0] ?? "/";
    const own = BOOTSTRAP_FILES[path];
    const text = "text/plain; charset=utf-8";
    const corridor = corridorOriginFor(host.appsDomain, req.headers.host, this.page);
    if (own === undefined && host.kind === "invalid") {
      this.send(req, res, 400, "text/html; charset=utf-8", invalidLabelPage(host));
      return;
    }
    if (path === CONFIG_PATH) {
      if (corridor === undefined) {
        const why = "this server knows no public URL for its page (corridor serve --public-url)\n";
        this.send(req, res, 503, text, why);
      } else {
        this.send(
          req,
          res,
          200,
          "application/json",
          `${JSON.stringify({ corridorOrigin: corridor })}\n`,
        );
      }
      return;
    }
    if (own === undefined && path.startsWith("/__corridor/") && path !== BOOTSTRAP_PAGE_PATH) {
      // The bridge included: it is served on the Corridor origin only.
      this.send(req, res, 404, text, `${path} is not a file of an app origin\n`);
      return;
    }
    const bootstrap = await this.current(own === undefined);
    if (bootstrap === undefined) {
      const why = "The app bootstrap is not built (npm run build writes dist/app-bootstrap/).\n";
      this.send(req, res, 503, text, why);
      return;
    }
    if (own !== undefined) {
      const bytes = bootstrap.files.get(path);
      if (bytes === undefined) {
        this.send(req, res, 503, text, `${path} is not in this build (npm run build)\n`);
      } else {
        this.send(req, res, 200, own.type, bytes, corridor, own.headers);
      }
    } else {
      this.send(req, res, 200, "text/html; charset=utf-8", bootstrap.html, corridor);
    }
  }

  /** The bootstrap; when `check`, re-read first if index.html changed on disk (a rebuild). */
  private async current(check: boolean): Promise<Bootstrap | undefined> {
    if (check) {
      const stamp = await indexStamp(this.dir);
      const known = this.bootstrap?.stamp;
      if (stamp !== undefined && (known === undefined || !sameStamp(stamp, known))) {
        this.reloading ??= readBootstrap(this.dir).finally(() => {
          this.reloading = undefined;
        });
        this.bootstrap = (await this.reloading) ?? this.bootstrap;
      }
    }
    return this.bootstrap;
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    corridorOrigin?: string,
    extra: Record<string, string> = {},
  ): void {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    res.writeHead(status, { ...appOriginHeaders(type, bytes.length, corridorOrigin), ...extra });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }
}
