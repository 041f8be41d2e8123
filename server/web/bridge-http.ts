// The bridge page on the Corridor origin (docs/private-urls.md, "Bridge and bootstrap"):
// /__corridor/bridge, the page an app origin frames to reach the engine (web/app-bridge/).
// Built by Vite with the page (dist/app-bridge/bridge.html, its script among the page's hashed
// assets, so it joins the very SharedWorker the page runs); served here with the apps domains
// written into its <meta name="corridor-apps-domains"> (the bridge accepts requests only from
// one label under them) and a CSP whose frame-ancestors name those domains' wildcards and
// nothing else. serve.ts calls it for the Corridor origin only: an app origin's Host never
// reaches it (app-origin-http.ts answers /__corridor/bridge there with 404).

import { promises as fs } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { bridgeFrameAncestors } from "./app-origin.ts";
import { securityHeaders } from "./headers.ts";

/** The bridge page's URL path on the Corridor origin. */
export const BRIDGE_PATH = "/__corridor/bridge";
/** Where the build puts the bridge page, under the web root. */
export const BRIDGE_FILE = join("app-bridge", "bridge.html");
/** The build's directories that are served only through their own paths, never as files. */
export const HIDDEN_DIRS = ["/app-bridge/", "/app-bootstrap/"] as const;

/** The meta element the apps domains go into (its content is empty in the build). */
const META = /<meta name="corridor-apps-domains" content="[^"]*">/;

/** Text for an HTML attribute, escaped. */
function escapeAttr(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The headers of the bridge page for a request with this Host header. */
export function bridgeHeaders(
  appsDomains: readonly string[],
  hostHeader: string | undefined,
): Record<string, string> {
  const headers = securityHeaders(hostHeader);
  const csp = headers["Content-Security-Policy"] ?? "";
  headers["Content-Security-Policy"] = csp.replace(
    "frame-ancestors 'none'",
    `frame-ancestors ${bridgeFrameAncestors(appsDomains, hostHeader)}`,
  );
  return { ...headers, "Cache-Control": "no-store" };
}

/** Serves /__corridor/bridge on the Corridor origin. */
export class BridgePage {
  private html: Promise<string | undefined> | undefined;

  /** `appsDomains`: every apps domain (AppOrigins.appsDomains), corridor.localhost included. */
  constructor(
    private readonly webRoot: string,
    private readonly appsDomains: readonly string[],
  ) {}

  /** Answers `req` when it is for the bridge or a hidden build directory (true). */
  request(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? "/").split(/[?#]/)[0] ?? "/";
    if (HIDDEN_DIRS.some((dir) => path.startsWith(dir))) {
      // The bootstrap and the bridge's raw HTML are not the Corridor page's files.
      this.send(req, res, 404, "text/plain; charset=utf-8", "not found\n");
      return true;
    }
    if (path !== BRIDGE_PATH) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.send(req, res, 405, "text/plain; charset=utf-8", "method not allowed\n", {
        Allow: "GET, HEAD",
      });
      return true;
    }
    this.page().then(
      (html) => {
        if (html === undefined) {
          const why = "The bridge is not built (npm run build writes dist/app-bridge/).\n";
          this.send(req, res, 503, "text/plain; charset=utf-8", why);
        } else {
          this.send(req, res, 200, "text/html; charset=utf-8", html, {
            ...bridgeHeaders(this.appsDomains, req.headers.host),
          });
        }
      },
      () => this.send(req, res, 500, "text/plain; charset=utf-8", "internal error\n"),
    );
    return true;
  }

  /**
   * The page with the apps domains written in. Read each time it is asked for (it is small and
   * asked for once per app tab), so a rebuild is picked up; the read is shared while in flight.
   */
  private page(): Promise<string | undefined> {
    this.html ??= fs
      .readFile(join(this.webRoot, BRIDGE_FILE), "utf8")
      .then(
        (text) =>
          META.test(text)
            ? text.replace(
                META,
                `<meta name="corridor-apps-domains" content="${escapeAttr(this.appsDomains.join(" "))}">`,
              )
            : undefined, // not the bridge as built: refuse rather than serve it without domains
        () => undefined,
      )
      .finally(() => {
        this.html = undefined;
      });
    return this.html;
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    type: string,
    body: string,
    headers: Record<string, string> = securityHeaders(req.headers.host),
  ): void {
    const bytes = Buffer.from(body);
    res.writeHead(status, {
      "Cache-Control": "no-store",
      ...headers,
      "Content-Type": type,
      "Content-Length": String(bytes.length),
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }
}
