// Serves the built page (Vite's dist/) over node:http for `corridor serve`: "/" and
// "/index.html" are the page, and so is a share link's path "/s/<id>" (issue 17: the id is
// the path, the secret the fragment); every other path is a file of the snapshot (site.ts) or
// a 404. There is no SPA fallback: the page keeps its state in the URL hash. Hashed assets are
// cached for a year, everything else revalidates (ETag, If-None-Match → 304); compressible
// files go out as brotli or gzip when the client accepts them. Request paths are hostile
// input: malformed or traversing ones get 400, and only files of the snapshot are ever read.

import type { IncomingMessage, ServerResponse } from "node:http";
import { securityHeaders } from "./headers.ts";
import {
  type FileStamp,
  indexStamp,
  loadSite,
  type Representation,
  type Site,
  type SiteFile,
  sameStamp,
} from "./site.ts";

/** A share link's path: "/s/" and the share's public id (worker/api/shares.ts SHARE_ID). */
const SHARE_PATH = /^\/s\/[A-Za-z0-9_-]{16,64}\/?$/;

/** The verdict on a request target: the site path it names, or why it names none. */
export type SitePath = { ok: true; path: string } | { ok: false; status: 400; reason: string };

// Percent-encoded "/", "\" and NUL: a decoded slash would let one segment hide a traversal.
const ENCODED_SEPARATOR = /%(?:2f|5c|00)/i;
// Control characters and backslashes, after decoding.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

/**
 * The site path a request target names ("/" and "/s/<id>" are "/index.html"), or 400 with a reason. Only
 * origin-form targets are accepted; the query is ignored; "." and ".." segments, encoded
 * separators, NUL and other control characters, and malformed percent-encoding are refused.
 */
export function sitePath(target: string): SitePath {
  if (!target.startsWith("/")) return { ok: false, status: 400, reason: "not a path" };
  const end = target.search(/[?#]/);
  const raw = end < 0 ? target : target.slice(0, end);
  if (ENCODED_SEPARATOR.test(raw)) return { ok: false, status: 400, reason: "encoded separator" };
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return { ok: false, status: 400, reason: "bad percent-encoding" };
  }
  if (FORBIDDEN.test(path)) return { ok: false, status: 400, reason: "forbidden character" };
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..") {
      return { ok: false, status: 400, reason: "dot segment" };
    }
  }
  return { ok: true, path: path === "/" || SHARE_PATH.test(path) ? "/index.html" : path };
}

/** The encodings a request accepts, by q-value (RFC 9110 §12.5.3); "*" covers the unnamed. */
function acceptedEncoding(header: string | undefined, file: SiteFile): "br" | "gzip" | undefined {
  if (header === undefined || (file.br === undefined && file.gzip === undefined)) return undefined;
  const q = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith("q="));
    const value = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (name !== "") q.set(name, Number.isFinite(value) ? value : 0);
  }
  const weight = (name: string) => q.get(name) ?? q.get("*") ?? 0;
  const br = file.br !== undefined ? weight("br") : 0;
  const gz = file.gzip !== undefined ? Math.max(weight("gzip"), weight("x-gzip")) : 0;
  if (br > 0 && br >= gz) return "br";
  if (gz > 0) return "gzip";
  return undefined;
}

/** Whether If-None-Match names this ETag; the comparison is weak, as RFC 9110 §13.1.2 says. */
function notModified(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}

/** Serves a site snapshot; reloads it when index.html changes on disk (a rebuild). */
export class StaticSite {
  private reloading: Promise<Site> | undefined;

  private constructor(
    private site: Site,
    private readonly relaySources: readonly string[],
  ) {}

  /**
   * Loads the page under `root`; throws when it holds no index.html. `relaySources`: the maps'
   * other relays, which the page's CSP must let it reach (headers.ts relayConnectSources).
   */
  static async load(root: string, relaySources: readonly string[] = []): Promise<StaticSite> {
    return new StaticSite(await loadSite(root), relaySources);
  }

  /** The directory served (symbolic links resolved). */
  get root(): string {
    return this.site.root;
  }

  /** The URL paths served, sorted. */
  get paths(): string[] {
    return [...this.site.files.keys()].sort();
  }

  /** Answers one request. Never throws; an unexpected failure is a 500. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.respond(req, res).catch(() => {
      if (!res.headersSent) this.plain(req, res, 500, "internal error");
      else res.destroy();
    });
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.plain(req, res, 405, "method not allowed", { Allow: "GET, HEAD" });
      return;
    }
    const target = sitePath(req.url ?? "");
    if (!target.ok) {
      this.plain(req, res, target.status, `bad request: ${target.reason}`);
      return;
    }
    // One stat per page load notices a rebuild; assets are never re-checked (their names change).
    if (target.path === "/index.html") await this.refresh();
    const file = this.site.files.get(target.path);
    if (file === undefined) {
      this.plain(req, res, 404, "not found");
      return;
    }
    const encoding = acceptedEncoding(header(req, "accept-encoding"), file);
    const rep: Representation =
      (encoding !== undefined ? file[encoding] : undefined) ?? file.identity;
    const headers: Record<string, string> = {
      ...securityHeaders(req.headers.host, this.relaySources),
      "Cache-Control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      ETag: rep.etag,
    };
    if (file.gzip !== undefined || file.br !== undefined) headers.Vary = "Accept-Encoding";
    if (notModified(header(req, "if-none-match"), rep.etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers["Content-Type"] = file.contentType;
    headers["Content-Length"] = String(rep.body.length);
    if (encoding !== undefined && rep !== file.identity) headers["Content-Encoding"] = encoding;
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : rep.body);
  }

  /** Reloads the snapshot when index.html changed; concurrent callers share one reload. */
  private async refresh(): Promise<void> {
    const stamp: FileStamp | undefined = await indexStamp(this.site.root);
    if (stamp === undefined || sameStamp(stamp, this.site.index)) return;
    this.reloading ??= loadSite(this.site.root).finally(() => {
      this.reloading = undefined;
    });
    try {
      this.site = await this.reloading;
    } catch {
      // Mid-rebuild (index.html gone again): keep serving the old snapshot.
    }
  }

  private plain(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    text: string,
    extra: Record<string, string> = {},
  ): void {
    const body = `${text}\n`;
    res.writeHead(status, {
      ...securityHeaders(req.headers.host, this.relaySources),
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": String(Buffer.byteLength(body)),
      "Cache-Control": "no-store",
      ...extra,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  }
}

/** A header's value; a repeated header (an array) counts as absent. */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}
